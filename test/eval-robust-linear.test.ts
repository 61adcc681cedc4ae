/**
 * RoCL's robust linear evaluation trains its head on PGD examples through the frozen encoder. The
 * attack must differentiate through the encoder: a stop-gradient on the encoder's output (there to
 * keep the head's training off the encoder) once sat inside the attack's model too, so PGD saw a zero
 * input gradient and the head was trained on the random start alone.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import { evaluation } from '../src/index.js';

type T = wg.Tensor;

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

describe('robustLinearEval', () => {
  it('trains its head on examples the attack moved (not on the start point)', async () => {
    const n = 16;
    const xs = Float32Array.from({ length: n * 4 }, (_, i) => 0.2 + 0.6 * ((i * 0.618) % 1));
    const images = wg.tensor(xs, { shape: [n, 4] });
    const labels = wg.tensor(Int32Array.from({ length: n }, (_, i) => i % 2), { shape: [n] });
    const seen: T[] = [];
    const recording = (x: T) => { seen.push(wg.keep(wg.copy(x))); return x; };
    const r = await evaluation.robustLinearEval(recording, { images, labels }, { images, labels }, {
      classes: 2, epochs: 1, batchSize: 8, trainAttack: { eps: 0.1, alpha: 0.05, steps: 2, randomStart: false }, evalLimit: 1,
    });
    // Among the encoder's inputs during training are the attacked batches: some differ from every clean row.
    let largest = 0;
    for (const t of seen) {
      if (t.shape[0] !== 8) continue;
      const v = await t.data() as Float32Array;
      for (let i = 0; i < 8; i++) {
        let best = Infinity;
        for (let row = 0; row < n; row++) {
          let d = 0;
          for (let j = 0; j < 4; j++) d = Math.max(d, Math.abs(v[i * 4 + j] - xs[row * 4 + j]));
          best = Math.min(best, d);
        }
        largest = Math.max(largest, best);
      }
    }
    wg.dispose([...seen, r.head, images, labels]);
    expect(largest).toBeGreaterThan(0.05);
  });
});

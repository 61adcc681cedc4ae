/**
 * What the evaluations refuse (src/eval/finite.ts, src/eval/data.ts): non-finite images, features,
 * logits and parameters (a diverged run used to pass: a NaN probe of 33 %, a robust accuracy equal to
 * the clean one), labels outside [0, classes) (kNN dropped them from the vote, the linear head
 * trained on them), a bad `limit` and an empty dataset (accuracy returned total −5, NaN or 0); and
 * that nothing stays allocated when accuracy throws.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import { attacks, evaluation } from '../src/index.js';
import { nodeGpu } from '../src/backends/webgpu/node-gpu.js';

type T = wg.Tensor;

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

/** n examples of 4 inputs in [0.1, 0.9], labels i % 3; `bad` rows get a NaN (or `value`). */
function data(n = 12, bad: number[] = [], value = NaN) {
  const xs = Float32Array.from({ length: n * 4 }, (_, i) => 0.1 + 0.8 * ((i * 0.618) % 1));
  for (const r of bad) xs[r * 4 + 1] = value;
  return { images: wg.tensor(xs, { shape: [n, 4] }), labels: wg.tensor(Int32Array.from({ length: n }, (_, i) => i % 3), { shape: [n] }) };
}
const weights = (poison = false) => {
  const w = Float32Array.from({ length: 12 }, (_, i) => Math.cos(i));
  if (poison) w[0] = NaN;
  return wg.tensor(w, { shape: [4, 3] });
};
const linear = (w: T) => (x: T) => wg.matmul(x, w);
const withLabels = (d: ReturnType<typeof data>, labels: number[]) => ({ images: d.images, labels: wg.tensor(Int32Array.from(labels), { shape: [labels.length] }) });

describe('non-finite values are refused, naming the op, the count and the first row', () => {
  it('accuracy and robustAccuracy: images, logits (a NaN parameter), the attack output', async () => {
    await expect(evaluation.accuracy(linear(weights()), data(12, [6, 9]), { batchSize: 4 }))
      .rejects.toThrow(/^accuracy: 1 non-finite value \(NaN or ±∞\) in the images \(of 16\), the first in row 6$/);
    await expect(evaluation.accuracy(linear(weights(true)), data(), { batchSize: 5 }))
      .rejects.toThrow(/^accuracy: 5 non-finite values \(NaN or ±∞\) in the model's logits \(of 15\), the first in row 0$/);
    const d = data();
    const nanAttack: evaluation.Attack = (x) => wg.mul(x, NaN);
    await expect(evaluation.robustAccuracy(linear(weights()), d, nanAttack)).rejects.toThrow(/^robustAccuracy: 48 non-finite values \(NaN or ±∞\) in the attack's output \(of 48\), the first in row 0$/);
  });

  it('extractFeatures, trainLinearHead, knnPredict, knnAccuracy and robustLinearEval', async () => {
    const d = data(20, [13]);
    await expect(evaluation.extractFeatures((x) => x, d, { batchSize: 8 })).rejects.toThrow(/^extractFeatures: 1 non-finite value \(NaN or ±∞\) in the images \(of 32\), the first in row 13$/);
    const blowUp = (x: T) => wg.exp(wg.mul(x, 1000)); // exp(900) is ∞ in float32
    await expect(evaluation.extractFeatures(blowUp, data())).rejects.toThrow(/^extractFeatures: 48 non-finite values \(NaN or ±∞\) in the encoder's features/);
    const inf = data(12, [2], Infinity);
    await expect(evaluation.trainLinearHead(inf.images, inf.labels, { classes: 3, epochs: 1 })).rejects.toThrow(/^trainLinearHead: 1 non-finite value \(NaN or ±∞\) in the features \(of 48\), the first in row 2$/);
    const good = data(), bank = { features: good.images, labels: good.labels };
    await expect(evaluation.knnPredict(bank, inf.images, { classes: 3 })).rejects.toThrow(/^knnPredict: 1 non-finite value \(NaN or ±∞\) in the queries/);
    await expect(evaluation.knnAccuracy({ features: inf.images, labels: inf.labels }, bank, { classes: 3 })).rejects.toThrow(/^knnAccuracy: 1 non-finite value \(NaN or ±∞\) in the bank's features/);
    await expect(evaluation.knnAccuracy(bank, { features: inf.images, labels: inf.labels }, { classes: 3, batchSize: 5 })).rejects.toThrow(/^knnAccuracy: 1 non-finite value \(NaN or ±∞\) in the test features \(of 20\), the first in row 2$/);
    await expect(evaluation.robustLinearEval((x) => x, data(8, [3]), data(), { classes: 3, epochs: 1, batchSize: 4, trainAttack: { steps: 1 } }))
      .rejects.toThrow(/^robustLinearEval: 1 non-finite value \(NaN or ±∞\) in the images of batch \d \(epoch 1\)/);
  });

  it('checkFiniteTree names the leaves holding NaN or ±∞ (a checkpoint of a diverged run)', async () => {
    const tree = { layers: [{ w: wg.ones([2, 3]), b: wg.zeros([3]) }, { w: wg.tensor([[1, NaN], [Infinity, 0], [0, NaN]]), b: wg.zeros([2]) }], steps: wg.tensor([3], { dtype: 'int32' }) };
    await expect(evaluation.checkFiniteTree('load', "the checkpoint's parameters", tree))
      .rejects.toThrow(/^load: the checkpoint's parameters hold non-finite values \(NaN or ±∞\) in 1 of 4 float32 tensors \(layers\[1\]\.w \[3, 2\]: 3 of 6\)$/);
    await expect(evaluation.checkFiniteTree('load', 'params', { w: wg.ones([2]) })).resolves.toBeUndefined();
  });
});

describe('on WebGPU', () => {
  it('NaN and ±∞ are found by the kernels too (images, logits, an attack step)', async () => {
    await init({ backend: 'webgpu', gpu: nodeGpu() });
    try {
      await expect(evaluation.accuracy(linear(weights()), data(12, [6, 9]), { batchSize: 4 })).rejects.toThrow(/^accuracy: 1 non-finite value \(NaN or ±∞\) in the images \(of 16\), the first in row 6$/);
      await expect(evaluation.accuracy(linear(weights()), data(12, [10], -Infinity), { batchSize: 8 })).rejects.toThrow(/^accuracy: 1 non-finite value .* the first in row 10$/);
      const poisoned = linear(weights(true));
      const attack: evaluation.Attack = (x, y, k) => attacks.pgd(attacks.crossEntropy(poisoned, y), x, k, { steps: 2 });
      await expect(evaluation.robustAccuracy(poisoned, data(), attack)).rejects.toThrow(/^pgd: .*NaN.* at step 1 of 2/);
      expect((await evaluation.accuracy(linear(weights()), data())).total).toBe(12);
    } finally {
      await init({ backend: 'cpu' });
    }
  });
});

describe('labels outside [0, classes) are refused', () => {
  it('by kNN (which dropped them from the vote), the linear heads (which trained on them) and accuracy', async () => {
    const d = data(6);
    const bank = { features: d.images, labels: d.labels };
    const high = { features: d.images, labels: wg.tensor(Int32Array.from([0, 1, 2, 3, 0, 1]), { shape: [6] }) };
    await expect(evaluation.knnAccuracy(high, bank, { classes: 3 })).rejects.toThrow(/^knnAccuracy: the bank's labels must be in \[0, 3\) \(classes\), got 3 \(1 label out of range, the first in row 3\)$/);
    await expect(evaluation.knnAccuracy(bank, high, { classes: 3, batchSize: 2 })).rejects.toThrow(/^knnAccuracy: the test labels must be in \[0, 3\) \(classes\), got 3 \(1 label out of range, the first in row 3\)$/);
    await expect(evaluation.knnPredict(high, d.images, { classes: 3 })).rejects.toThrow(/^knnPredict: the bank's labels must be in \[0, 3\)/);
    await expect(evaluation.trainLinearHead(d.images, high.labels, { classes: 3, epochs: 1 })).rejects.toThrow(/^trainLinearHead: labels must be in \[0, 3\) \(classes\), got 3/);
    await expect(evaluation.trainLinearHead(d.images, wg.tensor(Int32Array.from([0, -1, 2, 0, 1, 2]), { shape: [6] }), { classes: 3, epochs: 1 })).rejects.toThrow(/got -1/);
    await expect(evaluation.robustLinearEval((x) => x, withLabels(d, [0, 1, 2, 5, 0, 1]), d, { classes: 3, epochs: 1, trainAttack: { steps: 1 } }))
      .rejects.toThrow(/^robustLinearEval: labels must be in \[0, 3\) \(classes\), got 5/);
  });
});

describe('limits and empty datasets', () => {
  it('a limit that is not an integer ≥ 1 and an empty set are errors (accuracy returned total −5, NaN or 0)', async () => {
    const d = data();
    const m = linear(weights());
    for (const limit of [-5, NaN, 0, 1.5]) {
      await expect(evaluation.accuracy(m, d, { limit })).rejects.toThrow(/^accuracy: limit must be an integer ≥ 1 \(or Infinity for all examples\)/);
      await expect(evaluation.extractFeatures(m, d, { limit })).rejects.toThrow(/^extractFeatures: limit must be/);
    }
    await expect(evaluation.robustLinearEval(m, d, d, { classes: 3, evalLimit: -1 })).rejects.toThrow(/^robustLinearEval: evalLimit must be an integer ≥ 1/);
    expect((await evaluation.accuracy(m, d, { limit: Infinity })).total).toBe(12);
    const empty = { images: wg.zeros([0, 4]), labels: wg.zeros([0], 'int32') };
    await expect(evaluation.accuracy(m, empty)).rejects.toThrow(/^accuracy: the dataset is empty$/);
    await expect(evaluation.extractFeatures(m, { size: 0, batch: () => { throw new Error('unused'); } })).rejects.toThrow(/^extractFeatures: the dataset is empty$/);
    await expect(evaluation.trainLinearHead(empty.images, empty.labels, { classes: 3 })).rejects.toThrow(/^trainLinearHead: the dataset is empty$/);
    await expect(evaluation.knnAccuracy({ features: empty.images, labels: empty.labels }, { features: d.images, labels: d.labels }, { classes: 3 })).rejects.toThrow(/^knnAccuracy: bank: the set is empty$/);
  });

  it('accuracy leaves nothing allocated when it throws (a bad label, NaN logits, a model or an attack that throws)', async () => {
    const d = data(12);
    const m = linear(weights());
    const throwing = (at: number) => {
      let calls = 0;
      return (x: T) => { if (++calls === at) throw new Error('model failed'); return m(x); };
    };
    const badLabels = withLabels(d, [0, 1, 2, 0, 1, 3, 0, 1, 2, 0, 1, 2]);
    const poisoned = linear(weights(true));
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      ['a label out of range in the second batch', () => evaluation.accuracy(m, badLabels, { batchSize: 4 }), /labels must be in \[0, 3\)/],
      ['NaN logits', () => evaluation.accuracy(poisoned, d, { batchSize: 4 }), /logits/],
      ['a model that throws on its second batch', () => evaluation.accuracy(throwing(2), d, { batchSize: 4 }), /model failed/],
      ['an attack that throws', () => evaluation.robustAccuracy(m, d, () => { throw new Error('attack failed'); }, { batchSize: 4 }), /attack failed/],
      ['an attack whose check fails', () => evaluation.robustAccuracy(m, d, (x, y, k) => attacks.pgd(attacks.crossEntropy(m, y), wg.sub(x, 5), k, { steps: 2 }), { batchSize: 4 }), /x must lie in the box/],
    ];
    // The first round warms up (the first calls cache constants); the second counts.
    for (const round of [1, 2]) {
      for (const [what, run, error] of cases) {
        const before = wg.memoryStats().tensors;
        await expect(run(), what).rejects.toThrow(error);
        if (round === 2) expect(wg.memoryStats().tensors, what).toBe(before);
      }
    }
  });
});

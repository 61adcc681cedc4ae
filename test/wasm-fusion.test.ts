/**
 * The wasm backend's elementwise fusion (src/backends/wasm/fusion.ts, fused.ts, ops.ts): random
 * programs of elementwise ops (with and without Wasm code), views and reductions give the CPU
 * reference's results bit for bit, specials included; a chain is one program; splat leaves;
 * arrays read by pending values live exactly as long as needed; the caps; size-0 and scalar shapes.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CpuBackend } from '../src/backends/cpu/backend.js';
import { WasmBackend } from '../src/backends/wasm/backend.js';
import { FusedPrograms } from '../src/backends/wasm/fused.js';
import { LazyValue, MAX_NODES, type WasmStorage } from '../src/backends/wasm/fusion.js';
import { Spares } from '../src/backends/wasm/spares.js';
import { mulberry32 } from '../src/core/random/mulberry.js';
import * as wg from '../src/index.js';
import { withBackend } from '../src/tensor/engine.js';
import { compareArrays, tidyOn as on, withSpecials } from './helpers/gpu.js';

type T = wg.Tensor;
const cpu = new CpuBackend();
const wasm = new WasmBackend();
const runs = vi.spyOn(FusedPrograms.prototype, 'run');
afterEach(() => runs.mockClear());

const UNARY: ((x: T) => T)[] = [
  (x) => wg.neg(x), (x) => wg.abs(x), (x) => wg.sign(x), (x) => wg.floor(x), (x) => wg.round(wg.mul(x, 2)),
  (x) => wg.sqrt(wg.abs(x)), (x) => wg.reciprocal(x),
  (x) => wg.tanh(x), // no Wasm code: realizes its input, runs the reference
  (x) => wg.cast(wg.cast(wg.mul(x, 3), 'int32'), 'float32'),
  (x) => wg.cast(wg.cast(x, 'bool'), 'float32'),
];
const BINARY: ((x: T, y: T) => T)[] = [
  (x, y) => wg.add(x, y), (x, y) => wg.sub(x, y), (x, y) => wg.mul(x, y), (x, y) => wg.div(x, y),
  (x, y) => wg.maximum(x, y), (x, y) => wg.minimum(x, 0),
  (x, y) => wg.where(wg.lessEqual(x, 0), 0, y), // relu's shape
  (x, y) => wg.where(wg.logicalOr(wg.greater(x, y), wg.equal(y, 1)), x, wg.mul(y, 0.5)),
];

type Step = { kind: number; i: number; j: number; k: number; axis: number };

/** Applies the steps to values of shape [a, b, c]; returns the last value. */
function runProgram(shape: number[], inputs: Float32Array[], steps: Step[]): T {
  const [a, b, c] = shape;
  const vals: T[] = inputs.map((d) => wg.tensor(d, { shape }));
  for (const s of steps) {
    const x = vals[s.i % vals.length];
    const y = vals[s.j % vals.length];
    const op = BINARY[s.k % BINARY.length];
    let r: T;
    switch (s.kind % 7) {
      case 0: r = UNARY[s.k % UNARY.length](x); break;
      case 1: r = op(x, y); break;
      case 2: r = wg.reshape(op(wg.reshape(x, [a * b, c]), wg.reshape(y, [a * b, c])), shape); break;
      case 3: r = op(wg.flip(x, [s.axis % 3]), y); break;
      case 4: r = wg.add(x, wg.slice(y, [{ start: 0, stop: 1 }])); break; // a broadcast read
      case 5: r = wg.transpose(UNARY[s.k % UNARY.length](wg.transpose(x))); break;
      default: r = wg.mul(x, wg.max(y, s.axis % 3, { keepdims: true }));
    }
    vals.push(r);
  }
  return vals[vals.length - 1];
}

const stepArb = fc.record({ kind: fc.nat(), i: fc.nat(), j: fc.nat(), k: fc.nat(), axis: fc.nat() });

describe('wasm elementwise fusion', () => {
  it('random programs of ops, views and reductions are bit-exact with the CPU reference (NaN, ±∞, −0)', async () => {
    const arb = fc.tuple(
      fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 30 })),
      fc.integer({ min: 1, max: 1e6 }),
      fc.array(stepArb, { minLength: 1, maxLength: 16 }),
    );
    await fc.assert(fc.asyncProperty(arb, async ([shape, seed, steps]) => {
      const n = shape[0] * shape[1] * shape[2];
      const rand = mulberry32(seed);
      const inputs = [0, 1].map((k) => {
        const gen = withSpecials(() => Math.round((rand() * 4 - 2) * 4) / 4, seed + k);
        return Float32Array.from({ length: n }, (_, i) => gen(i));
      });
      const want = on(cpu, () => runProgram(shape, inputs, steps));
      const got = on(wasm, () => runProgram(shape, inputs, steps));
      compareArrays(await got.data(), await want.data(), { exact: true, signedZeros: true }, JSON.stringify({ shape, steps }));
      wg.dispose([want, got]);
    }), { numRuns: 80 });
  });

  it('a chain of elementwise ops is one program, run once when read', async () => {
    const f = () => {
      const x = wg.tensor(Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i)), { shape: [10, 100] });
      return wg.where(wg.lessEqual(x, 0), 0, wg.add(wg.mul(x, 2), 1));
    };
    const y = on(wasm, f);
    expect(runs).not.toHaveBeenCalled();
    compareArrays(await y.data(), await on(cpu, f).data(), { exact: true, signedZeros: true }, 'chain');
    expect(runs).toHaveBeenCalledTimes(1);
  });

  it('splat leaves: scalars and one element broadcast from inside a larger array', async () => {
    const base = Float32Array.from({ length: 24 }, (_, i) => i - 7.5);
    const f = () => {
      const x = wg.tensor(base, { shape: [4, 6] });
      const one = wg.slice(x, [{ start: 2, stop: 3 }, { start: 5, stop: 6 }]); // [1, 1] at offset 17
      return wg.add(wg.mul(x, one), wg.where(wg.greater(x, 0), 3, -0));
    };
    compareArrays(await on(wasm, f).data(), await on(cpu, f).data(), { exact: true, signedZeros: true }, 'splats');
  });

  it('reductions of pending values read the program\'s result in place, through views (offsets, transposes, windows, > 4 axes)', async () => {
    const gen = withSpecials((i) => Math.round(Math.sin(i * 2.3 + 0.5) * 8) / 4, 5);
    const x = Float32Array.from({ length: 2 * 3 * 4 * 6 }, (_, i) => (i % 23 === 7 ? NaN : gen(i) || 0.5)); // specials but few NaNs
    const cases: ((v: T) => T)[] = [
      (v) => wg.sum(v, [1, 3]),
      (v) => wg.max(wg.reshape(v, [2, 3, 2, 2, 3, 2]), [3, 5]), // 2 × 2 windows: a max-pool
      (v) => wg.min(wg.transpose(v, [3, 1, 0, 2]), [0, 3]),
      (v) => wg.sum(wg.slice(v, [{ start: 1 }, {}, { start: 1, step: 2 }]), [2]), // an offset view
      (v) => wg.sum(wg.transpose(wg.reshape(v, [2, 3, 2, 2, 3, 2]), [5, 3, 1, 4, 2, 0]), [1, 4]), // kept axes beyond the kernel's 4
    ];
    for (const [i, reduce] of cases.entries()) {
      const f = () => reduce(wg.where(wg.lessEqual(wg.tensor(x, { shape: [2, 3, 4, 6] }), 0), 0, wg.mul(wg.tensor(x, { shape: [2, 3, 4, 6] }), 3)));
      compareArrays(await on(wasm, f).data(), await on(cpu, f).data(), { exact: true, signedZeros: true }, `reduction ${i}`);
    }
  });

  it('leaves broadcast along their innermost axes (repeated 2, 4, 8 times: compact copies; 3, 6: dense) through strided views', async () => {
    const cases = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 7 }), fc.constantFrom(1, 2, 3, 4, 6, 8), fc.constantFrom(1, 2), fc.nat());
    await fc.assert(fc.asyncProperty(cases, async ([a, b, r, split, seed]) => {
      const gen = withSpecials((i) => Math.round(Math.sin(i * 1.7 + seed) * 8) / 4, seed);
      const f = () => {
        const big = wg.tensor(Float32Array.from({ length: a * b * r }, (_, i) => gen(i + 1000)), { shape: [a, b, r] });
        // small: [b, a] transposed (strided) and flipped, read as [a, b, 1] and broadcast over r
        // (as [a, b, split, r / split] where r splits, so two broadcast axes make up the repeat).
        const small = wg.flip(wg.transpose(wg.tensor(Float32Array.from({ length: a * b }, (_, i) => gen(i)), { shape: [b, a] })), [1]);
        const wide = r % split === 0 ? wg.reshape(wg.broadcastTo(wg.reshape(small, [a, b, 1, 1]), [a, b, split, r / split]), [a, b, r]) : wg.broadcastTo(wg.reshape(small, [a, b, 1]), [a, b, r]);
        return wg.where(wg.greater(big, 0), wg.mul(big, wide), wg.sub(wide, 1));
      };
      compareArrays(await on(wasm, f).data(), await on(cpu, f).data(), { exact: true, signedZeros: true }, JSON.stringify({ a, b, r, split }));
    }), { numRuns: 40 });
  });

  it('size-0 and scalar shapes', async () => {
    for (const shape of [[0], [3, 0, 2], []]) {
      const n = shape.reduce((p, d) => p * d, 1);
      const f = () => wg.where(wg.less(wg.tensor(new Float32Array(n).fill(-0), { shape }), 1), wg.neg(wg.tensor(new Float32Array(n).fill(2), { shape })), 0);
      const got = on(wasm, f);
      expect(got.shape).toEqual(shape);
      compareArrays(await got.data(), await on(cpu, f).data(), { exact: true, signedZeros: true }, JSON.stringify(shape));
    }
  });

  it('an array released by the front end stays alive while a pending value reads it, then is freed', async () => {
    const before = wasm.memory();
    const x = wasm.upload(Float32Array.of(1, -2, 3), 'float32');
    const view = { storage: x, dtype: 'float32' as const, shape: [3], strides: [1], offset: 0 };
    const y = wasm.run('neg', [view], {}, { shape: [3], dtype: 'float32' });
    expect(y).toBeInstanceOf(LazyValue);
    wasm.release(x);
    expect(wasm.memory().liveBuffers).toBe(before.liveBuffers + 2); // x (held by y) and y
    expect(Array.from(await wasm.read({ ...view, storage: y }))).toEqual([-1, 2, -3]);
    expect(wasm.memory().liveBuffers).toBe(before.liveBuffers + 1); // y's array; x let go
    wasm.release(y);
    expect(wasm.memory()).toEqual(before);
    expect(() => wasm.release(y)).toThrow('released twice');
  });

  it('a value released before anything needs it is never computed', async () => {
    const x = wasm.upload(Float32Array.of(1, 2), 'float32');
    const view = { storage: x, dtype: 'float32' as const, shape: [2], strides: [1], offset: 0 };
    wasm.release(wasm.run('abs', [view], {}, { shape: [2], dtype: 'float32' }));
    wasm.release(x);
    await wasm.sync();
    expect(runs).not.toHaveBeenCalled();
  });

  it(`a long chain is cut into programs of at most ${MAX_NODES} ops, with the same result`, async () => {
    const f = () => {
      let v = wg.tensor(Float32Array.from({ length: 37 }, (_, i) => i / 7), { shape: [37] });
      for (let i = 0; i < 100; i++) v = wg.add(wg.mul(v, 0.75), i % 3);
      return v;
    };
    compareArrays(await on(wasm, f).data(), await on(cpu, f).data(), { exact: true }, 'chain of 200 ops');
    expect(runs.mock.calls.length).toBeGreaterThanOrEqual(Math.ceil(200 / MAX_NODES));
    for (const [, , root] of runs.mock.calls) expect(root.size).toBeLessThanOrEqual(MAX_NODES);
  });

  it('released arrays are recycled as later results of the same type and length (spares)', async () => {
    const b = new WasmBackend();
    const n = 5000;
    const view = (storage: WasmStorage) => ({ storage, dtype: 'float32' as const, shape: [n], strides: [1], offset: 0 });
    const x = b.upload(Float32Array.from({ length: n }, (_, i) => i), 'float32');
    const y = b.run('neg', [view(x)], {}, { shape: [n], dtype: 'float32' });
    const yArray = b['fusion'].concrete(view(y)).storage.data;
    b.release(y);
    expect(b.memory().pooledBuffers).toBe(2); // the arena and y's array
    const z = b.run('abs', [view(x)], {}, { shape: [n], dtype: 'float32' });
    const zArray = b['fusion'].concrete(view(z)).storage.data;
    expect(zArray).toBe(yArray);
    expect(Array.from(await b.read(view(z))).slice(0, 3)).toEqual([0, 1, 2]);
    expect(b.memory().pooledBuffers).toBe(1);
    b.release(z);
    b.release(x);
    expect(b.memory()).toMatchObject({ liveBuffers: 0, pooledBuffers: 3, pooledBytes: b['arena'].bytes + 2 * 4 * n });
  });

  it('a training-like loop over large arrays (fused values, spares in use) holds live and pooled memory flat', async () => {
    const b = new WasmBackend();
    const w = withBackend(b, () => wg.keep(wg.tensor(Float32Array.from({ length: 128 * 64 }, (_, i) => Math.sin(i) / 8), { shape: [128, 64] })));
    const x = withBackend(b, () => wg.keep(wg.tensor(Float32Array.from({ length: 64 * 128 }, (_, i) => Math.cos(i)), { shape: [64, 128] })));
    const samples: string[] = [];
    for (let step = 0; step < 8; step++) {
      const loss = on(b, () => {
        const g = wg.grad((v: T) => { const y = wg.matmul(x, v); return wg.sum(wg.where(wg.lessEqual(y, 0), 0, y)); })(w);
        return wg.sum(wg.mul(g, g));
      });
      await loss.data();
      loss.dispose();
      if (step >= 2) samples.push(JSON.stringify(b.memory()));
    }
    expect(b.memory().pooledBuffers).toBeGreaterThan(1); // spares were kept
    expect(new Set(samples).size, samples.join('\n')).toBe(1);
    wg.dispose([w, x]);
  });

  it('the spare pool keeps at most its byte budget, oldest arrays dropped first, and no small arrays', () => {
    const s = new Spares(3 * 4 * 4096);
    const arrays = Array.from({ length: 4 }, () => new Float32Array(4096));
    for (const a of arrays) s.put(a);
    s.put(new Float32Array(100));
    expect(s.count).toBe(3);
    expect(s.bytes).toBe(3 * 4 * 4096);
    const taken = [s.take(arrays[0]), s.take(arrays[0]), s.take(arrays[0]), s.take(arrays[0])];
    // The newest of the three kept first; arrays[0], the oldest, was dropped.
    [arrays[3], arrays[2], arrays[1], null].forEach((a, i) => expect(taken[i]).toBe(a));
    expect(s.take(new Int32Array(4096))).toBeNull();
  });

  it('reads and sync realize every pending value, so chains across steps do not grow', async () => {
    const m = on(wasm, () => wg.zeros([50]));
    let state = m;
    const samples: string[] = [];
    for (let step = 0; step < 12; step++) {
      const next = on(wasm, () => {
        const g = wg.tensor(Float32Array.from({ length: 50 }, (_, i) => Math.cos(i + step)), { shape: [50] });
        return wg.add(wg.mul(state, 0.9), wg.mul(g, 0.1));
      });
      if (state !== m) state.dispose();
      state = next;
      await withBackend(wasm, () => wg.sync());
      if (step >= 2) samples.push(JSON.stringify(wasm.memory()));
    }
    expect(new Set(samples).size, samples.join('\n')).toBe(1);
    state.dispose();
    m.dispose();
  });
});

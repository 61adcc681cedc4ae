/**
 * Elementwise fusion (src/backends/webgpu/fusion.ts): random programs of elementwise ops mixed with
 * views (reshape, flips, broadcasts, transposes) and reductions of fused values give the CPU reference's
 * results; a chain becomes one dispatch; buffers read by unrealized values stay alive exactly as
 * long as needed; fusion off and on agree bit for bit.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { WebGpuBackend } from '../src/backends/webgpu/backend.js';
import { CpuBackend } from '../src/backends/cpu/backend.js';
import * as wg from '../src/index.js';
import { withBackend } from '../src/tensor/engine.js';
import { mulberry32 } from '../src/core/random/mulberry.js';
import { overrideElementwiseShape } from '../src/kernels/tuning-elementwise.js';
import { fusedAndUnfused, tidyOn as on, withDispatchKeys } from './helpers/gpu.js';

type T = wg.Tensor;
/** One program step: combines live values into a new one of the program's shape [a, b, c]. */
type Step = { kind: number; i: number; j: number; k: number; axis: number };

const UNARY: ((x: T) => T)[] = [
  (x) => wg.tanh(x),
  (x) => wg.neg(x),
  (x) => wg.abs(x),
  (x) => wg.sin(x),
  (x) => wg.exp(wg.tanh(x)),
  (x) => wg.sqrt(wg.add(wg.abs(x), 0.5)),
];
/**
 * Integer-valued steps (casts to int, floor, integer sums, argmax) of fused values. They read the
 * program's inputs, which both backends hold exactly (a float step's last-bit rounding could move a
 * floor across an integer), so their results must agree exactly: an off-by-one is a bug.
 */
const INTEGER: ((x: T, y: T, axis: number) => T)[] = [
  (x) => wg.cast(wg.cast(wg.mul(x, 3), 'int32'), 'float32'),
  (x) => wg.floor(wg.mul(x, 2)),
  (x, y, axis) => {
    const ints = wg.sum(wg.cast(wg.mul(y, 3), 'int32'), axis, { keepdims: true });
    const at = wg.argmax(wg.mul(y, -1), axis, { keepdims: true });
    return wg.add(wg.mul(x, 0), wg.cast(wg.add(ints, at), 'float32'));
  },
  (x, _, axis) => wg.add(wg.floor(x), wg.cast(wg.argmin(wg.cast(wg.mul(x, 4), 'int32'), axis, { keepdims: true }), 'float32')),
];
const BINARY: ((x: T, y: T) => T)[] = [
  (x, y) => wg.add(x, y),
  (x, y) => wg.sub(x, y),
  (x, y) => wg.mul(x, y),
  (x, y) => wg.maximum(x, y),
  (x, y) => wg.div(x, wg.add(wg.abs(y), 1)),
  (x, y) => wg.where(wg.greater(x, y), x, wg.mul(y, 0.5)),
];

/** Runs the program; returns its last value and the results of its integer-valued steps, stacked. */
function runProgram(shape: number[], inputs: Float32Array[], steps: Step[]): { out: T; ints: T | null } {
  const [a, b, c] = shape;
  const leaves: T[] = inputs.map((d) => wg.tensor(d, { shape }));
  const vals: T[] = [...leaves];
  const ints: T[] = [];
  for (const s of steps) {
    const x = vals[s.i % vals.length];
    const y = vals[s.j % vals.length];
    let r: T;
    switch (s.kind % 9) {
      case 0: r = UNARY[s.k % UNARY.length](x); break;
      case 1: r = BINARY[s.k % BINARY.length](x, y); break;
      // Through a reshape: the leaves of one kernel have different shapes.
      case 2: r = wg.reshape(BINARY[s.k % BINARY.length](wg.reshape(x, [a * b, c]), wg.reshape(y, [a * b, c])), shape); break;
      // A flipped (negative-stride) view of a possibly unrealized value.
      case 3: r = BINARY[s.k % BINARY.length](wg.flip(x, [s.axis % 3]), y); break;
      // A broadcast row of a value, and a transpose in and out.
      case 4: r = wg.add(x, wg.slice(y, [{ start: 0, stop: 1 }])); break;
      case 5: r = wg.transpose(UNARY[s.k % UNARY.length](wg.transpose(x))); break;
      // Reductions of unrealized values (the reduce kernel evaluates the expression), broadcast back.
      case 6: r = wg.mul(x, wg.mean(y, s.axis % 3, { keepdims: true })); break;
      case 7: r = wg.add(x, wg.reshape(wg.max(wg.transpose(wg.exp(wg.tanh(y))), [0, 1]), [a, 1, 1])); break;
      // Integer-valued steps (int casts, floor, integer reductions, argmax/argmin) of fused values of the inputs.
      default: {
        r = INTEGER[s.k % INTEGER.length](leaves[s.i % 2], leaves[s.j % 2], s.axis % 3);
        ints.push(r);
      }
    }
    vals.push(r);
  }
  return { out: vals[vals.length - 1], ints: ints.length ? wg.stack(ints) : null };
}

const stepArb = fc.record({ kind: fc.nat(), i: fc.nat(), j: fc.nat(), k: fc.nat(), axis: fc.nat() });

describe('elementwise fusion on WebGPU', () => {
  let gpu: WebGpuBackend;
  let unfused: WebGpuBackend;
  const cpu = new CpuBackend();
  beforeAll(async () => {
    ({ gpu, unfused } = await fusedAndUnfused());
  });

  it('random programs of fused ops, views and reductions match the CPU reference', async () => {
    const arb = fc.tuple(
      fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 40 })),
      fc.integer({ min: 1, max: 1e6 }),
      fc.array(stepArb, { minLength: 1, maxLength: 14 }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ([shape, seed, steps]) => {
        const n = shape[0] * shape[1] * shape[2];
        const rand = mulberry32(seed);
        const inputs = [0, 1].map(() => Float32Array.from({ length: n }, () => rand() * 4 - 2));
        const want = on(cpu, () => runProgram(shape, inputs, steps));
        const got = on(gpu, () => runProgram(shape, inputs, steps));
        const [wantOut, gotOut] = [await want.out.data(), await got.out.data()];
        for (let q = 0; q < n; q++) {
          const tol = 1e-4 * Math.max(1, Math.abs(wantOut[q]));
          if (!(Math.abs(gotOut[q] - wantOut[q]) <= tol)) expect.fail(`output[${q}]: WebGPU ${gotOut[q]}, CPU ${wantOut[q]}`);
        }
        // Integer-valued steps: exactly equal.
        if (want.ints) expect(Array.from(await got.ints!.data())).toEqual(Array.from(await want.ints.data()));
        wg.dispose([want, got]);
      }),
      { numRuns: 25 },
    );
  });

  it('random programs match the CPU reference in other kernel shapes (consecutive units, chunks that divide nothing)', async () => {
    // Reshapes in a chain give a kernel several leaf groups, each walked on its own.
    const shapes = [{ lanes: 4, perLane: 3, layout: 'blocked' as const }, { lanes: 2, perLane: 5, layout: 'strided' as const }];
    try {
      for (const s of shapes) {
        overrideElementwiseShape(gpu.runtime.device, s);
        await fc.assert(
          fc.asyncProperty(
            fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 40 })),
            fc.integer({ min: 1, max: 1e6 }),
            fc.array(stepArb, { minLength: 1, maxLength: 10 }),
            async (shape, seed, steps) => {
              const n = shape[0] * shape[1] * shape[2];
              const rand = mulberry32(seed);
              const inputs = [0, 1].map(() => Float32Array.from({ length: n }, () => rand() * 4 - 2));
              const want = await on(cpu, () => runProgram(shape, inputs, steps).out).data();
              const y = on(gpu, () => runProgram(shape, inputs, steps).out);
              const got = await y.data();
              y.dispose();
              for (let q = 0; q < n; q++) {
                if (!(Math.abs(got[q] - want[q]) <= 1e-4 * Math.max(1, Math.abs(want[q])))) expect.fail(`${JSON.stringify(s)} output[${q}]: WebGPU ${got[q]}, CPU ${want[q]}`);
              }
            },
          ),
          { numRuns: 8 },
        );
      }
    } finally {
      overrideElementwiseShape(gpu.runtime.device, undefined);
    }
  });

  it('vec4 paths (vector, splat and scalar leaf loads; split long rows; NaN) match the CPU reference', async () => {
    const keys = await withDispatchKeys(gpu, async (keys) => {
      const rand = mulberry32(7);
      const xs = Float32Array.from({ length: 6 * 8 * 12 }, () => rand() * 4 - 2);
      const long = Float32Array.from({ length: 3 * 20000 }, () => rand() * 2 - 1);
      long[3 * 20000 - 5] = NaN;
      const cases: [string, () => T][] = [
        // 'v' (x), 's' (row max), 'v' with an outer broadcast (a [12] row vector), then row sums.
        ['softmax + bias', () => wg.add(wg.nn.softmax(wg.tensor(xs, { shape: [48, 12] }), -1), wg.tensor(xs.subarray(0, 12)))],
        // A transposed leaf: 4 scalar loads per index ('x').
        ['transpose leaf', () => wg.mul(wg.tensor(xs, { shape: [24, 24] }), wg.transpose(wg.exp(wg.tensor(xs, { shape: [24, 24] }))))],
        // A slice whose offset is not 4-aligned (scalar path for it), and a row-sum of a fused value.
        ['unaligned slice', () => wg.sum(wg.mul(wg.slice(wg.tensor(xs, { shape: [6, 96] }), [{}, { start: 1, stop: 89 }]), 2), -1)],
        ['sum over rows of 8', () => wg.sum(wg.tanh(wg.tensor(xs, { shape: [6, 8, 12] })), [0, 2])],
        // Few long rows: chunks plus a second pass; a NaN in the last chunk wins max.
        ['long rows', () => wg.concat([wg.sum(wg.tensor(long, { shape: [3, 20000] }), -1), wg.max(wg.tensor(long, { shape: [3, 20000] }), -1)], 0)],
        ['fused long rows', () => wg.min(wg.mul(wg.tensor(long.subarray(0, 40000), { shape: [40000] }), -1))],
      ];
      for (const [name, f] of cases) {
        const want = await on(cpu, f).data();
        const y = on(gpu, f);
        const got = await y.data();
        y.dispose();
        for (let q = 0; q < want.length; q++) {
          const ok = Number.isNaN(want[q]) ? Number.isNaN(got[q]) : Math.abs(got[q] - want[q]) <= 1e-4 * Math.max(1, Math.abs(want[q]));
          expect(ok, `${name}[${q}]: ${got[q]} vs ${want[q]}`).toBe(true);
        }
      }
      return keys;
    });
    // The paths above did run.
    expect(keys.some((k) => k.startsWith('ew:') && k.includes('w4') && k.includes('0v') && k.includes('s'))).toBe(true);
    expect(keys.some((k) => k.startsWith('ew:') && /\dx/.test(k))).toBe(true);
    expect(keys.some((k) => k.startsWith('red:') && k.includes(':vec4:') && k.includes('fx('))).toBe(true);
    expect(keys.some((k) => k.startsWith('red:max') && k.includes(':vec4:'))).toBe(true);
  });

  it('softmax is one dispatch (its max and Σ exp computed in the normalizing kernel, row-fused.ts) and matches the unfused result', async () => {
    const x = Float32Array.from({ length: 64 * 300 }, (_, i) => Math.sin(i * 0.37) * 5);
    const f = () => wg.nn.softmax(wg.tensor(x, { shape: [64, 300] }), -1);
    await gpu.sync();
    const d0 = gpu.runtime.stats.dispatches;
    const a = await on(gpu, f).data();
    expect(gpu.runtime.stats.dispatches - d0).toBe(1);
    const b = await on(unfused, f).data();
    for (let q = 0; q < a.length; q++) expect(Math.abs(a[q] - b[q])).toBeLessThan(1e-6 + 1e-5 * b[q]);
  });

  it('pooling a fused ReLU realizes it once (its windows would cost index math per element); its gradient walks the 2-element tile rows', async () => {
    const rand = mulberry32(11);
    const xs = Float32Array.from({ length: 4 * 8 * 12 * 12 }, () => Math.round((rand() * 4 - 2) * 8) / 8); // ties in windows
    const bias = Float32Array.from({ length: 8 }, () => rand() - 0.5);
    const f = () => {
      const pool = (x: T) => wg.nn.maxPool2d(wg.nn.relu(wg.add(x, wg.reshape(wg.tensor(bias), [8, 1, 1]))), { kernel: 2 });
      const [y, g] = wg.valueAndGrad((x: T) => wg.sum(wg.mul(pool(x), pool(x))))(wg.tensor(xs, { shape: [4, 8, 12, 12] }));
      return wg.concat([wg.reshape(y, [1]), wg.reshape(g, [-1])], 0);
    };
    const want = await on(cpu, f).data();
    const keys = await withDispatchKeys(gpu, async (keys) => {
      const got = await on(gpu, f).data();
      for (let q = 0; q < want.length; q++) expect(Math.abs(got[q] - want[q]), `[${q}]`).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(want[q])));
      return keys;
    });
    const pools = keys.filter((k) => k.startsWith('red:max'));
    expect(pools.length).toBeGreaterThan(0);
    expect(pools.every((k) => !k.includes('fx('))).toBe(true);
    // The gradient's tile-shaped expressions walk (W1, consecutive units) instead of indexing each element (I).
    const tiles = keys.filter((k) => k.startsWith('ew:') && k.includes('eq:'));
    expect(tiles.length).toBeGreaterThan(0);
    expect(tiles.every((k) => k.startsWith('ew:blocked') && !k.includes('I;'))).toBe(true);
  });

  it('groups with rows of 2 (pooling tiles beside a broadcast window value) run 4 elements at a time: vector, splat and offset loads', async () => {
    const rand = mulberry32(21);
    const xs = Float32Array.from({ length: 3 * 5 * 8 * 12 }, () => Math.round((rand() * 4 - 2) * 4) / 4);
    const longer = Float32Array.from({ length: xs.length + 4 }, () => rand() - 0.5);
    const tiles = (x: T) => wg.reshape(x, [3, 5, 4, 2, 6, 2]);
    const X = () => wg.tensor(xs, { shape: [3, 5, 8, 12] });
    const cases: [string, () => T][] = [
      // x contiguous ('v'), the window max broadcast over each 2×2 tile (offsets 0, 0, 1, 1: 'p').
      ['window mask', () => wg.cast(wg.equal(tiles(X()), wg.max(tiles(X()), [3, 5], { keepdims: true })), 'float32')],
      // A value constant over whole rows of tiles (splat), and a transposed leaf (general offsets).
      ['row splat', () => wg.mul(wg.mul(tiles(X()), wg.max(tiles(X()), [3, 5], { keepdims: true })), wg.sum(tiles(X()), [3, 4, 5], { keepdims: true }))],
      ['transposed', () => wg.add(wg.mul(tiles(X()), wg.max(tiles(X()), [3, 5], { keepdims: true })), wg.transpose(tiles(X()), [0, 1, 2, 5, 4, 3]))],
      // An offset that is not 4-aligned (a slice): offset loads instead of vec4.
      ['unaligned', () => wg.mul(wg.reshape(wg.slice(wg.tensor(longer), [{ start: 2, stop: 2 + xs.length }]), [3, 5, 4, 2, 6, 2]), wg.max(tiles(X()), [3, 5], { keepdims: true }))],
    ];
    for (const [name, f] of cases) {
      const want = await on(cpu, f).data();
      await withDispatchKeys(gpu, async (keys) => {
        const got = await on(gpu, f).data();
        for (let q = 0; q < want.length; q++) expect(Math.abs(got[q] - want[q]), `${name}[${q}]`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[q])));
        const ew = keys.filter((k) => k.startsWith('ew:') && k.includes('GP'));
        expect(ew.length, `${name}: ${keys.join(' | ')}`).toBeGreaterThan(0);
        expect(ew.every((k) => k.includes(':w4')), name).toBe(true);
      });
    }
  });

  it('pooling-tile expressions on random shapes (pair groups where the tile rows pair up, per element where not) match the CPU', async () => {
    await fc.assert(
      fc.asyncProperty(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 7 })), fc.nat(1000), async ([n, c, ho, wo], seed) => {
        const rand = mulberry32(seed);
        const xs = Float32Array.from({ length: n * c * 4 * ho * wo }, () => Math.round((rand() * 4 - 2) * 4) / 4);
        const f = () => {
          const t = wg.reshape(wg.tensor(xs, { shape: [n, c, 2 * ho, 2 * wo] }), [n, c, ho, 2, wo, 2]);
          const m = wg.max(t, [3, 5], { keepdims: true });
          return wg.add(wg.where(wg.equal(t, m), wg.mul(m, 2), 0), wg.transpose(t, [0, 1, 2, 5, 4, 3]));
        };
        const want = await on(cpu, f).data();
        const got = await on(gpu, f).data();
        for (let q = 0; q < want.length; q++) expect(Math.abs(got[q] - want[q]), `[${n},${c},${ho},${wo}] [${q}]`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[q])));
      }),
      { numRuns: 15 },
    );
  });

  it('a chain is one dispatch, and fusion off gives the same bits', async () => {
    const x = Float32Array.from({ length: 5000 }, (_, i) => Math.sin(i) * 3);
    const chain = () => wg.mul(wg.tanh(wg.add(wg.mul(wg.tensor(x), 1.5), 0.5)), wg.tensor(x));
    await gpu.sync();
    const d0 = gpu.runtime.stats.dispatches;
    const fused = on(gpu, chain);
    const a = await fused.data();
    expect(gpu.runtime.stats.dispatches - d0).toBe(1);
    const b = await on(unfused, chain).data();
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it('a value keeps the buffers it reads alive until realized; memory returns to its baseline', async () => {
    withBackend(gpu, () => wg.tidy(() => void wg.mul(wg.tensor([0]), 2))); // caches the constant 2 first
    await gpu.sync();
    const before = gpu.memory().liveBuffers;
    const { y, z } = on(gpu, () => {
      const x = wg.tensor([1, 2, 3, 4]);
      const y = wg.exp(wg.mul(x, 2));
      const z = wg.add(y, x);
      x.dispose(); // y and z still read x's buffer
      return { y, z };
    });
    expect(gpu.memory().liveBuffers).toBe(before + 1);
    const zs = await z.data();
    [1, 2, 3, 4].forEach((v, q) => expect(zs[q] / (Math.exp(2 * v) + v)).toBeCloseTo(1, 6));
    y.dispose();
    z.dispose();
    expect(gpu.memory().liveBuffers).toBe(before);
    // Unrealized values that are released never run.
    const d0 = gpu.runtime.stats.dispatches;
    withBackend(gpu, () => wg.tidy(() => void wg.tanh(wg.add(wg.tensor([1, 2]), 2))));
    await gpu.sync();
    expect(gpu.runtime.stats.dispatches - d0).toBe(0);
    expect(gpu.memory().liveBuffers).toBe(before);
  });
});

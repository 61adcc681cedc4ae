/**
 * Tests of the CPU reference backend (src/backends/cpu): hand-computed cases per primitive family,
 * strided / broadcast / flipped input views, size-0 and scalar shapes, the exact semantics listed in
 * the rule files' headers (integer division and mod, cast saturation, NaN handling, stable argsort),
 * the conv2d adjoint identities, and threefry known answers.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CpuBackend } from '../src/backends/cpu/backend.js';
import type { CpuStorage, CpuView } from '../src/backends/cpu/types.js';
import type { DType } from '../src/core/dtype.js';
import type { ComputePrim, Conv2dGeometry, PrimParams } from '../src/core/prims.js';
import { contiguousStrides, convOutSize, numel, unravel } from '../src/core/shape.js';
import { bitsToUniform, threefry2x32 } from '../src/core/random/threefry.js';

const cpu = new CpuBackend();
const cpu64 = new CpuBackend({ float64: true });

function storageFor(dtype: DType, values: number[], backend: CpuBackend): CpuStorage {
  const array =
    dtype === 'float32' ? (backend.float64 ? Float64Array.from(values) : Float32Array.from(values)) : dtype === 'int32' ? Int32Array.from(values) : Uint32Array.from(values);
  return backend.upload(array, dtype);
}

/** A contiguous view of `values` with `shape`. */
function tensor(values: number[], shape: number[], dtype: DType = 'float32', backend = cpu): CpuView {
  expect(values.length).toBe(numel(shape));
  return { storage: storageFor(dtype, values, backend), dtype, shape, strides: contiguousStrides(shape), offset: 0 };
}

/** An arbitrary strided view over `values` (no checks: the test states what it reads). */
function view(values: number[], shape: number[], strides: number[], offset: number, dtype: DType = 'float32'): CpuView {
  return { storage: storageFor(dtype, values, cpu), dtype, shape, strides, offset };
}

async function run<P extends ComputePrim>(
  prim: P,
  inputs: CpuView[],
  params: PrimParams[P],
  shape: number[],
  dtype: DType = 'float32',
  backend = cpu,
): Promise<number[]> {
  const storage = backend.run(prim, inputs, params, { shape, dtype });
  const values = await backend.read({ storage, dtype, shape, strides: contiguousStrides(shape), offset: 0 });
  backend.release(storage);
  return Array.from(values);
}

const f32 = (xs: number[]) => xs.map(Math.fround);
const range = (n: number, start = 0) => Array.from({ length: n }, (_, i) => start + i);

describe('backend object', () => {
  it('reports itself and counts live storage', () => {
    const b = new CpuBackend();
    expect(b.report.backend).toBe('cpu');
    expect(b.report.description).toBe('CPU reference (plain TypeScript)');
    expect(new CpuBackend({ float64: true }).report.description).toBe('CPU reference (plain TypeScript) float64');
    const s = b.upload(new Float32Array([1, 2, 3]), 'float32');
    const t = b.run('neg', [{ storage: s, dtype: 'float32', shape: [3], strides: [1], offset: 0 }], {}, { shape: [3], dtype: 'float32' });
    expect(b.memory()).toEqual({ liveBuffers: 2, liveBytes: 24, pooledBuffers: 0, pooledBytes: 0 });
    b.release(s);
    expect(b.memory().liveBuffers).toBe(1);
    expect(() => b.release(s)).toThrow(/release/);
    b.release(t);
    expect(b.memory()).toEqual({ liveBuffers: 0, liveBytes: 0, pooledBuffers: 0, pooledBytes: 0 });
  });

  it('stores dtypes in their arrays; float64 mode widens float32', async () => {
    expect(tensor([1.1], [1]).storage.data).toBeInstanceOf(Float32Array);
    expect(tensor([1.1], [1], 'float32', cpu64).storage.data).toBeInstanceOf(Float64Array);
    expect(tensor([1], [1], 'int32').storage.data).toBeInstanceOf(Int32Array);
    expect(tensor([1], [1], 'bool').storage.data).toBeInstanceOf(Uint32Array);
    expect(() => cpu.upload(new Float32Array(1), 'int32')).toThrow(/upload/);
    // float32 rounding vs float64.
    const a = tensor([0.1], [], 'float32', cpu64);
    const b = tensor([0.2], [], 'float32', cpu64);
    expect(await run('add', [a, b], {}, [], 'float32', cpu64)).toEqual([0.1 + 0.2]);
    expect(await run('add', [tensor([0.1], []), tensor([0.2], [])], {}, [])).toEqual([Math.fround(Math.fround(0.1) + Math.fround(0.2))]);
    cpu.flush();
    await cpu64.sync();
  });

  it('reads strided, broadcast, flipped and offset views in logical order', async () => {
    const data = range(6); // as [2, 3]: [[0,1,2],[3,4,5]]
    expect(Array.from(await cpu.read(view(data, [3, 2], [1, 3], 0)))).toEqual([0, 3, 1, 4, 2, 5]); // transpose
    expect(Array.from(await cpu.read(view(data, [2, 3], [0, 1], 3)))).toEqual([3, 4, 5, 3, 4, 5]); // broadcast row
    expect(Array.from(await cpu.read(view(data, [2, 3], [-3, -1], 5)))).toEqual([5, 4, 3, 2, 1, 0]); // flip both
    expect(Array.from(await cpu.read(view(data, [2], [2], 1)))).toEqual([1, 3]); // step-2 slice
    expect(Array.from(await cpu.read(view(data, [], [], 4)))).toEqual([4]); // scalar
    expect(Array.from(await cpu.read(view(data, [0, 3], [3, 1], 0)))).toEqual([]); // empty
  });
});

describe('strided views (property)', () => {
  it('copy of a permuted, flipped, broadcast view matches direct index arithmetic', async () => {
    const arb = fc
      .array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 4 })
      .chain((shape) =>
        fc.record({
          shape: fc.constant(shape),
          perm: fc.shuffledSubarray(shape.map((_, i) => i), { minLength: shape.length, maxLength: shape.length }),
          flips: fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
          expandTo: fc.integer({ min: 1, max: 3 }),
        }),
      );
    await fc.assert(
      fc.asyncProperty(arb, async ({ shape, perm, flips, expandTo }) => {
        const base = contiguousStrides(shape);
        const data = range(numel(shape), 100);
        // Flip axes (negative stride, offset at the last element along the axis), then permute.
        let offset = 0;
        const strides = base.map((st, i) => {
          if (!flips[i] || shape[i] === 0) return st;
          offset += (shape[i] - 1) * st;
          return -st;
        });
        const vShape = [...perm.map((p) => shape[p])];
        const vStrides = perm.map((p) => strides[p]);
        // Broadcast a new leading axis of size `expandTo` (stride 0).
        const outShape = [expandTo, ...vShape];
        const v = view(data, vShape, vStrides, offset);
        const got = await run('copy', [v], {}, outShape);
        const idx: number[] = [];
        const expected = range(numel(outShape)).map((flat) => {
          unravel(flat, outShape, idx);
          const pos = idx.slice(1).reduce((acc, k, d) => acc + k * vStrides[d], offset);
          return data[pos];
        });
        expect(got).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});

describe('elementwise', () => {
  it('unary float ops', async () => {
    const x = tensor([-1.5, -0.5, 0, 0.5, 1.5, 2.5], [6]);
    expect(await run('neg', [x], {}, [6])).toEqual([1.5, 0.5, -0, -0.5, -1.5, -2.5]);
    expect(await run('abs', [x], {}, [6])).toEqual([1.5, 0.5, 0, 0.5, 1.5, 2.5]);
    expect(await run('sign', [x], {}, [6])).toEqual([-1, -1, 0, 1, 1, 1]);
    expect(await run('round', [x], {}, [6])).toEqual([-2, -0, 0, 0, 2, 2]);
    expect(await run('floor', [x], {}, [6])).toEqual([-2, -1, 0, 0, 1, 2]);
    expect(await run('ceil', [x], {}, [6])).toEqual([-1, -0, 0, 1, 2, 3]);
    expect(await run('logicalNot', [x], {}, [6], 'bool')).toEqual([0, 0, 1, 0, 0, 0]);
    expect(await run('copy', [x], {}, [6])).toEqual([-1.5, -0.5, 0, 0.5, 1.5, 2.5]);
    const y = tensor([0.25, 1, 4], [3]);
    expect(await run('sqrt', [y], {}, [3])).toEqual([0.5, 1, 2]);
    expect(await run('rsqrt', [y], {}, [3])).toEqual([2, 1, 0.5]);
    expect(await run('reciprocal', [y], {}, [3])).toEqual([4, 1, 0.25]);
    expect(await run('exp', [y], {}, [3])).toEqual(f32([Math.exp(0.25), Math.E, Math.exp(4)]));
    expect(await run('log', [y], {}, [3])).toEqual(f32([Math.log(0.25), 0, Math.log(4)]));
    expect(await run('log1p', [y], {}, [3])).toEqual(f32([Math.log1p(0.25), Math.log1p(1), Math.log1p(4)]));
    expect(await run('expm1', [y], {}, [3])).toEqual(f32([Math.expm1(0.25), Math.expm1(1), Math.expm1(4)]));
    expect(await run('sin', [y], {}, [3])).toEqual(f32([Math.sin(0.25), Math.sin(1), Math.sin(4)]));
    expect(await run('cos', [y], {}, [3])).toEqual(f32([Math.cos(0.25), Math.cos(1), Math.cos(4)]));
    expect(await run('tanh', [y], {}, [3])).toEqual(f32([Math.tanh(0.25), Math.tanh(1), Math.tanh(4)]));
    expect(await run('sign', [tensor([NaN], [1])], {}, [1])).toEqual([NaN]);
  });

  it('unary int ops wrap', async () => {
    const x = tensor([-2147483648, -3, 0, 7], [4], 'int32');
    expect(await run('neg', [x], {}, [4], 'int32')).toEqual([-2147483648, 3, 0, -7]);
    expect(await run('abs', [x], {}, [4], 'int32')).toEqual([-2147483648, 3, 0, 7]);
    expect(await run('sign', [x], {}, [4], 'int32')).toEqual([-1, -1, 0, 1]);
    expect(await run('logicalNot', [x], {}, [4], 'bool')).toEqual([0, 0, 1, 0]);
    expect(await run('neg', [tensor([1, 0], [2], 'uint32')], {}, [2], 'uint32')).toEqual([4294967295, 0]);
    expect(() => cpu.run('exp', [x], {}, { shape: [4], dtype: 'int32' })).toThrow(/exp/);
  });

  it('binary ops broadcast, including strided and flipped inputs', async () => {
    const col = tensor([10, 20], [2, 1]);
    const row = view([1, 2, 3], [3], [-1], 2); // [3, 2, 1]
    expect(await run('add', [col, row], {}, [2, 3])).toEqual([13, 12, 11, 23, 22, 21]);
    expect(await run('sub', [row, col], {}, [2, 3])).toEqual([-7, -8, -9, -17, -18, -19]);
    const scalar = tensor([2], []);
    expect(await run('mul', [scalar, col], {}, [2, 1])).toEqual([20, 40]);
    expect(await run('div', [col, scalar], {}, [2, 1])).toEqual([5, 10]);
    const a = tensor([1, NaN, 3, -0], [4]);
    const b = tensor([2, 1, 3, 0], [4]);
    expect(await run('maximum', [a, b], {}, [4])).toEqual([2, NaN, 3, 0]);
    expect(await run('minimum', [a, b], {}, [4])).toEqual([1, NaN, 3, -0]);
    expect(await run('eq', [a, b], {}, [4], 'bool')).toEqual([0, 0, 1, 1]);
    expect(await run('ne', [a, b], {}, [4], 'bool')).toEqual([1, 1, 0, 0]);
    expect(await run('lt', [a, b], {}, [4], 'bool')).toEqual([1, 0, 0, 0]);
    expect(await run('le', [a, b], {}, [4], 'bool')).toEqual([1, 0, 1, 1]);
    expect(await run('gt', [a, b], {}, [4], 'bool')).toEqual([0, 0, 0, 0]);
    expect(await run('ge', [a, b], {}, [4], 'bool')).toEqual([0, 0, 1, 1]);
    const p = tensor([1, 0, 1, 0], [4], 'bool');
    const q = tensor([1, 1, 0, 0], [4], 'bool');
    expect(await run('logicalAnd', [p, q], {}, [4], 'bool')).toEqual([1, 0, 0, 0]);
    expect(await run('logicalOr', [p, q], {}, [4], 'bool')).toEqual([1, 1, 1, 0]);
    // The logical ops take bool alone (core's BINARY_DOMAIN), on the backend as in the front end.
    expect(() => cpu.run('logicalAnd', [a, b], {}, { shape: [4], dtype: 'bool' })).toThrow(/logicalAnd: the operands must be bool, got float32 \[4\]/);
    expect(await run('add', [tensor([], [0]), tensor([1], [1])], {}, [0])).toEqual([]);
  });

  it('float pow and mod', async () => {
    const x = tensor([-2, -2, 0, 2, -8, NaN], [6]);
    const y = tensor([3, 0.5, 0, -1, 2, 0], [6]);
    expect(await run('pow', [x, y], {}, [6])).toEqual([-8, NaN, 1, 0.5, 64, 1]);
    const a = tensor([5, -5, 5, -5, 4, 1], [6]);
    const m = tensor([3, 3, -3, -3, 2, 0], [6]);
    expect(await run('mod', [a, m], {}, [6])).toEqual([2, 1, -1, -2, 0, NaN]);
    expect(await run('mod', [tensor([-4, 5.5], [2]), tensor([2, 2], [2])], {}, [2])).toEqual([0, 1.5]);
  });

  it('int32 arithmetic wraps, div and mod floor, x/0 = 0, x mod 0 = 0', async () => {
    const i = (xs: number[]) => tensor(xs, [xs.length], 'int32');
    const a = i([7, -7, 7, -7, 5, -2147483648, 2147483647]);
    const b = i([2, 2, -2, -2, 0, -1, 1]);
    expect(await run('div', [a, b], {}, [7], 'int32')).toEqual([3, -4, -4, 3, 0, -2147483648, 2147483647]);
    expect(await run('mod', [a, b], {}, [7], 'int32')).toEqual([1, 1, -1, -1, 0, 0, 0]);
    expect(await run('add', [a, b], {}, [7], 'int32')).toEqual([9, -5, 5, -9, 5, 2147483647, -2147483648]);
    expect(await run('mul', [i([65536, -3]), i([65536, 5])], {}, [2], 'int32')).toEqual([0, -15]);
    expect(await run('sub', [i([-2147483648]), i([1])], {}, [1], 'int32')).toEqual([2147483647]);
    expect(await run('pow', [i([3, 2, 1, -1, -1, 2, 0, -3]), i([4, 31, -5, -3, -4, -1, 0, 3])], {}, [8], 'int32')).toEqual([
      81, -2147483648, 1, -1, 1, 0, 1, -27,
    ]);
    expect(await run('maximum', [i([-3, 4]), i([2, 1])], {}, [2], 'int32')).toEqual([2, 4]);
  });

  it('uint32 arithmetic wraps', async () => {
    const u = (xs: number[]) => tensor(xs, [xs.length], 'uint32');
    expect(await run('sub', [u([0]), u([1])], {}, [1], 'uint32')).toEqual([4294967295]);
    expect(await run('add', [u([4294967295]), u([2])], {}, [1], 'uint32')).toEqual([1]);
    expect(await run('mul', [u([4294967295]), u([4294967295])], {}, [1], 'uint32')).toEqual([1]);
    expect(await run('div', [u([4294967295, 9]), u([2, 0])], {}, [2], 'uint32')).toEqual([2147483647, 0]);
    expect(await run('mod', [u([4294967295, 9]), u([10, 0])], {}, [2], 'uint32')).toEqual([5, 0]);
    expect(await run('pow', [u([2, 3]), u([32, 3])], {}, [2], 'uint32')).toEqual([0, 27]);
    expect(await run('lt', [u([4294967295]), u([1])], {}, [1], 'bool')).toEqual([0]);
  });

  it('cast truncates, saturates and reinterprets', async () => {
    const x = tensor([1.9, -1.9, 3e9, -3e9, NaN, Infinity, -0.5], [7]);
    expect(await run('cast', [x], { dtype: 'int32' }, [7], 'int32')).toEqual([1, -1, 2147483647, -2147483648, 0, 2147483647, 0]);
    expect(await run('cast', [x], { dtype: 'uint32' }, [7], 'uint32')).toEqual([1, 0, 3e9, 0, 0, 4294967295, 0]);
    expect(await run('cast', [x], { dtype: 'bool' }, [7], 'bool')).toEqual([1, 1, 1, 1, 1, 1, 1]);
    expect(await run('cast', [tensor([-1, 5], [2], 'int32')], { dtype: 'uint32' }, [2], 'uint32')).toEqual([4294967295, 5]);
    expect(await run('cast', [tensor([4294967295], [1], 'uint32')], { dtype: 'int32' }, [1], 'int32')).toEqual([-1]);
    expect(await run('cast', [tensor([16777217, -3], [2], 'int32')], { dtype: 'float32' }, [2])).toEqual([16777216, -3]);
    expect(await run('cast', [tensor([0, 1], [2], 'bool')], { dtype: 'float32' }, [2])).toEqual([0, 1]);
    expect(await run('cast', [tensor([0, 7], [2], 'int32')], { dtype: 'bool' }, [2], 'bool')).toEqual([0, 1]);
  });

  it('where broadcasts all three inputs', async () => {
    const cond = tensor([1, 0, 1], [3], 'bool');
    const a = tensor([1, 2], [2, 1]);
    const b = tensor([-1], []);
    expect(await run('where', [cond, a, b], {}, [2, 3])).toEqual([1, -1, 1, 2, -1, 2]);
    const ai = tensor([5, 6, 7], [3], 'int32');
    expect(await run('where', [cond, ai, tensor([0], [], 'int32')], {}, [3], 'int32')).toEqual([5, 0, 7]);
  });
});

describe('reductions', () => {
  const x = tensor(range(24), [2, 3, 4]);
  it('sum / prod / max / min over axes', async () => {
    expect(await run('sum', [x], { axes: [0, 2] }, [3])).toEqual([
      0 + 1 + 2 + 3 + 12 + 13 + 14 + 15, 4 + 5 + 6 + 7 + 16 + 17 + 18 + 19, 8 + 9 + 10 + 11 + 20 + 21 + 22 + 23,
    ]);
    expect(await run('sum', [x], { axes: [0, 1, 2] }, [])).toEqual([276]);
    expect(await run('max', [x], { axes: [1] }, [2, 4])).toEqual([8, 9, 10, 11, 20, 21, 22, 23]);
    expect(await run('min', [x], { axes: [2] }, [2, 3])).toEqual([0, 4, 8, 12, 16, 20]);
    expect(await run('prod', [tensor([1, 2, 3, 4], [2, 2])], { axes: [1] }, [2])).toEqual([2, 12]);
    expect(await run('max', [tensor([1, NaN, 3], [3])], { axes: [0] }, [])).toEqual([NaN]);
  });

  it('reduces strided views (transposed and broadcast)', async () => {
    const t = view(range(6), [3, 2], [1, 3], 0); // transpose of [[0,1,2],[3,4,5]]
    expect(await run('sum', [t], { axes: [1] }, [3])).toEqual([3, 5, 7]);
    const bc = view([1, 2, 3], [4, 3], [0, 1], 0);
    expect(await run('sum', [bc], { axes: [0] }, [3])).toEqual([4, 8, 12]);
  });

  it('empty reductions and integer wrap', async () => {
    const empty = tensor([], [2, 0]);
    expect(await run('sum', [empty], { axes: [1] }, [2])).toEqual([0, 0]);
    expect(await run('prod', [empty], { axes: [1] }, [2])).toEqual([1, 1]);
    expect(await run('max', [empty], { axes: [1] }, [2])).toEqual([-Infinity, -Infinity]);
    expect(await run('min', [empty], { axes: [1] }, [2])).toEqual([Infinity, Infinity]);
    expect(await run('sum', [empty], { axes: [0] }, [0])).toEqual([]);
    const big = tensor([2147483647, 1, 5], [3], 'int32');
    expect(await run('sum', [big], { axes: [0] }, [], 'int32')).toEqual([-2147483643]);
    expect(await run('prod', [tensor([65536, 65536, 3], [3], 'int32')], { axes: [0] }, [], 'int32')).toEqual([0]);
    expect(await run('sum', [tensor([1, 0, 1, 1], [4], 'bool')], { axes: [0] }, [], 'uint32')).toEqual([3]);
  });

  it('argmax / argmin: first extreme, first NaN wins', async () => {
    const v = tensor([1, 3, 3, 0, 0, 2, 5, NaN, 1, NaN, -1, -1], [3, 4]);
    expect(await run('argmax', [v], { axes: [1] }, [3], 'int32')).toEqual([1, 3, 1]);
    expect(await run('argmin', [v], { axes: [1] }, [3], 'int32')).toEqual([3, 3, 1]);
    const w = tensor([4, 1, 4, 1, 0, 9], [3, 2]);
    expect(await run('argmax', [w], { axes: [0] }, [2], 'int32')).toEqual([0, 2]);
    expect(await run('argmin', [w], { axes: [0] }, [2], 'int32')).toEqual([2, 0]);
    expect(await run('argmax', [tensor([-5, 7, 7], [3], 'int32')], { axes: [0] }, [], 'int32')).toEqual([1]);
  });
});

describe('movement', () => {
  it('pad', async () => {
    const x = tensor([1, 2, 3, 4], [2, 2]);
    expect(await run('pad', [x], { widths: [[1, 0], [0, 2]], value: -1 }, [3, 4])).toEqual([
      -1, -1, -1, -1,
      1, 2, -1, -1,
      3, 4, -1, -1,
    ]);
    const flipped = view([1, 2, 3], [3], [-1], 2);
    expect(await run('pad', [flipped], { widths: [[2, 1]], value: 0 }, [6])).toEqual([0, 0, 3, 2, 1, 0]);
    expect(await run('pad', [tensor([], [0])], { widths: [[1, 1]], value: 7 }, [2])).toEqual([7, 7]);
    expect(await run('pad', [tensor([5], [], 'int32')], { widths: [], value: 0 }, [], 'int32')).toEqual([5]);
  });

  it('concat', async () => {
    const a = tensor([1, 2, 3, 4], [2, 2]);
    const b = tensor([5, 6], [2, 1]);
    const empty = tensor([], [2, 0]);
    expect(await run('concat', [a, empty, b], { axis: 1 }, [2, 3])).toEqual([1, 2, 5, 3, 4, 6]);
    expect(await run('concat', [a, view([9, 8], [1, 2], [1, -1], 1)], { axis: 0 }, [3, 2])).toEqual([1, 2, 3, 4, 8, 9]);
    expect(await run('concat', [tensor([1], [1], 'int32')], { axis: 0 }, [1], 'int32')).toEqual([1]);
  });
});

describe('gather / scatterAdd', () => {
  it('gather with out-of-range indices yielding 0', async () => {
    const x = tensor(range(6, 1), [2, 3]);
    const idx = tensor([2, -1, 0, 3], [2, 2], 'int32');
    expect(await run('gather', [x, idx], { axis: 1 }, [2, 2, 2])).toEqual([3, 0, 1, 0, 6, 0, 4, 0]);
    expect(await run('gather', [x, tensor([1, 1, 0], [3], 'int32')], { axis: 0 }, [3, 3])).toEqual([4, 5, 6, 4, 5, 6, 1, 2, 3]);
    expect(await run('gather', [x, tensor([1], [], 'int32')], { axis: 0 }, [3])).toEqual([4, 5, 6]);
  });

  it('scatterAdd accumulates duplicates and skips out-of-range', async () => {
    const updates = tensor([1, 2, 3, 4, 10, 20, 30, 40], [2, 4]);
    const idx = tensor([0, 2, 0, 5], [4], 'int32');
    expect(await run('scatterAdd', [updates, idx], { axis: 1, size: 3 }, [2, 3])).toEqual([4, 0, 2, 40, 0, 20]);
    const ui = tensor([2147483647, 1], [2], 'int32');
    expect(await run('scatterAdd', [ui, tensor([0, 0], [2], 'int32')], { axis: 0, size: 1 }, [1], 'int32')).toEqual([-2147483648]);
  });

  it('gather reads row-major views in place and strided ones through their strides', async () => {
    // rows 1..2 of a [4, 3] storage (offset 3; row-major: read in place), and its transpose's rows.
    const values = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const idx = tensor([1, 0, 1], [3], 'int32');
    expect(await run('gather', [view(values, [2, 3], [3, 1], 3), idx], { axis: 0 }, [3, 3])).toEqual([6, 7, 8, 3, 4, 5, 6, 7, 8]);
    expect(await run('gather', [view(values, [3, 4], [1, 3], 0), idx], { axis: 0 }, [3, 4])).toEqual([1, 4, 7, 10, 0, 3, 6, 9, 1, 4, 7, 10]);
    // size-1 axes with odd strides are still row-major
    expect(await run('gather', [view(values, [2, 1, 3], [3, 99, 1], 6), tensor([1], [1], 'int32')], { axis: 0 }, [1, 1, 3])).toEqual([9, 10, 11]);
  });

  it('scatterAdd is the adjoint of gather', async () => {
    const x = Array.from({ length: 4 * 5 * 3 }, (_, i) => Math.sin(i));
    const idx = [4, 0, 0, 7, 2, -1, 3, 3];
    const u = Array.from({ length: 4 * 8 * 3 }, (_, i) => Math.cos(i));
    const gx = await run('gather', [tensor(x, [4, 5, 3], 'float32', cpu64), tensor(idx, [2, 4], 'int32', cpu64)], { axis: 1 }, [4, 2, 4, 3], 'float32', cpu64);
    const su = await run('scatterAdd', [tensor(u, [4, 2, 4, 3], 'float32', cpu64), tensor(idx, [2, 4], 'int32', cpu64)], { axis: 1, size: 5 }, [4, 5, 3], 'float32', cpu64);
    const dot = (p: number[], q: number[]) => p.reduce((s, v, i) => s + v * q[i], 0);
    expect(dot(gx, u)).toBeCloseTo(dot(x, su), 10);
  });
});

describe('matmul', () => {
  it('small hand case and batch broadcasting', async () => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tensor([7, 8, 9, 10, 11, 12], [3, 2]);
    expect(await run('matmul', [a, b], {}, [2, 2])).toEqual([58, 64, 139, 154]);
    const batchA = tensor([1, 0, 0, 1, 2, 0, 0, 2], [2, 1, 2, 2]); // [I, 2I]
    const batchB = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [3, 2, 2]);
    const out = await run('matmul', [batchA, batchB], {}, [2, 3, 2, 2]);
    expect(out.slice(0, 12)).toEqual(range(12, 1));
    expect(out.slice(12)).toEqual(range(12, 1).map((v) => 2 * v));
    // Transposed (strided) operand and K = 0.
    const at = view([1, 4, 2, 5, 3, 6], [2, 3], [1, 2], 0);
    expect(await run('matmul', [at, b], {}, [2, 2])).toEqual([58, 64, 139, 154]);
    expect(await run('matmul', [tensor([], [2, 0]), tensor([], [0, 3])], {}, [2, 3])).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('large shapes against a naive dot product', async () => {
    const [M, K, N] = [300, 517, 129];
    const av = Array.from({ length: M * K }, (_, i) => Math.sin(i * 0.37));
    const bv = Array.from({ length: K * N }, (_, i) => Math.cos(i * 0.11));
    const af = f32(av), bf = f32(bv);
    const out = await run('matmul', [tensor(av, [M, K]), tensor(bv, [K, N])], {}, [M, N]);
    for (const [i, j] of [[0, 0], [299, 128], [150, 64], [17, 3]]) {
      let s = 0;
      for (let k = 0; k < K; k++) s += af[i * K + k] * bf[k * N + j];
      expect(out[i * N + j]).toBe(Math.fround(s));
    }
  });
});

describe('conv2d', () => {
  it('hand-computed case', async () => {
    // 1×1×3×3 input, 1×1×2×2 kernel of ones, stride 1, no padding: 2×2 window sums.
    const x = tensor(range(9, 1), [1, 1, 3, 3]);
    const w = tensor([1, 1, 1, 1], [1, 1, 2, 2]);
    const g: Conv2dGeometry = { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 };
    expect(await run('conv2d', [x, w], g, [1, 1, 2, 2])).toEqual([12, 16, 24, 28]);
    // Padding 1, stride 2: windows at (-1,-1), (-1,1), (1,-1), (1,1).
    const g2: Conv2dGeometry = { stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 1 };
    expect(await run('conv2d', [x, w], g2, [1, 1, 2, 2])).toEqual([1, 5, 11, 28]);
    // Two groups, one channel each: output channel o sees only input channel o.
    const x2 = tensor([1, 2, 3, 4, 10, 20, 30, 40], [1, 2, 2, 2]);
    const w2 = tensor([1, 0, 0, 0, 0, 0, 0, 1], [2, 1, 2, 2]);
    expect(await run('conv2d', [x2, w2], { ...g, groups: 2 }, [1, 2, 1, 1])).toEqual([1, 40]);
  });

  it('conv2dInputGrad and conv2dWeightGrad are the exact adjoints of conv2d', () => {
    const dot = (p: ArrayLike<number>, q: ArrayLike<number>) => {
      let s = 0;
      for (let i = 0; i < p.length; i++) s += p[i] * q[i];
      return s;
    };
    const geometry = fc.record({
      N: fc.integer({ min: 1, max: 2 }),
      groups: fc.integer({ min: 1, max: 2 }),
      cPerGroup: fc.integer({ min: 1, max: 2 }),
      oPerGroup: fc.integer({ min: 1, max: 2 }),
      H: fc.integer({ min: 1, max: 7 }),
      W: fc.integer({ min: 1, max: 7 }),
      kh: fc.integer({ min: 1, max: 3 }),
      kw: fc.integer({ min: 1, max: 3 }),
      sh: fc.integer({ min: 1, max: 3 }),
      sw: fc.integer({ min: 1, max: 3 }),
      ph: fc.integer({ min: 0, max: 2 }),
      pw: fc.integer({ min: 0, max: 2 }),
      dh: fc.integer({ min: 1, max: 2 }),
      dw: fc.integer({ min: 1, max: 2 }),
      seed: fc.integer({ min: 0, max: 1000 }),
    });
    fc.assert(
      fc.property(geometry, (p) => {
        const Ho = convOutSize(p.H, p.kh, p.sh, p.ph, p.dh);
        const Wo = convOutSize(p.W, p.kw, p.sw, p.pw, p.dw);
        fc.pre(Ho >= 1 && Wo >= 1);
        const C = p.cPerGroup * p.groups, O = p.oPerGroup * p.groups;
        const g: Conv2dGeometry = { stride: [p.sh, p.sw], padding: [p.ph, p.pw], dilation: [p.dh, p.dw], groups: p.groups };
        const noise = (n: number, salt: number) => Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + p.seed + salt));
        const xShape = [p.N, C, p.H, p.W], wShape = [O, p.cPerGroup, p.kh, p.kw], yShape = [p.N, O, Ho, Wo];
        const xv = noise(numel(xShape), 1), wv = noise(numel(wShape), 2), gyv = noise(numel(yShape), 3);
        const x = tensor(xv, xShape, 'float32', cpu64), w = tensor(wv, wShape, 'float32', cpu64);
        const gy = tensor(gyv, yShape, 'float32', cpu64);
        const y = cpu64.run('conv2d', [x, w], g, { shape: yShape, dtype: 'float32' });
        const gx = cpu64.run('conv2dInputGrad', [gy, w], { ...g, inputSize: [p.H, p.W] }, { shape: xShape, dtype: 'float32' });
        const gw = cpu64.run('conv2dWeightGrad', [x, gy], { ...g, kernelSize: [p.kh, p.kw] }, { shape: wShape, dtype: 'float32' });
        const viaY = dot(y.data, gy.storage.data), viaX = dot(x.storage.data, gx.data), viaW = dot(w.storage.data, gw.data);
        for (const s of [x.storage, w.storage, gy.storage, y, gx, gw]) cpu64.release(s);
        expect(viaX).toBeCloseTo(viaY, 9);
        expect(viaW).toBeCloseTo(viaY, 9);
      }),
      { numRuns: 150 },
    );
  });
});

describe('argsort', () => {
  it('is stable in both directions and puts NaN last ascending, first descending', async () => {
    const x = tensor([3, 1, NaN, 1, 3, 2, -Infinity, NaN], [8]);
    expect(await run('argsort', [x], { descending: false }, [8], 'int32')).toEqual([6, 1, 3, 5, 0, 4, 2, 7]);
    expect(await run('argsort', [x], { descending: true }, [8], 'int32')).toEqual([2, 7, 0, 4, 5, 1, 3, 6]);
  });

  it('sorts each row of the last axis of a strided view', async () => {
    const rows = view([5, 4, 6, 1, 2, 0], [2, 3], [1, 2], 0); // [[5, 6, 2], [4, 1, 0]]
    expect(await run('argsort', [rows], { descending: false }, [2, 3], 'int32')).toEqual([2, 0, 1, 2, 1, 0]);
    expect(await run('argsort', [tensor([7, 7, 7], [3], 'int32')], { descending: true }, [3], 'int32')).toEqual([0, 1, 2]);
    expect(await run('argsort', [tensor([4294967295, 0], [2], 'uint32')], { descending: false }, [2], 'int32')).toEqual([1, 0]);
    expect(await run('argsort', [tensor([1], [])], { descending: false }, [], 'int32')).toEqual([0]);
    expect(await run('argsort', [tensor([], [2, 0])], { descending: false }, [2, 0], 'int32')).toEqual([]);
  });
});

describe('random', () => {
  it('threefry known answers', () => {
    expect(threefry2x32(0, 0, 0, 0)).toEqual([0x6b200159, 0x99ba4efe]);
    expect(threefry2x32(0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3)).toEqual([0xc4923a9c, 0x483df7a0]);
  });

  it('bits and uniform streams follow threefry element by element', async () => {
    const key: [number, number] = [0x13198a2e, 0x03707344];
    const bits = await run('random', [], { key, shape: [2, 3], dist: 'bits' }, [2, 3], 'uint32');
    expect(bits).toEqual(range(6).map((i) => threefry2x32(key[0], key[1], i, 0)[0]));
    const zeroKey = await run('random', [], { key: [0, 0], shape: [1], dist: 'bits' }, [1], 'uint32');
    expect(zeroKey).toEqual([0x6b200159]);
    const uniform = await run('random', [], { key, shape: [1000], dist: 'uniform' }, [1000]);
    const uniform64 = await run('random', [], { key, shape: [1000], dist: 'uniform' }, [1000], 'float32', cpu64);
    expect(uniform64).toEqual(uniform);
    expect(uniform.slice(0, 6)).toEqual(bits.map(bitsToUniform));
    expect(Math.min(...uniform)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...uniform)).toBeLessThan(1);
    const mean = uniform.reduce((s, v) => s + v, 0) / uniform.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
    expect(await run('random', [], { key, shape: [0], dist: 'uniform' }, [0])).toEqual([]);
  });
});

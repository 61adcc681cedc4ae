/**
 * 2 × 2 window max / min on the wasm backend: the reduction nn.maxPool2d runs for its common case
 * (kernel 2, stride 2: the max over axes 3 and 5 of the image reshaped to [N, C, Ho, 2, Wo, 2]).
 *
 *   window2_<op>(src, out, rows, cols, rowStride, below)   out[r·cols + c] = op of the window whose
 *     top-left float is at src + r·rowStride + 8c (bytes), its right neighbour 4 bytes on, its lower
 *     row `below` bytes on.
 *
 * Why a kernel of its own: the general reduce loop nest (kernels-map.ts) spends an innermost loop
 * of 2 iterations, scalar, per window row. Here one f32x4 step does four windows: two loads take
 * the 8 consecutive floats of four windows' top rows, a shuffle splits them into left and right
 * elements, and op(op(left, right) top, op(left, right) bottom) is stored as four outputs; a scalar
 * tail does the last cols mod 4. The result equals the reference's left-to-right max / min: Wasm's
 * f32.max / f32.min (NaN if either is NaN, −0 < +0) are commutative and associative on values.
 */
import { I32, OP, SIMD, V128, type FunctionBuilder, type ModuleBuilder, type SimdOp } from './builder.js';

export const WINDOW_OPS = ['max', 'min'] as const;
type WindowOp = (typeof WINDOW_OPS)[number];

/** Bytes of lanes 0 and 2 (left elements), 1 and 3 (right elements) of two vectors a, b. */
const LEFT = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];
const RIGHT = LEFT.map((b) => b + 4);

/** Pushes op(left, right) of the four window rows at p (two loads, two shuffles). */
function rowPairs(f: FunctionBuilder, p: number, op: SimdOp, a: number, b: number): void {
  f.localGet(p).simd(SIMD.v128_load, { alignLog2: 2 }).localSet(a);
  f.localGet(p).simd(SIMD.v128_load, { offset: 16, alignLog2: 2 }).localSet(b);
  f.localGet(a).localGet(b).shuffle(LEFT).localGet(a).localGet(b).shuffle(RIGHT).simd(op);
}

function emitWindow(m: ModuleBuilder, op: WindowOp): void {
  const [vop, sop] = op === 'max' ? [SIMD.f32x4_max, OP.f32_max] : [SIMD.f32x4_min, OP.f32_min];
  m.function(`window2_${op}`, Array(6).fill(I32), [], (f) => {
    const [src, out, rows, cols, rowStride, below] = [0, 1, 2, 3, 4, 5];
    const [r, c, cols4, p, q, lower] = Array.from({ length: 6 }, () => f.local(I32));
    const [a, b] = [f.local(V128), f.local(V128)];
    f.localGet(cols).i32Const(~3).op(OP.i32_and).localSet(cols4);
    f.localGet(out).localSet(q);
    f.forRange(r, 0, rows, 1, () => {
      f.localGet(src).localGet(r).localGet(rowStride).op(OP.i32_mul).op(OP.i32_add).localSet(p);
      f.forRange(c, 0, cols4, 4, () => {
        f.localGet(q);
        rowPairs(f, p, vop, a, b);
        f.localGet(p).localGet(below).op(OP.i32_add).localSet(lower);
        rowPairs(f, lower, vop, a, b);
        f.simd(vop).simd(SIMD.v128_store, { alignLog2: 2 });
        f.localGet(p).i32Const(32).op(OP.i32_add).localSet(p);
        f.localGet(q).i32Const(16).op(OP.i32_add).localSet(q);
      });
      f.localGet(cols4).localSet(c);
      f.block(() => {
        f.localGet(c).localGet(cols).op(OP.i32_ge_s).brIf(0);
        f.loop(() => {
          f.localGet(q);
          f.localGet(p).mem(OP.f32_load).localGet(p).mem(OP.f32_load, 4).op(sop);
          f.localGet(p).localGet(below).op(OP.i32_add).localTee(lower).mem(OP.f32_load).localGet(lower).mem(OP.f32_load, 4).op(sop);
          f.op(sop).mem(OP.f32_store);
          f.localGet(p).i32Const(8).op(OP.i32_add).localSet(p);
          f.localGet(q).i32Const(4).op(OP.i32_add).localSet(q);
          f.localGet(c).i32Const(1).op(OP.i32_add).localTee(c).localGet(cols).op(OP.i32_lt_s).brIf(0);
        });
      });
    });
  });
}

/** Sizes and element strides of a group of axes (kernels-map.ts's Axes). */
interface Axes { sizes: readonly number[]; strides: readonly number[] }

export function emitWindows(m: ModuleBuilder): void {
  for (const op of WINDOW_OPS) emitWindow(m, op);
}

/**
 * The window2 call for a reduction over kept × reduced axes (element strides), or null where it is
 * not 2 × 2 windows of adjacent pairs: reduced sizes [2, 2] with the inner stride 1, at most two
 * kept axes, the inner one of stride 2.
 */
export function windowCall(kept: Axes, reduced: Axes): [rows: number, cols: number, rowStride: number, below: number] | null {
  const k = kept.sizes.length;
  const pairs = reduced.sizes.length === 2 && reduced.sizes[0] === 2 && reduced.sizes[1] === 2 && reduced.strides[1] === 1;
  if (!pairs || k === 0 || k > 2 || kept.strides[k - 1] !== 2) return null;
  return [k === 2 ? kept.sizes[0] : 1, kept.sizes[k - 1], k === 2 ? 4 * kept.strides[0] : 0, 4 * reduced.strides[0]];
}

/**
 * Reductions: sum / prod / max / min / argmax / argmin over arbitrary axes
 * (semantics: src/backends/cpu/reduce.ts).
 *
 * Layout: the input view is seen as [outer, reduced] through its strides — kept axes first (in
 * order; the output is row-major over them), reduced axes last (reduced in row-major order). Kept
 * and reduced axes are each merged where contiguous (`coalesce`), so e.g. a reduction over axes
 * (0, 2) of a transposed tensor costs no copy. Ranks, shapes and strides are uniforms; a row is
 * walked as (leading reduced axes) × (last reduced axis), so the inner loop is a plain strided walk.
 *
 * Shapes (workgroup lanes, vec4s per invocation, rows per invocation, when to split rows) come
 * from the adapter's tuning (tuning.ts): on a software rasterizer one SIMD chunk (8 lanes) per
 * workgroup and fat invocations, on a GPU 256-lane workgroups and thin ones.
 *
 * Strategies:
 *  - 'vec4' (value ops whose last merged reduced axis is contiguous with a multiple of 4 elements,
 *    all else 4-aligned: row sums, full sums, bias gradients over N, H, W): one invocation per
 *    output, or per chunk of its elements when there are too few outputs to fill the device (then a
 *    second pass over the [outer, G] partials), walking 4-aligned vec4 segments and folding one vec4
 *    load per 4 elements into 4 accumulators. lavapipe turns every non-constant load into a per-lane
 *    gather, so 4× fewer loads is what counts (docs/benchmarks.md#vec4-elementwise-and-reduction-kernels).
 *  - 'cols4' (value ops over strided axes whose last kept axis is contiguous, a multiple of 4:
 *    column sums, linear-layer bias gradients): 4 adjacent outputs per invocation, one vec4 load per
 *    reduced element, rows split into chunks like 'vec4'.
 *  - 'pairs4' (windows of rows of 2 contiguous elements side by side, 2 apart: 2×2 pooling):
 *    2 adjacent outputs per invocation from one vec4 per window row (2×2 max pooling of
 *    [256, 32, 28, 28] on lavapipe: see bench/results).
 *  - 'thread' (short rows, or ≥ 256 rows of ≤ 2048): one invocation per output element (several
 *    for short rows: 2×2 pooling tiles) walks its row. (On lavapipe far faster than a workgroup
 *    per row, the more so the shorter the rows; a subgroup per row was on par:
 *    docs/benchmarks.md#figures-behind-the-kernel-headers.)
 *  - 'group' (otherwise: few or very long rows): one workgroup per output element (or per chunk of a
 *    row, below); lane t folds elements t, t+L, ... then a shared-memory tree combines the L
 *    partials.
 *  - 'split' (sum/prod/max/min with few, very long rows): pass 1 runs the group kernel on G chunks
 *    of each row, writing [outer, G] partials; pass 2 reduces the partials with the same op.
 * Fused input: the values may come from an unrealized elementwise expression instead of a buffer
 * (`source`; the WebGPU backend's fusion): the kernel then calls the expression's WGSL function at
 * each address the view gives, so softmax's Σ exp(x − max) never writes exp(x − max) to memory —
 * where that is cheap (`readsSourceInPlace`); otherwise the backend realizes the value first.
 * Pipelines are keyed by (op, dtypes, strategy); ranks, shapes and strides are uniforms. Arg ops carry (value, index) pairs and combine them with a total
 * order — a NaN beats everything, then the better value, then the smaller index — so any
 * combination order gives the CPU's "first extreme, first NaN" answer. Integer sums and products
 * wrap (order independent); float sums accumulate in f32 in a different order than the CPU's f64:
 * compare with a tolerance. Empty rows give sum 0, prod 1, max -inf / min +inf (integer extremes
 * for ints), argmax/argmin 0.
 */
import type { OutputSpec } from '../core/backend.js';
import type { DType } from '../core/dtype.js';
import type { ReduceOp } from '../core/prims.js';
import { contiguousStrides, numel } from '../core/shape.js';
import { flatExpr, vec4Ready, wholeVec4 } from './elementwise.js';
import { libCode, type Kind } from './elementwise-ops.js';
import type { OpNode } from './expr.js';
import {
  cols4Body, combineHelpers, combineLib, groupBody, isArg, pairs4Body, reduceContext, threadBody, vec4Body, type Plan,
} from './reduce-bodies.js';
import type { GpuRuntime, GpuStorage, GpuView } from './runtime.js';
import { coalesce, storageDecl, Uniforms, wt } from './wgsl.js';
import { colChunks, reduceShapesFor, rowsPerLane, vec4Chunks } from './tuning.js';

const dtypeOfKind = (k: Kind): DType => (k === 'f32' ? 'float32' : k === 'i32' ? 'int32' : 'uint32');

/** Emits and dispatches one reduction kernel; returns the output (outer × G elements). */
function dispatchReduce(rt: GpuRuntime, plan: Plan): GpuStorage {
  const u = new Uniforms();
  const c = reduceContext(u, plan);
  const outer = numel(plan.keptShape);
  const n = outer * plan.G;
  const result = rt.alloc(n);
  const maxDim = rt.limits.maxComputeWorkgroupsPerDimension;
  const { body, workgroups, key: bodyKey = '' } =
    plan.strategy === 'vec4' ? vec4Body(u, c, plan, n, maxDim)
    : plan.strategy === 'cols4' ? cols4Body(u, c, plan, maxDim)
    : plan.strategy === 'pairs4' ? pairs4Body(u, c, plan, outer, maxDim)
    : plan.strategy === 'thread' ? threadBody(u, c, plan, outer, maxDim)
    : groupBody(c, plan, n, maxDim);
  const { fx, T } = c;
  const inputs = fx ? fx.buffers : [plan.x.storage as GpuStorage];
  const key = `red:${plan.op}:${T}>${plan.outKind}:${plan.strategy}:l${plan.lanes}:${c.addr.key},g${c.rcap}${bodyKey}${fx ? `:fx(${fx.key})` : ''}`;
  const srcType = plan.strategy === 'thread' || plan.strategy === 'group' ? T : `vec4<${T}>`;
  const code = () => `${u.decl()}
${fx ? `${fx.code}\n${libCode(fx.lib, combineHelpers(T))}` : storageDecl(1, 'src', srcType, true)}
${storageDecl(inputs.length + 1, 'dst', plan.strategy === 'pairs4' ? `vec2<${plan.outKind}>` : plan.outKind, false)}
${combineLib(c.arg, T)}
${body}`;
  rt.dispatch({ key, code, uniforms: u.buffer(), readOnly: inputs.length, workgroups }, [...inputs, result]);
  return result;
}

/**
 * Reduces `x` over `axes` (sorted, unique) into a fresh contiguous buffer of `out.dtype`. With
 * `source`, the values are that fused expression's instead of x's buffer (x gives the view).
 */
export function runReduce(rt: GpuRuntime, op: ReduceOp, x: GpuView, axes: readonly number[], out: OutputSpec, source?: OpNode): GpuStorage {
  const reduced = new Set(axes);
  const kept = x.shape.map((_, i) => i).filter((i) => !reduced.has(i));
  const keptShape = kept.map((a) => x.shape[a]);
  const redShape = axes.map((a) => x.shape[a]);
  const outer = numel(keptShape);
  const R = numel(redShape);
  const outKind = wt(out.dtype);
  if (outer === 0) return rt.alloc(0);
  const base = {
    op, x, keptShape, keptStrides: kept.map((a) => x.strides[a]), redShape, redStrides: axes.map((a) => x.strides[a]), outKind, source,
  };
  const shapes = reduceShapesFor(rt);
  if (vec4Rows(op, x, axes, kept, source)) {
    const G = vec4Chunks(outer, R / 4, shapes);
    const plan: Plan = { ...base, strategy: 'vec4', G, lanes: shapes.rowLanes, perLane: 1 };
    return G === 1 ? dispatchReduce(rt, plan) : twoPass(rt, plan, out);
  }
  if (cols4Ready(op, x, axes, kept, source)) {
    const plan: Plan = { ...base, strategy: 'cols4', G: colChunks(outer / 4, R, shapes), lanes: shapes.rowLanes, perLane: 1 };
    return plan.G === 1 ? dispatchReduce(rt, plan) : twoPass(rt, plan, out);
  }
  if (pairs4Ready(op, x, axes, kept, source)) {
    return dispatchReduce(rt, { ...base, strategy: 'pairs4', G: 1, lanes: shapes.rowLanes, perLane: rowsPerLane(outer / 2, 2 * R, shapes) });
  }
  // One invocation per row whenever there are enough rows to fill the device: on lavapipe this beats
  // a workgroup per row by far (no barriers, lanes of one SIMD chunk walk 8 rows side by side). Very
  // long rows keep the workgroup strategy unless there are many of them (a 256-row workgroup is
  // one task on one CPU thread).
  if (R <= 64 || (outer >= 256 && (R <= 2048 || outer >= 4096))) {
    return dispatchReduce(rt, { ...base, strategy: 'thread', G: 1, lanes: shapes.rowLanes, perLane: rowsPerLane(outer, R, shapes) });
  }
  const group = { ...base, strategy: 'group' as const, lanes: shapes.groupLanes, perLane: 1 };
  if (!isArg(op) && outer < 32 && R > 16384) return twoPass(rt, { ...group, G: Math.min(1024, Math.ceil(R / 8192)) }, out);
  return dispatchReduce(rt, { ...group, G: 1 });
}

/**
 * Whether reducing the fused expression `source` (geometry `x`) over `axes` should read it in place
 * — call it at every address — rather than have it realized into a buffer first. In place where its
 * addresses cost nothing per element: read 4 at a time as whole vec4s or splats ('vec4' rows,
 * 'cols4'; not pair groups or scalar gathers), or every leaf flat (offset + i · stride). Elsewhere (pooling windows, other strided reads of broadcast or reshaped
 * leaves) each element would pay a div/mod per merged axis per leaf group, and such values are
 * usually needed again (a ReLU output by its pooling's gradient, a pre-activation gradient by the
 * conv gradients): realizing them once cut the small CNN's reduction time per step several-fold
 * (docs/benchmarks.md#kernel-work-commit-by-commit).
 */
export function readsSourceInPlace(op: ReduceOp, x: GpuView, axes: readonly number[], source: OpNode): boolean {
  const reduced = new Set(axes);
  const kept = x.shape.map((_, i) => i).filter((i) => !reduced.has(i));
  if (source.rows) return false;
  return flatExpr(source) || (wholeVec4(source) && (vec4Rows(op, x, axes, kept, source) || cols4Ready(op, x, axes, kept, source)));
}

/**
 * Pass 1 reduces G chunks of each row into [outer, G] partials (in x's kind); pass 2 reduces
 * those with the same op (sum of sums, max of maxes, ...) into `out`.
 */
function twoPass(rt: GpuRuntime, plan: Plan, out: OutputSpec): GpuStorage {
  const k = wt(plan.x.dtype);
  const outer = numel(plan.keptShape);
  const partials = dispatchReduce(rt, { ...plan, outKind: k });
  const pview: GpuView = { storage: partials, dtype: dtypeOfKind(k), shape: [outer, plan.G], strides: contiguousStrides([outer, plan.G]), offset: 0 };
  const res = runReduce(rt, plan.op, pview, [1], out);
  rt.release(partials);
  return res;
}

/**
 * Whether the 'vec4' strategy applies: a value op (sum/prod/max/min) whose last merged reduced axis
 * is contiguous with a multiple of 4 elements and every other reduced and kept stride (and the
 * offset) a multiple of 4, so that each output's elements are 4-aligned vec4 segments of a buffer
 * bound as vec4s (or of a fused source that `vec4Ready` can evaluate 4 at a time). Rows are then read
 * with one vec4 load per 4 elements, faster than a scalar walk on lavapipe
 * (docs/benchmarks.md#vec4-elementwise-and-reduction-kernels).
 */
/**
 * Whether 'pairs4' applies: a value op over a realized buffer whose reduced axes merge into rows of
 * 2 contiguous elements (at most one more merged axis), whose kept axes merge into at most 2, the
 * last of even length with adjacent outputs' windows 2 apart, and every other stride and the
 * offset 4-aligned.
 */
function pairs4Ready(op: ReduceOp, x: GpuView, axes: readonly number[], kept: number[], source?: OpNode): boolean {
  if (isArg(op) || source || kept.length === 0 || (x.storage as GpuStorage).buffer.size % 16 !== 0 || x.offset % 4 !== 0) return false;
  const rc = coalesce(axes.map((a) => x.shape[a]), [axes.map((a) => x.strides[a])]);
  const kc = coalesce(kept.map((a) => x.shape[a]), [kept.map((a) => x.strides[a])]);
  const [rr, kr] = [rc.shape.length, kc.shape.length];
  if (rr === 0 || rc.shape[rr - 1] !== 2 || rc.strides[0][rr - 1] !== 1 || !rc.strides[0].slice(0, -1).every((st) => st % 4 === 0)) return false;
  if (rr > 2 || kr === 0 || kr > 2) return false;
  return kc.shape[kr - 1] % 2 === 0 && kc.strides[0][kr - 1] === 2 && kc.strides[0].slice(0, -1).every((st) => st % 4 === 0);
}

/**
 * Whether 'cols4' applies: a value op whose last merged kept axis is contiguous with a multiple of
 * 4 outputs, every other kept stride, every reduced stride and the offset multiples of 4 (so 4
 * adjacent outputs are one aligned vec4 at every reduced element).
 */
function cols4Ready(op: ReduceOp, x: GpuView, axes: readonly number[], kept: number[], source?: OpNode): boolean {
  if (isArg(op) || kept.length === 0 || numel(axes.map((a) => x.shape[a])) === 0) return false;
  return vec4Along(x, kept, axes, source);
}

function vec4Rows(op: ReduceOp, x: GpuView, axes: readonly number[], kept: number[], source?: OpNode): boolean {
  if (isArg(op) || numel(axes.map((a) => x.shape[a])) === 0) return false;
  return vec4Along(x, axes, kept, source);
}

/**
 * Whether vec4 loads along the `inner` axes of x are aligned: they coalesce into rows whose last axis
 * is contiguous and a multiple of 4, every other stride of theirs and of the `outer` axes (and the
 * offset) is a multiple of 4, and the buffer (or the fused source) reads whole vec4s.
 */
function vec4Along(x: GpuView, inner: readonly number[], outer: readonly number[], source?: OpNode): boolean {
  const c = coalesce(inner.map((a) => x.shape[a]), [inner.map((a) => x.strides[a])]);
  const r = c.shape.length;
  if (r === 0 || c.strides[0][r - 1] !== 1 || c.shape[r - 1] % 4 !== 0) return false;
  if (!c.strides[0].every((st, d) => d === r - 1 || c.shape[d] === 1 || st % 4 === 0)) return false;
  if (x.offset % 4 !== 0 || !outer.every((a) => x.shape[a] === 1 || x.strides[a] % 4 === 0)) return false;
  return source ? vec4Ready(source) : (x.storage as GpuStorage).buffer.size % 16 === 0;
}

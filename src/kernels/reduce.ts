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
 *    gather, so 4× fewer loads is what counts: 16M-element sum 50 → 24 ms, softmax's row max 53 →
 *    39 ms (2 cores, Mesa 25).
 *  - 'cols4' (value ops over strided axes whose last kept axis is contiguous, a multiple of 4:
 *    column sums, linear-layer bias gradients): 4 adjacent outputs per invocation, one vec4 load per
 *    reduced element, rows split into chunks like 'vec4'.
 *  - 'thread' (short rows, or ≥ 256 rows of ≤ 2048): one invocation per output element (several
 *    for short rows: 2×2 pooling tiles) walks its row. (Measured on lavapipe: 3× faster than a
 *    workgroup per row for [1024, 1024] and 10× for [8192, 128]; a subgroup per row was on par.)
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
import { grid, type GpuRuntime, type GpuStorage, type GpuView } from './runtime.js';
import { Addr, capFor, coalesce, helpers, storageDecl, Uniforms, wt, udiv, type Divisor } from './wgsl.js';
import { exprFunction, flatExpr, vec4Ready, wholeVec4, type ExprFunction } from './elementwise.js';
import type { OpNode } from './expr.js';
import { libCode, storeExpr, type Kind } from './elementwise-ops.js';
import { colChunks, reduceShapesFor, rowsPerLane, vec4Chunks } from './tuning.js';

const NONE = 0xffffffff;
const VALUE_OPS: ReduceOp[] = ['sum', 'prod', 'max', 'min'];
const isArg = (op: ReduceOp) => op === 'argmax' || op === 'argmin';

/** The wgsl.ts helpers `combineLib` declares for values of kind k. */
const combineHelpers = (k: Kind): string[] => (k === 'f32' ? ['isNan', 'bitsF'] : []);

/** WGSL library: `ident(op)`, `comb(op, a, b)` for value ops; `better(dir, a, ia, b, ib)` for arg ops. */
function combineLib(arg: boolean, k: Kind): string {
  const T = k;
  const nan = helpers(...combineHelpers(k));
  if (arg) {
    const nanCase = k === 'f32'
      ? `let na = isNan(a);
  let nb = isNan(b);
  if (na || nb) { return nb && (!na || ib < ia); }`
      : '';
    return `${nan}
fn better(dir: u32, a: ${T}, ia: u32, b: ${T}, ib: u32) -> bool {
  if (ib == ${NONE}u) { return false; }
  if (ia == ${NONE}u) { return true; }
  ${nanCase}
  let gt = select(b > a, b < a, dir != 0u);
  return gt || (b == a && ib < ia);
}`;
  }
  const lit = (f: string, i: string, u: string) => (k === 'f32' ? f : k === 'i32' ? i : u);
  const mx = k === 'f32' ? 'if (isNan(a)) { return a; } if (isNan(b)) { return b; } return max(a, b);' : 'return max(a, b);';
  const mn = k === 'f32' ? 'if (isNan(a)) { return a; } if (isNan(b)) { return b; } return min(a, b);' : 'return min(a, b);';
  return `${nan}
fn mx(a: ${T}, b: ${T}) -> ${T} { ${mx} }
fn mn(a: ${T}, b: ${T}) -> ${T} { ${mn} }
fn ident(op: u32) -> ${T} {
  switch (op) {
    case 0u: { return ${lit('0.0', '0', '0u')}; }
    case 1u: { return ${lit('1.0', '1', '1u')}; }
    case 2u: { return ${lit('bitsF(0xff800000u)', 'bitcast<i32>(0x80000000u)', '0u')}; }
    default: { return ${lit('bitsF(0x7f800000u)', '2147483647', '0xffffffffu')}; }
  }
}
fn comb(op: u32, a: ${T}, b: ${T}) -> ${T} {
  switch (op) {
    case 0u: { return a + b; }
    case 1u: { return a * b; }
    case 2u: { return mx(a, b); }
    default: { return mn(a, b); }
  }
}`;
}

const dtypeOfKind = (k: Kind): DType => (k === 'f32' ? 'float32' : k === 'i32' ? 'int32' : 'uint32');

interface Plan {
  op: ReduceOp;
  x: GpuView;
  keptShape: number[];
  keptStrides: number[];
  redShape: number[];
  redStrides: number[];
  strategy: 'thread' | 'group' | 'vec4' | 'cols4';
  /** G chunks per row of `chunk` elements (group strategy; G = 1 for a plain reduction). */
  G: number;
  /** Lanes per workgroup (from the adapter's tuning, see tuning.ts). */
  lanes: number;
  /** Outputs per invocation ('thread': short rows get several, so a lane does enough work). */
  perLane: number;
  outKind: Kind;
  /** A fused elementwise value to reduce instead of x's buffer: x's strides then address its
   *  row-major output (see elementwise.ts exprFunction; x.storage is not read). */
  source?: OpNode;
}

/**
 * What the kernel bodies of one reduction share: WGSL expressions of its uniforms (pushed by
 * `reduceContext` in a fixed order), the op as a literal, and how to load an element.
 */
interface ReduceContext {
  arg: boolean;
  /** WGSL kind of the values reduced. */
  T: Kind;
  /** The op as a literal (the switches in comb/ident/better fold away): one pipeline per op. */
  opE: string;
  outerE: string;
  RE: string;
  rrE: string;
  lastDimE: string;
  lastStrideE: string;
  /** Length of the last (innermost) merged reduced axis. */
  lastDim: number;
  /** Rows of the leading reduced axes (R / lastDim). */
  outerCntE: string;
  GE: string;
  chunkE: string;
  /** Rank capacity of the reduced axes, and their divisors and strides. */
  rcap: number;
  rdims: Divisor[];
  rstr: string[];
  /** Base offset of output element o (kept axes). */
  addr: Addr;
  lastDimD: Divisor;
  /** The fused source's WGSL function, when the values come from one. */
  fx: ExprFunction | null;
}

/** A kernel body (entry point and workgroup memory) and its grid. */
interface ReduceBody {
  body: string;
  workgroups: [number, number, number];
  /** What else the WGSL depends on (constants baked in), for the pipeline key. */
  key?: string;
}

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
    : plan.strategy === 'thread' ? threadBody(u, c, plan, outer, maxDim)
    : groupBody(c, plan, n, maxDim);
  const { fx, T } = c;
  const inputs = fx ? fx.buffers : [plan.x.storage as GpuStorage];
  const key = `red:${plan.op}:${T}>${plan.outKind}:${plan.strategy}:l${plan.lanes}:${c.addr.key},g${c.rcap}${bodyKey}${fx ? `:fx(${fx.key})` : ''}`;
  const srcType = plan.strategy === 'vec4' || plan.strategy === 'cols4' ? `vec4<${T}>` : T;
  const code = () => `${u.decl()}
${fx ? `${fx.code}\n${libCode(fx.lib, combineHelpers(T))}` : storageDecl(1, 'src', srcType, true)}
${storageDecl(inputs.length + 1, 'dst', plan.outKind, false)}
${combineLib(c.arg, T)}
${body}`;
  rt.dispatch({ key, code, uniforms: u.buffer(), readOnly: inputs.length, workgroups }, [...inputs, result]);
  return result;
}

/**
 * Pushes the uniforms every strategy reads (ranks, shapes and strides of the merged kept and
 * reduced axes) and builds the fused source's function; the vec4 body pushes a few more after.
 */
function reduceContext(u: Uniforms, plan: Plan): ReduceContext {
  const { op, x, G } = plan;
  const arg = isArg(op);
  const kc = coalesce(plan.keptShape, [plan.keptStrides]);
  const rc = coalesce(plan.redShape, [plan.redStrides]);
  const R = numel(plan.redShape);
  const rr = rc.shape.length;
  const lastDim = rr === 0 ? 1 : rc.shape[rr - 1];
  const rcap = capFor(rr);
  return {
    arg,
    T: wt(x.dtype),
    opE: `${arg ? (op === 'argmin' ? 1 : 0) : VALUE_OPS.indexOf(op)}u`,
    outerE: u.u32(numel(plan.keptShape)),
    RE: u.u32(R),
    rrE: u.u32(rr),
    lastDimE: u.u32(lastDim),
    lastStrideE: u.i32(rr === 0 ? 0 : rc.strides[0][rr - 1]),
    lastDim,
    outerCntE: u.u32(R === 0 ? 0 : R / lastDim),
    GE: u.u32(G),
    chunkE: u.u32(Math.ceil(R / G)),
    rcap,
    rdims: Array.from({ length: rcap }, (_, d) => u.divisor(rc.shape[d] ?? 1)),
    rstr: Array.from({ length: rcap }, (_, d) => u.i32(rc.strides[0][d] ?? 0)),
    addr: new Addr(u, kc.shape, [{ strides: kc.strides[0], offset: x.offset }]),
    lastDimD: u.divisor(lastDim),
    fx: plan.source ? exprFunction(u, plan.source, 1, 'fx', plan.strategy === 'vec4' || plan.strategy === 'cols4' ? 4 : 1) : null,
  };
}

/** WGSL loading the element (vec4 at width 4) at index expression `p`. */
const loadAt = (c: ReduceContext, p: string) => (c.fx ? `fx(u32(${p}))` : `src[u32(${p})]`);

/** WGSL folding value `v` (of reduced index `r`) into the accumulator. */
const foldInto = (c: ReduceContext, v: string, r: string) =>
  c.arg ? `{ let v = ${v}; let ri = ${r}; if (better(${c.opE}, acc, accI, v, ri)) { acc = v; accI = ri; } }` : `acc = comb(${c.opE}, acc, ${v});`;

/** WGSL declaring the accumulator(s) at the op's identity. */
const initAcc = (c: ReduceContext) =>
  c.arg ? `var acc: ${c.T} = ${c.T}(0); var accI: u32 = ${NONE}u;` : `var acc: ${c.T} = ident(${c.opE});`;

/** WGSL storing the result (the index for arg ops) at `dst[idx]`. */
const storeAcc = (c: ReduceContext, outKind: Kind, idx: string) =>
  c.arg ? `dst[${idx}] = ${storeExpr(`select(accI, 0u, accI == ${NONE}u)`, 'u32', outKind)};` : `dst[${idx}] = ${storeExpr('acc', c.T, outKind)};`;

/**
 * WGSL: `out` = base offset of leading-reduced-axes coordinate `t` (row-major over rdims[0 .. rr-2]),
 * unrolled to the rank capacity with uniform guards (see wgsl.ts Addr).
 */
function leadBase(c: ReduceContext, t: string, out: string): string {
  const ls = [`var ${out} = rowBase;`, `var lrem = ${t};`];
  for (let d = c.rcap - 2; d >= 0; d--) {
    const split = d > 0 ? `${udiv('lrem', c.rdims[d], 'lq', 'lr')} ${out} = ${out} + i32(lr) * ${c.rstr[d]}; lrem = lq;` : `${out} = ${out} + i32(lrem) * ${c.rstr[d]};`;
    ls.push(`if (${c.rrE} > ${d + 1}u) { ${split} }`);
  }
  return ls.join('\n    ');
}

/**
 * 'vec4': the reduced elements of output o, in row-major order, are segments of contiguous,
 * 4-aligned vec4s (one per leading reduced row, rows `rowLen4` vec4s long); invocation s folds chunk
 * g of them (G chunks per output), walking a segment with plain address increments and finding the
 * next segment's base once per leading row.
 */
function vec4Body(u: Uniforms, c: ReduceContext, plan: Plan, n: number, maxDim: number): ReduceBody {
  const { T, opE } = c;
  const L = plan.lanes;
  const len4 = numel(plan.redShape) / 4;
  const chunk4 = u.u32(Math.ceil(len4 / plan.G));
  const len4E = u.u32(len4);
  const rowLen4 = u.u32(c.lastDim / 4);
  const rowLen4D = u.divisor(c.lastDim / 4);
  const GD = u.divisor(plan.G);
  const comps = ['x', 'y', 'z', 'w'];
  const body = `@compute @workgroup_size(${L})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = gid.y * (nwg.x * ${L}u) + gid.x;
  if (s >= ${c.outerE} * ${c.GE}) { return; }
  ${udiv('s', GD, 'o', 'g')}
  ${c.addr.code('o', ['rowBase'], 'k')}
  let start = g * ${chunk4};
  let end = min(start + ${chunk4}, ${len4E});
  ${comps.map((k) => `var acc${k}: ${T} = ident(${opE});`).join(' ')}
  if (start < end) {
    ${udiv('start', rowLen4D, 'row0', 'col0')}
    var t = row0;
    var col = col0;
    var j = start;
    loop {
      ${leadBase(c, 't', 'b')}
      let stop = min(end, j + ${rowLen4} - col);
      var q = (u32(b) >> 2u) + col;
      for (; j < stop; j = j + 1u) {
        let v = ${loadAt(c, 'q')};
        ${comps.map((k) => `acc${k} = comb(${opE}, acc${k}, v.${k});`).join(' ')}
        q = q + 1u;
      }
      if (j >= end) { break; }
      t = t + 1u;
      col = 0u;
    }
  }
  let acc = comb(${opE}, comb(${opE}, accx, accy), comb(${opE}, accz, accw));
  ${storeAcc(c, plan.outKind, 's')}
}`;
  return { body, workgroups: grid(Math.ceil(n / L), maxDim) };
}

/**
 * 'cols4' (the last kept axis contiguous, reduced axes strided: column sums, linear-layer bias
 * gradients): invocation s folds chunk g of the reduced elements of 4 adjacent outputs at once, one
 * vec4 load per reduced element, walking the reduced axes like 'vec4' walks its segments.
 */
function cols4Body(u: Uniforms, c: ReduceContext, plan: Plan, maxDim: number): ReduceBody {
  const { T, opE } = c;
  const L = plan.lanes;
  const R = numel(plan.redShape);
  const chunk = u.u32(Math.ceil(R / plan.G));
  const GD = u.divisor(plan.G);
  const quads = numel(plan.keptShape) / 4;
  const comps = ['x', 'y', 'z', 'w'];
  const body = `@compute @workgroup_size(${L})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = gid.y * (nwg.x * ${L}u) + gid.x;
  if (s >= ${u.u32(quads)} * ${c.GE}) { return; }
  ${udiv('s', GD, 'o4', 'g')}
  let o = o4 * 4u;
  ${c.addr.code('o', ['rowBase'], 'k')}
  let start = g * ${chunk};
  let end = min(start + ${chunk}, ${c.RE});
  ${comps.map((k) => `var acc${k}: ${T} = ident(${opE});`).join(' ')}
  if (start < end) {
    ${udiv('start', c.lastDimD, 't0', 'j0')}
    var t = t0;
    var j = j0;
    var r = start;
    loop {
      ${leadBase(c, 't', 'b')}
      let stop = min(end, r + ${c.lastDimE} - j);
      var p = b + i32(j) * ${c.lastStrideE};
      for (; r < stop; r = r + 1u) {
        let v = ${loadAt(c, '(u32(p) >> 2u)')};
        ${comps.map((k) => `acc${k} = comb(${opE}, acc${k}, v.${k});`).join(' ')}
        p = p + ${c.lastStrideE};
      }
      if (r >= end) { break; }
      t = t + 1u;
      j = 0u;
    }
  }
  ${comps.map((k, i) => `dst[(o + ${i}u) * ${c.GE} + g] = ${storeExpr(`acc${k}`, T, plan.outKind)};`).join('\n  ')}
}`;
  return { body, workgroups: grid(Math.ceil((quads * plan.G) / L), maxDim) };
}

/** 'thread': one invocation per `perLane` consecutive output elements walks their rows. */
function threadBody(u: Uniforms, c: ReduceContext, plan: Plan, outer: number, maxDim: number): ReduceBody {
  const L = plan.lanes;
  const per = u.u32(plan.perLane);
  // Short rows (pooling windows): their trip counts are baked in, so the loops unroll.
  const R = numel(plan.redShape);
  const fixed = R > 0 && R <= 16;
  const cnt = fixed ? `${R / c.lastDim}u` : c.outerCntE, len = fixed ? `${c.lastDim}u` : c.lastDimE;
  const body = `@compute @workgroup_size(${L})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = gid.y * (nwg.x * ${L}u) + gid.x;
  let o0 = s * ${per};
  let o1 = min(o0 + ${per}, ${c.outerE});
  for (var o = o0; o < o1; o = o + 1u) {
    ${c.addr.code('o', ['rowBase'], 'k')}
    ${initAcc(c)}
    var r = 0u;
    for (var t = 0u; t < ${cnt}; t = t + 1u) {
      ${leadBase(c, 't', 'b')}
      for (var j = 0u; j < ${len}; j = j + 1u) {
        ${foldInto(c, loadAt(c, `b + i32(j) * ${c.lastStrideE}`), 'r')}
        r = r + 1u;
      }
    }
    ${storeAcc(c, plan.outKind, 'o')}
  }
}`;
  return { body, workgroups: grid(Math.ceil(Math.ceil(outer / plan.perLane) / L), maxDim), key: fixed ? `:r${cnt}x${len}` : '' };
}

/** 'group' (and pass 1 of 'split'): one workgroup per output element or chunk; a shared-memory tree combines the lanes. */
function groupBody(c: ReduceContext, plan: Plan, n: number, maxDim: number): ReduceBody {
  const { arg, T, opE } = c;
  const { outKind, lanes: L } = plan;
  const treeCombine = arg
    ? `if (better(${opE}, sv[lid], si[lid], sv[lid + s], si[lid + s])) { sv[lid] = sv[lid + s]; si[lid] = si[lid + s]; }`
    : `sv[lid] = comb(${opE}, sv[lid], sv[lid + s]);`;
  const body = `var<workgroup> sv: array<${T}, ${L}>;
${arg ? `var<workgroup> si: array<u32, ${L}>;` : ''}
@compute @workgroup_size(${L})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lidv: vec3<u32>) {
  let lid = lidv.x;
  let wg = wid.y * nwg.x + wid.x;
  if (wg >= ${c.outerE} * ${c.GE}) { return; }
  let g = wg % ${c.GE};
  let o = wg / ${c.GE};
  let start = g * ${c.chunkE};
  let end = min(start + ${c.chunkE}, ${c.RE});
  ${c.addr.code('o', ['rowBase'], 'k')}
  ${initAcc(c)}
  for (var r = start + lid; r < end; r = r + ${L}u) {
    var p = rowBase + i32(r) * ${c.lastStrideE};
    if (${c.rrE} > 1u) {
      ${udiv('r', c.lastDimD, 'rq', 'j')}
      ${leadBase(c, 'rq', 'b')}
      p = b + i32(j) * ${c.lastStrideE};
    }
    ${foldInto(c, loadAt(c, 'p'), 'r')}
  }
  sv[lid] = acc;
  ${arg ? 'si[lid] = accI;' : ''}
  workgroupBarrier();
  for (var s = ${L / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { ${treeCombine} }
    workgroupBarrier();
  }
  if (lid == 0u) {
    acc = sv[0];
    ${arg ? 'accI = si[0];' : ''}
    ${storeAcc(c, outKind, 'wg')}
  }
}`;
  return { body, workgroups: grid(n, maxDim) };
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
  // One invocation per row whenever there are enough rows to fill the device: on lavapipe this beats
  // a workgroup per row 2–10× (no barriers, lanes of one SIMD chunk walk 8 rows side by side). Very
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
 * conv gradients): realizing them once took the small CNN's reductions from 390 to 65 ms per step.
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
 * with one vec4 load per 4 elements: measured 1.4–2.4× faster than a scalar walk on lavapipe.
 */
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

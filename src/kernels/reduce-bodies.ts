/**
 * The kernel bodies of the reductions, one per strategy ('vec4', 'cols4', 'pairs4', 'thread',
 * 'group'; what each does and when it is chosen: reduce.ts), the uniforms they share
 * (`reduceContext`) and the WGSL library combining values (`combineLib`).
 */
import type { ReduceOp } from '../core/prims.js';
import { numel } from '../core/shape.js';
import { exprFunction, type ExprFunction } from './elementwise.js';
import { storeExpr, type Kind } from './elementwise-ops.js';
import type { OpNode } from './expr.js';
import { grid, type GpuView } from './runtime.js';
import { Addr, capFor, coalesce, helpers, udiv, wt, type Divisor, type Uniforms } from './wgsl.js';

export const NONE = 0xffffffff;
export const VALUE_OPS: ReduceOp[] = ['sum', 'prod', 'max', 'min'];
export const isArg = (op: ReduceOp) => op === 'argmax' || op === 'argmin';

/** The wgsl.ts helpers `combineLib` declares for values of kind k. */
export const combineHelpers = (k: Kind): string[] => (k === 'f32' ? ['isNan', 'bitsF'] : []);

/** WGSL library: `ident(op)`, `comb(op, a, b)` for value ops; `better(dir, a, ia, b, ib)` for arg ops. */
export function combineLib(arg: boolean, k: Kind): string {
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

export interface Plan {
  op: ReduceOp;
  x: GpuView;
  keptShape: number[];
  keptStrides: number[];
  redShape: number[];
  redStrides: number[];
  strategy: 'thread' | 'group' | 'vec4' | 'cols4' | 'pairs4';
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
export interface ReduceContext {
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
export interface ReduceBody {
  body: string;
  workgroups: [number, number, number];
  /** What else the WGSL depends on (constants baked in), for the pipeline key. */
  key?: string;
}

/**
 * Pushes the uniforms every strategy reads (ranks, shapes and strides of the merged kept and
 * reduced axes) and builds the fused source's function; the vec4 body pushes a few more after.
 */
export function reduceContext(u: Uniforms, plan: Plan): ReduceContext {
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
export const loadAt = (c: ReduceContext, p: string) => (c.fx ? `fx(u32(${p}))` : `src[u32(${p})]`);

/** WGSL folding value `v` (of reduced index `r`) into the accumulator. */
export const foldInto = (c: ReduceContext, v: string, r: string) =>
  c.arg ? `{ let v = ${v}; let ri = ${r}; if (better(${c.opE}, acc, accI, v, ri)) { acc = v; accI = ri; } }` : `acc = comb(${c.opE}, acc, ${v});`;

/** WGSL declaring the accumulator(s) at the op's identity. */
export const initAcc = (c: ReduceContext) =>
  c.arg ? `var acc: ${c.T} = ${c.T}(0); var accI: u32 = ${NONE}u;` : `var acc: ${c.T} = ident(${c.opE});`;

/** WGSL storing the result (the index for arg ops) at `dst[idx]`. */
export const storeAcc = (c: ReduceContext, outKind: Kind, idx: string) =>
  c.arg ? `dst[${idx}] = ${storeExpr(`select(accI, 0u, accI == ${NONE}u)`, 'u32', outKind)};` : `dst[${idx}] = ${storeExpr('acc', c.T, outKind)};`;

/**
 * WGSL: `out` = base offset of leading-reduced-axes coordinate `t` (row-major over rdims[0 .. rr-2]),
 * unrolled to the rank capacity with uniform guards (see wgsl.ts Addr).
 */
export function leadBase(c: ReduceContext, t: string, out: string): string {
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
export function vec4Body(u: Uniforms, c: ReduceContext, plan: Plan, n: number, maxDim: number): ReduceBody {
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
 * Neighbouring invocations take neighbouring quads of the same chunk (s = g · quads + quad), so the
 * lanes of a workgroup read adjacent 16 bytes of the same rows: on lavapipe faster than lanes on
 * different chunks of one quad (docs/benchmarks.md#kernel-work-commit-by-commit).
 */
export function cols4Body(u: Uniforms, c: ReduceContext, plan: Plan, maxDim: number): ReduceBody {
  const { T, opE } = c;
  const L = plan.lanes;
  const R = numel(plan.redShape);
  const chunk = u.u32(Math.ceil(R / plan.G));
  const quads = numel(plan.keptShape) / 4;
  const QD = u.divisor(quads);
  const comps = ['x', 'y', 'z', 'w'];
  const body = `@compute @workgroup_size(${L})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = gid.y * (nwg.x * ${L}u) + gid.x;
  if (s >= ${u.u32(quads)} * ${c.GE}) { return; }
  ${udiv('s', QD, 'g', 'o4')}
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
export function threadBody(u: Uniforms, c: ReduceContext, plan: Plan, outer: number, maxDim: number): ReduceBody {
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

/**
 * 'pairs4' (2-wide windows side by side along a row: 2×2 max pooling, the tie counts of its
 * gradient): invocation s reduces `per` consecutive pairs of adjacent outputs, walking them along
 * the kept row (an add per pair, a carry at the row's end); per pair, one vec4 load per window row
 * holds both windows' elements (x, y for the first, z, w for the second), one vec2 store.
 */
export function pairs4Body(u: Uniforms, c: ReduceContext, plan: Plan, outer: number, maxDim: number): ReduceBody {
  const L = plan.lanes;
  const kc = coalesce(plan.keptShape, [plan.keptStrides]);
  const rc = coalesce(plan.redShape, [plan.redStrides]);
  const half = kc.shape[kc.shape.length - 1] / 2;
  const rows = rc.shape.length === 2 ? rc.shape[0] : 1;
  const [per, pairs, halfD] = [u.u32(plan.perLane), u.u32(outer / 2), u.divisor(half)];
  const [off, rowStride, winStride] = [u.i32(plan.x.offset), u.i32(kc.shape.length === 2 ? kc.strides[0][0] : 0), u.i32(rows > 1 ? rc.strides[0][0] : 0)];
  const fixed = rows <= 8;
  const cnt = fixed ? `${rows}u` : u.u32(rows);
  const body = `@compute @workgroup_size(${L})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = gid.y * (nwg.x * ${L}u) + gid.x;
  let p0 = s * ${per};
  let p1 = min(p0 + ${per}, ${pairs});
  if (p0 >= p1) { return; }
  ${udiv('p0', halfD, 'row', 'col')}
  var c2 = col;
  var rowBase = ${off} + i32(row) * ${rowStride};
  var base = rowBase + i32(col) * 4;
  for (var p = p0; p < p1; p = p + 1u) {
    var a0 = ident(${c.opE});
    var a1 = ident(${c.opE});
    for (var t = 0u; t < ${cnt}; t = t + 1u) {
      let v = src[u32(base + i32(t) * ${winStride}) >> 2u];
      a0 = comb(${c.opE}, a0, comb(${c.opE}, v.x, v.y));
      a1 = comb(${c.opE}, a1, comb(${c.opE}, v.z, v.w));
    }
    dst[p] = vec2<${plan.outKind}>(${storeExpr('a0', c.T, plan.outKind)}, ${storeExpr('a1', c.T, plan.outKind)});
    c2 = c2 + 1u;
    base = base + 4;
    if (c2 == ${halfD.d}) { c2 = 0u; rowBase = rowBase + ${rowStride}; base = rowBase; }
  }
}`;
  return { body, workgroups: grid(Math.ceil(Math.ceil(outer / 2 / plan.perLane) / L), maxDim), key: fixed ? `:r${rows}` : '' };
}

/** 'group' (and pass 1 of 'split'): one workgroup per output element or chunk; a shared-memory tree combines the lanes. */
export function groupBody(c: ReduceContext, plan: Plan, n: number, maxDim: number): ReduceBody {
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


/**
 * Elementwise kernels: one op, or a fused chain of ops, in one generated kernel.
 *
 * An elementwise computation is an expression DAG (`Expr`): leaves are strided views of storage
 * buffers, nodes are ops (every elementwise primitive; their WGSL is the table of elementwise-ops.ts).
 * A single op is a one-node DAG. The WebGPU backend's fusion (src/backends/webgpu/fusion.ts) grows DAGs
 * across ops, so tanh(x·1.5 + 0.5)·x is one kernel that reads x once and writes once instead of
 * four passes over memory and four dispatches — on lavapipe both cost.
 *
 * Algorithm: one pass, no workgroup memory, in the adapter's kernel shape (tuning-elementwise.ts):
 * lanes per workgroup, units (elements, or vec4s) per invocation, consecutive or interleaved
 * across the lanes, a 2-D grid of workgroups for large outputs. On lavapipe one 8-lane SIMD chunk
 * per workgroup with 64 vec4s per invocation moves a memory-bound chain at about the copy kernel's
 * rate, which the former 256 lanes × 16 elements fell well short of
 * (docs/benchmarks.md#workgroup-shape-on-a-software-rasterizer).
 *
 * Width: when every leaf group's merged innermost axis is a multiple of 4 — or is 2 with an even
 * axis above it (`pairUnits`: 2×2 pooling tiles beside a window value broadcast over them, each
 * unit two rows of two, read at four fixed offsets) — each index covers 4 consecutive outputs
 * (`vec4Ready`; a flat expression of another size too, its last unit partial, see `vec4TailReady`): leaves load once per 4 elements (a vec4, a
 * splat, or 4 scalars), the index is decomposed once per 4, the ops run per component and the store
 * is one vec4. On lavapipe, where loads and index math dominate, this cuts a memory-bound pass
 * by half or more (docs/benchmarks.md#vec4-elementwise-and-reduction-kernels).
 *
 * Addressing: every leaf maps the output's row-major index i to its own element address. A leaf
 * keeps the shape it was read at (a fused chain may pass through a reshape, so the leaves of one
 * kernel may have different shapes of the same size) and its strides over that shape, which make
 * broadcasts, transposes, slices and flips free. Its axes are merged first (`coalesce`). An
 * invocation computes its leaves' addresses once, at its first unit, and then steps them from unit
 * to unit (`Walker`: an add, and a carry when an axis wraps), so a broadcast bias or a transposed
 * read costs no division per unit; where a step could wrap an axis twice (rows shorter than the
 * step), the addresses are computed per unit (wgsl.ts `Addr`: offset + i for contiguous leaves, a
 * div/mod per merged axis otherwise). Leaves read at the same shape are merged jointly and share one
 * address computation; identical leaves load once; leaves of one buffer share its binding.
 *
 * Values: each node is computed once (a `let` per node, by object identity) and converted to its
 * dtype's storage kind exactly as a store and reload would, so fused and unfused results agree.
 *
 * Pipelines are keyed by the DAG's structure (ops, kinds, leaf paths 'f' / 'w4' / 'g4', walked or
 * indexed, which buffer each leaf reads) and the kernel shape, never by sizes: shapes, strides,
 * offsets and units per invocation are uniforms, which bounds lavapipe's LLVM compile per new
 * pipeline (see wgsl.ts) to a few per distinct chain. (Making the op a uniform switch as well would
 * cut compiles further but ran cheap ops slower: docs/benchmarks.md#figures-behind-the-kernel-headers.)
 */
import type { OutputSpec } from '../core/backend.js';
import type { ElementwisePrim, PrimParams, UnaryOp } from '../core/prims.js';
import { numel } from '../core/shape.js';
import { elementwiseOp, kindOf, libCode, storeExpr, type Kind } from './elementwise-ops.js';
import { emitOps, leafAt, leavesOf, opNode, type Expr, type Leaf, type OpNode } from './expr.js';
import { runRowExpr } from './row-fused.js';
import { grid, type GpuRuntime, type GpuStorage, type GpuView } from './runtime.js';
import { dispatchSize, elementwiseShapesFor, type ElementwiseShape } from './tuning-elementwise.js';
import { Walker } from './walker.js';
import { Addr, coalesce, storageDecl, Uniforms } from './wgsl.js';

/**
 * Leaves grouped by the shape they are read at (one group unless the chain passed through a
 * reshape); each group's axes are merged jointly over all its leaves, so one index decomposition
 * serves the whole group.
 */
interface LeafGroup {
  shape: number[];
  leaves: Leaf[];
  /** Per leaf, its strides over the merged shape. */
  strides: number[][];
}

function groupLeaves(leaves: Leaf[]): LeafGroup[] {
  const byShape = new Map<string, Leaf[]>();
  for (const l of leaves) {
    const k = l.view.shape.join(',');
    byShape.set(k, [...(byShape.get(k) ?? []), l]);
  }
  return [...byShape.values()].map((ls) => {
    const merged = coalesce(ls[0].view.shape, ls.map((l) => l.view.strides));
    return { shape: merged.shape, leaves: ls, strides: merged.strides };
  });
}

const groupCache = new WeakMap<Expr, LeafGroup[]>();

/**
 * The leaf groups of `root`, computed once per expression: the width, layout and addressing
 * predicates of one dispatch and its code generator (and a reduction's in-place check) all ask.
 */
function groupsOf(root: Expr): LeafGroup[] {
  let groups = groupCache.get(root);
  if (!groups) {
    groups = groupLeaves(leavesOf(root));
    groupCache.set(root, groups);
  }
  return groups;
}

/**
 * A leaf group whose merged rows have 2 elements (the [..., Wo, 2] tiles of 2×2 pooling, read
 * beside a window max broadcast over them), seen in units of 4 elements: a unit is 2 rows of 2
 * when the axis above has an even size, so the group is addressed over its shape with (A, 2)
 * replaced by A/2 units, and each leaf reads its unit at 4 fixed offsets (0, s₁, s₀, s₀ + s₁ for
 * strides s₀, s₁ of the last two axes). Null for other groups.
 */
function pairUnits(g: LeafGroup): { shape: number[]; strides: number[][]; offsets: number[][] } | null {
  const r = g.shape.length;
  if (r < 2 || g.shape[r - 1] !== 2 || g.shape[r - 2] % 2 !== 0) return null;
  return {
    shape: [...g.shape.slice(0, -2), g.shape[r - 2] / 2],
    strides: g.strides.map((st) => [...st.slice(0, -2), 2 * st[r - 2]]),
    offsets: g.strides.map((st) => [0, st[r - 1], st[r - 2], st[r - 2] + st[r - 1]]),
  };
}

/**
 * How a 4-wide evaluation reads a leaf's 4 consecutive elements: 'v' one aligned vec4 load
 * (innermost stride 1), 's' one scalar splat (innermost stride 0, a broadcast along the row), 'x'
 * four scalar loads (any other stride), 'p' four scalar loads at the offsets of a pair group.
 */
type Load4 = 'v' | 's' | 'x' | 'p';

/** The load of a leaf of a pair group (see pairUnits) from its unit strides and offsets. */
function pairMode(strides: readonly number[], offsets: readonly number[], offset: number): Load4 {
  if (offsets.every((o) => o === 0)) return 's';
  const contiguous = offsets.every((o, c) => o === c) && offset % 4 === 0 && strides.every((st) => st % 4 === 0);
  return contiguous ? 'v' : 'p';
}

/**
 * Whether `root` can be evaluated 4 consecutive elements at a time (`exprFunction` width 4): every
 * leaf group's merged innermost axis is a multiple of 4 (so the 4 elements share all other
 * coordinates) or a pair group (`pairUnits`), and every buffer's size is a multiple of 16 bytes
 * (vec4 bindings).
 */
export function vec4Ready(root: Expr): boolean {
  return groupsOf(root).every((g) =>
    g.shape.length > 0 && (g.shape[g.shape.length - 1] % 4 === 0 || pairUnits(g) !== null) && g.leaves.every((l) => (l.view.storage as GpuStorage).buffer.size % 16 === 0));
}

/**
 * Whether `root` evaluates 4 elements at a time as cheaply as a buffer reads them: `vec4Ready`, with
 * every leaf a whole aligned vec4 or a splat (no scalar gathers, no pair groups).
 */
export function wholeVec4(root: Expr): boolean {
  return vec4Ready(root) && groupsOf(root).every((g) =>
    pairUnits(g) === null && g.leaves.every((l, j) => load4Mode(g.strides[j], l.view.offset) !== 'x'));
}

/**
 * Whether every leaf of `root` is addressed without index arithmetic: each leaf group merges to at
 * most one axis (contiguous, flipped or broadcast-scalar leaves), so a leaf's address at index i is
 * offset + i · stride.
 */
export function flatExpr(root: Expr): boolean {
  return groupsOf(root).every((g) => g.shape.length <= 1);
}

/**
 * Whether `root`, of a size that is not a multiple of 4, can still run on vec4s with a partial last
 * unit (`runExpr` stores only its elements that exist): every leaf is read along one axis as aligned
 * vec4s or as a splat, so even the last unit's loads stay inside the leaf's buffer (bound as vec4s).
 */
function vec4TailReady(root: Expr): boolean {
  return groupsOf(root).every(({ shape, leaves, strides }) =>
    shape.length === 1 && leaves.every((l, j) => (l.view.storage as GpuStorage).buffer.size % 16 === 0 && load4Mode(strides[j], l.view.offset) !== 'x'));
}

function load4Mode(strides: readonly number[], offset: number): Load4 {
  const last = strides[strides.length - 1];
  if (last === 0) return 's';
  return last === 1 && offset % 4 === 0 && strides.slice(0, -1).every((s) => s % 4 === 0) ? 'v' : 'x';
}

/**
 * How a compiled expression finds its leaves' element addresses for a unit (one element, or 4 at
 * width 4):
 *  - 'index': from the unit's index alone (wgsl.ts `Addr`: a div/mod per merged axis of a strided
 *    group). The function form (`exprFunction`, called by reduce.ts), and the kernel where a walk
 *    cannot step (see `walkable`).
 *  - { step }: computed once at an invocation's first unit, then stepped by `step` units from one
 *    unit of the invocation to its next (`Walker`: an add per operand, a carry per wrapped axis), so
 *    a broadcast bias or a transposed read costs no division per unit.
 */
type Addressing = 'index' | { step: number };

/** Whether some leaf of `root` is read across rows: a merged innermost stride other than 0 or ±1 (see tuning-elementwise.ts). */
function readsAcrossRows(root: Expr): boolean {
  return groupsOf(root).some((g) => g.shape.length > 0 && g.strides.some((s) => Math.abs(s[s.length - 1]) > 1));
}

/**
 * Whether every leaf group of `root` can be walked `step` units of `width` elements at a time with
 * one carry per axis: rank ≤ 1, or an innermost (merged) size of at least that many elements (of
 * units, for a pair group).
 */
function walkable(root: Expr, step: number, width: 1 | 4): boolean {
  return groupsOf(root).every((g) => {
    const pair = width === 4 ? pairUnits(g) : null;
    const shape = pair ? pair.shape : g.shape;
    return shape.length <= 1 || shape[shape.length - 1] >= (pair ? step : step * width);
  });
}

/** An expression compiled for one addressing (see `compileExpr`). */
interface CompiledExpr {
  buffers: GpuStorage[];
  /** Storage declarations (bindings from firstBinding, one per distinct buffer; vec4 arrays at width 4). */
  decls: string;
  lib: Set<string>;
  key: string;
  /** WGSL type of the result (per component at width 4). */
  type: Kind;
  /** Walked: statements declaring the addresses at the invocation's first unit. */
  init: string[];
  /** Statements computing the unit's value ('index': its addresses first). */
  body: string[];
  /** The unit's value: a scalar, or a vec4 at width 4. */
  result: string;
  /** Walked: statements advancing the addresses to the invocation's next unit. */
  step: string[];
}

/**
 * Compiles `root` for units of `width` elements. `unit` is the WGSL expression of the unit index:
 * of the unit computed ('index'), or of the invocation's first unit (walked). Leaves are read per
 * group (one shared address computation), each distinct leaf loaded once per unit (a vec4, a
 * splat or 4 scalars at width 4, see Load4), then a `let` per op node and component.
 */
function compileExpr(u: Uniforms, root: OpNode, firstBinding: number, name: string, width: 1 | 4, addressing: Addressing, unit: string, hoist = false): CompiledExpr {
  const buffers: GpuStorage[] = [];
  const kinds: Kind[] = [];
  const bindingOf = new Map<GpuStorage, number>();
  const init: string[] = [];
  const body: string[] = [];
  const step: string[] = [];
  const key: string[] = [`w${width}${addressing === 'index' ? 'I' : `W${addressing.step}`}`];
  const libs = new Set<string>();
  const C = width === 4 ? ['x', 'y', 'z', 'w'] : [''];

  // Leaves: per group one shared address computation, then one load per distinct leaf.
  const leafValue = new Map<Leaf, (c: string) => string>();
  const loaded = new Map<string, (c: string) => string>();
  const flat = width === 4 ? `(${unit}) * 4u` : unit;
  for (const [gi, g] of groupsOf(root).entries()) {
    const binding = g.leaves.map((l) => {
      let b = bindingOf.get(l.view.storage as GpuStorage);
      if (b === undefined) {
        b = buffers.push(l.view.storage as GpuStorage) - 1;
        kinds.push(kindOf(l.view.dtype));
        bindingOf.set(l.view.storage as GpuStorage, b);
      }
      return b;
    });
    // Identical leaves (same buffer, offset and strides) share one operand.
    const ids = g.leaves.map((l, j) => `${binding[j]}|${l.view.offset}|${g.strides[j]}`);
    const operands: number[] = [];
    ids.forEach((id, j) => { if (ids.indexOf(id) === j) operands.push(j); });
    // Broadcast scalars (every stride 0) are loaded once, before the loop, where there is one.
    const hoisted = (j: number) => hoist && g.strides[j].every((st) => st === 0);
    const walked = operands.filter((j) => !hoisted(j));
    // A pair group is addressed per unit (see pairUnits), any other per element.
    const pair = width === 4 ? pairUnits(g) : null;
    const [gShape, gStrides] = pair ? [pair.shape, pair.strides] : [g.shape, g.strides];
    const opnds = walked.map((j) => ({ strides: gStrides[j], offset: g.leaves[j].view.offset }));
    const pn = walked.map((j) => `p${gi}_${j}`);
    // A pair group's index and step count units, any other group's elements.
    const at = pair ? { index: unit, step: addressing === 'index' ? 0 : addressing.step } : { index: flat, step: addressing === 'index' ? 0 : addressing.step * width };
    const addrKey = (pair ? 'P' : '') + addressGroup(u, gShape, opnds, pn, `a${gi}`, addressing === 'index' ? 'index' : at.step, at.index, { init, body, step });
    const groupKey: string[] = [];
    operands.forEach((j) => {
      const b = binding[j];
      const buf = `${name}In${b}`;
      const p = pn[walked.indexOf(j)];
      const l = `l${gi}_${j}`;
      let value: (c: string) => string;
      if (hoisted(j)) {
        const q = u.i32(g.leaves[j].view.offset);
        init.push(`let ${l} = ${width === 1 ? `${buf}[u32(${q})]` : `${buf}[u32(${q}) >> 2u][u32(${q}) & 3u]`};`);
        value = () => l;
        groupKey.push(`${b}h`);
      } else if (width === 1) {
        body.push(`let ${l} = ${buf}[u32(${p})];`);
        value = () => l;
        groupKey.push(`${b}`);
      } else {
        const mode = pair ? pairMode(pair.strides[j], pair.offsets[j], g.leaves[j].view.offset) : load4Mode(g.strides[j], g.leaves[j].view.offset);
        const load = load4(u, { buf, kind: kinds[b], name: l, at: p }, mode, g.strides[j][g.strides[j].length - 1], pair?.offsets[j]);
        body.push(load.stmt);
        value = load.value;
        groupKey.push(`${b}${mode}`);
      }
      loaded.set(ids[j], value);
    });
    g.leaves.forEach((l, j) => leafValue.set(l, loaded.get(ids[j])!));
    key.push(`G${addrKey}(${groupKey.join(',')})[${ids.map((id) => ids.indexOf(id)).join(',')}]`);
  }

  // Ops: a `let` per node and component, by object identity.
  const ops = { body, key, libs };
  const r = emitOps(root, C, (l, c) => leafValue.get(l)!(c), () => {
    throw new Error('a row node reached the elementwise kernel (row-fused.ts evaluates those)');
  }, ops);
  const type = kindOf(root.dtype);
  const result = width === 4 ? `vec4<${type}>(${C.map((c) => `${r}${c}`).join(', ')})` : r;
  const decls = buffers.map((_, b) => storageDecl(firstBinding + b, `${name}In${b}`, width === 4 ? `vec4<${kinds[b]}>` : kinds[b], true)).join('\n');
  return { buffers, decls, lib: libs, key: `${kinds.join('')}>${type}:${key.join(';')}`, type, init, body, result, step };
}

/**
 * Declares `names[k]`, operand k's address at element (or unit) index `index` over `shape`: walked
 * `step` at a time (set up in `out.init`, advanced in `out.step`) or computed per unit ('index', in
 * `out.body`). Returns the addressing's cache-key part.
 */
function addressGroup(
  u: Uniforms,
  shape: readonly number[],
  operands: { strides: readonly number[]; offset: number }[],
  names: string[],
  tag: string,
  step: number | 'index',
  index: string,
  out: { init: string[]; body: string[]; step: string[] },
): string {
  if (!operands.length) return '-';
  if (step !== 'index') {
    const walker = new Walker(u, shape, operands, step);
    out.init.push(walker.init(index, names, tag));
    out.step.push(walker.advance(names, tag));
    return walker.key;
  }
  const addr = new Addr(u, shape, operands);
  out.body.push(addr.code(index, names, tag));
  return addr.key;
}

/**
 * WGSL loading a leaf's 4 consecutive elements from element address `at` of binding `buf` into
 * `name` (see Load4: one vec4, one splat, or 4 scalars `lastStride` apart or at a pair group's
 * `offsets`), and how its component c reads.
 */
function load4(
  u: Uniforms,
  leaf: { buf: string; kind: Kind; name: string; at: string },
  mode: Load4,
  lastStride: number,
  offsets?: readonly number[],
): { stmt: string; value: (c: string) => string } {
  const { buf, kind, name, at } = leaf;
  const scalar = (q: string) => `${buf}[u32(${q}) >> 2u][u32(${q}) & 3u]`;
  if (mode === 'v') return { stmt: `let ${name} = ${buf}[u32(${at}) >> 2u];`, value: (c) => `${name}.${c}` };
  if (mode === 's') return { stmt: `let ${name} = ${scalar(at)};`, value: () => name };
  const st = mode === 'p' ? '' : u.i32(lastStride);
  const off = mode === 'p' ? offsets!.map((o) => u.i32(o)) : [0, 1, 2, 3].map((c) => `${c} * ${st}`);
  return {
    stmt: `let ${name} = vec4<${kind}>(${[0, 1, 2, 3].map((c) => scalar(c === 0 ? at : `${at} + ${off[c]}`)).join(', ')});`,
    value: (c) => `${name}.${c}`,
  };
}

/**
 * An expression compiled to a WGSL function that evaluates it at row-major indices of its output:
 * `fn <name>(i: u32) -> T` (width 1), or with width 4 `fn <name>(i: u32) -> vec4<T>` for the
 * elements 4·i .. 4·i + 3 (only where `vec4Ready`). Carries its storage declarations (bindings
 * from `firstBinding`, one per distinct buffer, in `buffers` order; vec4 arrays at width 4), library
 * code, and the cache-key part describing it. Its uniforms are pushed into `u`. Kernels other than
 * the elementwise one use it to read a fused value without materializing it (reductions, see
 * reduce.ts).
 *
 * Width 4 loads each leaf once per 4 elements (one vec4, one splat or four scalars, see Load4) and
 * computes the addresses once per 4 elements; the ops are then evaluated per component (the op
 * library is scalar). On lavapipe this is much faster than width 1 (docs/benchmarks.md#figures-behind-the-kernel-headers):
 * loads and index math, not arithmetic, dominate there.
 */
export interface ExprFunction {
  name: string;
  /** Storage declarations and the function itself. */
  code: string;
  /** Library functions it calls (elementwise-lib.ts, via `libCode`). */
  lib: Set<string>;
  key: string;
  buffers: GpuStorage[];
  /** WGSL type of the function's result (per component at width 4). */
  type: Kind;
}

export function exprFunction(u: Uniforms, root: OpNode, firstBinding: number, name = 'fx', width: 1 | 4 = 1): ExprFunction {
  const c = compileExpr(u, root, firstBinding, name, width, 'index', 'i');
  const code = `${c.decls}
fn ${name}(i: u32) -> ${width === 4 ? `vec4<${c.type}>` : c.type} {
  ${c.body.join('\n  ')}
  return ${c.result};
}`;
  return { name, code, lib: c.lib, key: c.key, buffers: c.buffers, type: c.type };
}

/**
 * The entry point of the elementwise kernel in `shape` (see tuning-elementwise.ts): invocation t of
 * the 2-D grid handles `per` units (a uniform), consecutive ('blocked': from unit t·per) or `lanes`
 * apart ('strided': lane l of workgroup w from unit w·lanes·per + l). The addresses are walked from
 * unit to unit where `walkable`, else computed per unit. `store(v, kind)` stores unit `i`.
 */
function elementwiseMain(shape: ElementwiseShape, u: Uniforms, root: OpNode, width: 1 | 4, n: string, per: string, store: (v: string, t: Kind) => string) {
  const stride = shape.layout === 'blocked' ? 1 : shape.lanes;
  const addressing: Addressing = walkable(root, stride, width) ? { step: stride } : 'index';
  const first = shape.layout === 'blocked' ? `(wgi * ${shape.lanes}u + lidv.x) * ${per}` : `wgi * ${shape.lanes}u * ${per} + lidv.x`;
  const c = compileExpr(u, root, 1, 'fx', width, addressing, addressing === 'index' ? 'i' : 'first', true);
  const code = `${c.decls}
@compute @workgroup_size(${shape.lanes})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lidv: vec3<u32>) {
  let wgi = wid.y * nwg.x + wid.x;
  let first = ${first};
  ${c.init.join('\n  ')}
  for (var k = 0u; k < ${per}; k = k + 1u) {
    let i = first + k * ${stride}u;
    if (i >= ${n}) { break; }
    ${c.body.join('\n    ')}
    ${store(c.result, c.type)}
    ${c.step.join('\n    ')}
  }
}`;
  return { ...c, code };
}

/**
 * Runs the expression `root` into a fresh contiguous buffer of `out.shape` (dtype root.dtype), in
 * the adapter's kernel shape (tuning-elementwise.ts): on vec4s where `vec4Ready`, else per element.
 */
export function runExpr(rt: GpuRuntime, root: OpNode, out: OutputSpec): GpuStorage {
  if (root.rows) return runRowExpr(rt, root, out);
  const n = numel(out.shape);
  const result = rt.alloc(n);
  if (n === 0) return result;
  const vecOut = result.buffer.size % 16 === 0;
  const tail = n % 4 !== 0 && vecOut && vec4TailReady(root);
  const width = tail || (n % 4 === 0 && vecOut && vec4Ready(root)) ? 4 : 1;
  const shapes = elementwiseShapesFor(rt);
  const shape = kernelShape(root, width, readsAcrossRows(root) ? shapes.gather : shapes.dense);
  const units = Math.ceil(n / width);
  const size = dispatchSize(shape, units);
  const u = new Uniforms();
  const nExpr = u.u32(units);
  const perExpr = u.u32(size.perLane);
  const outKind = kindOf(out.dtype);
  const C = ['x', 'y', 'z', 'w'];
  // The partial last unit (tail) stores only the components below n.
  const nElems = tail ? u.u32(n) : '';
  const store = (v: string, t: Kind) => {
    if (width === 1) return `outBuf[i] = ${storeExpr(v, t, outKind)};`;
    const full = `outBuf[i] = vec4<${outKind}>(${C.map((c) => storeExpr(`r.${c}`, t, outKind)).join(', ')});`;
    if (!tail) return `let r = ${v};\n    ${full}`;
    const parts = C.map((c, k) => `if (i * 4u + ${k}u < ${nElems}) { outBuf[i].${c} = ${storeExpr(`r.${c}`, t, outKind)}; }`).join(' ');
    return `let r = ${v};\n    if (i * 4u + 4u <= ${nElems}) { ${full} } else { ${parts} }`;
  };
  const main = elementwiseMain(shape, u, root, width, nExpr, perExpr, store);
  const code = () => `${u.decl()}
${libCode(main.lib)}
${storageDecl(main.buffers.length + 1, 'outBuf', width === 4 ? `vec4<${outKind}>` : outKind, false)}
${main.code}`;
  rt.dispatch(
    {
      key: `ew:${shape.layout}${shape.lanes}${tail ? 't' : ''}:${main.key}>${outKind}`,
      code,
      uniforms: u.buffer(),
      readOnly: main.buffers.length,
      workgroups: grid(size.workgroups, rt.limits.maxComputeWorkgroupsPerDimension),
    },
    [...main.buffers, result],
  );
  return result;
}

/**
 * `shape`, or its blocked form where a strided one would leave the addresses unwalkable: lanes
 * interleaved `lanes` units apart cannot walk rows shorter than that step (2×2 pooling tiles, whose
 * rows have 2 elements), and per-unit index arithmetic then dominates (the small CNN's pooling
 * gradient: docs/benchmarks.md#kernel-work-commit-by-commit); consecutive units always walk.
 */
function kernelShape(root: OpNode, width: 1 | 4, shape: ElementwiseShape): ElementwiseShape {
  if (shape.layout !== 'strided' || walkable(root, shape.lanes, width) || !walkable(root, 1, width)) return shape;
  return { ...shape, layout: 'blocked' };
}

/**
 * Elementwise primitive `prim` over views broadcast to out.shape, run at once: a DAG of one op
 * through the same table and kernel as a fused chain. For kernels that need an elementwise step of
 * their own (e.g. a contiguous copy); the backend runs elementwise primitives through fusion.
 */
export function runElementwise<P extends ElementwisePrim>(rt: GpuRuntime, prim: P, inputs: GpuView[], params: PrimParams[P], out: OutputSpec): GpuStorage {
  const op = elementwiseOp(prim, inputs, params, out.dtype);
  return runExpr(rt, opNode(op, out.dtype, inputs.map((v) => leafAt(v, out.shape))), out);
}

/** Unary op (`copy` materializes a strided view contiguously), run at once. */
export function runUnary(rt: GpuRuntime, op: UnaryOp, x: GpuView, out: OutputSpec): GpuStorage {
  return runElementwise(rt, op, [x], {}, out);
}

/**
 * Row-fused kernels: an elementwise expression that reads reductions of its own rows, in one
 * kernel that reads each row from memory once — softmax's exp(x − max x) / Σ exp(x − max x), layer
 * norm's (x − mean)·rsqrt(var + ε)·γ + β.
 *
 * Composed from primitives, softmax is a max pass, a Σ exp pass and a normalizing pass: three reads
 * of x and a write, so at best 50 % of the copy kernel's rate (layer norm, four reads: 40 %). The
 * WebGPU backend's fusion (src/backends/webgpu/fusion.ts) instead keeps a reduction over the last
 * axis unrealized and inlines it, as a row node (expr.ts), into the elementwise op that reads it
 * broadcast along that axis; that op's kernel is this one.
 *
 * Algorithm: one invocation per row of the output [rows, L] (leading axes merged). It computes the
 * row nodes in dependency order (softmax's max before its Σ exp(x − max)), each a loop over the
 * row folding its argument into an accumulator, then loops over the row once more computing and
 * storing the output. A row (L ≤ MAX_ROW floats) stays in the CPU's cache (a GPU's L1/L2) between
 * the loops, so memory sees about one read and one write per element. (On lavapipe every load is
 * a per-lane gather whether it hits the cache or not, so the re-reads still cost and the gain is
 * well short of the ~2× a memory-bound GPU would see; a fold of max and Σ exp in one loop — one
 * load pass less, one exp more — measured no faster there: docs/benchmarks.md#kernel-work-commit-by-commit.)
 *
 * Workgroups: the adapter's `rowLanes` (tuning.ts: one 8-lane SIMD chunk on lavapipe, 256 lanes on
 * a GPU) rows per workgroup, a 2-D grid of them. Width: on vec4s when L is a multiple of 4 and every
 * leaf reads its rows contiguously and 4-aligned (one vec4 load per 4 elements) or as a per-row
 * splat (a row's mean; loaded once per row); else per element. Accumulators: 4 per row node at
 * width 4 (combined at the end), max/min propagating NaN like the reduce kernels.
 *
 * Leaves: each reads address offset + r·rowStride + j·colStride (`rowGeometry`); the fusion makes
 * row nodes only where every leaf has such a geometry. Pipelines are keyed by the DAG's structure,
 * the leaves' load modes and the width; sizes, strides and offsets are uniforms.
 */
import type { OutputSpec } from '../core/backend.js';
import { numel } from '../core/shape.js';
import { kindOf, libCode, storeExpr, type Kind } from './elementwise-ops.js';
import { emitOps, leavesOf, opKey, valueKind, type EmittedOps, type Expr, type Leaf, type OpNode, type RowNode, type RowOp } from './expr.js';
import { grid, type GpuRuntime, type GpuStorage, type GpuView } from './runtime.js';
import { reduceShapesFor } from './tuning.js';
import { coalesce, helpers, storageDecl, Uniforms } from './wgsl.js';

/** Longest row a row-fused kernel takes: its loops re-read the row, which should stay in cache. */
export const MAX_ROW = 8192;
/** Fewest rows worth a row-fused kernel (one invocation per row: fewer cannot fill a device). */
export const MIN_ROWS = 32;

interface RowGeometry {
  rowStride: number;
  colStride: number;
}

/**
 * The leaf's addresses over the rows of `shape` (offset + r·rowStride + j·colStride), or null when
 * it is read at another shape or its leading axes do not merge into one.
 */
export function rowGeometry(view: GpuView, shape: readonly number[]): RowGeometry | null {
  const r = shape.length;
  if (r === 0 || view.shape.length !== r || view.shape.some((d, i) => d !== shape[i])) return null;
  const lead = coalesce(shape.slice(0, -1), [view.strides.slice(0, -1)]);
  if (lead.shape.length > 1) return null;
  return { rowStride: lead.shape.length ? lead.strides[0][0] : 0, colStride: shape[r - 1] === 1 ? 0 : view.strides[r - 1] };
}

/** Every distinct leaf of `e`, row nodes' arguments included. */
export function allLeaves(e: Expr, into: Leaf[] = [], seen = new Set<Expr>()): Leaf[] {
  if (seen.has(e)) return into;
  seen.add(e);
  if (e.type === 'leaf') into.push(e);
  else if (e.type === 'row') allLeaves(e.arg, into, seen);
  else for (const a of e.args) allLeaves(a, into, seen);
  return into;
}

/** The row nodes of `e`, each after the row nodes its argument reads. */
function rowNodesOf(e: Expr, into: RowNode[] = [], seen = new Set<Expr>()): RowNode[] {
  if (seen.has(e)) return into;
  seen.add(e);
  if (e.type === 'row') {
    rowNodesOf(e.arg, into, seen);
    into.push(e);
  } else if (e.type === 'op') for (const a of e.args) rowNodesOf(a, into, seen);
  return into;
}

/** How an operand is loaded: 'v' a vec4 per unit, 's' one splat per row, 'x' a scalar per element. */
type Mode = 'v' | 's' | 'x';

interface Operand {
  /** Buffer, offset and geometry: what makes two leaves one operand. */
  id: string;
  binding: number;
  mode: Mode;
  base: string;
  col: string;
}

// ±∞ through wgsl.ts bitsF: WGSL rejects the constant expression bitcast<f32>(0x7f800000u).
const IDENTITY: Record<RowOp, string> = { sum: '0.0', prod: '1.0', max: 'bitsF(0xff800000u)', min: 'bitsF(0x7f800000u)' };
const combine = (op: RowOp, a: string, b: string) => ({ sum: `(${a} + ${b})`, prod: `(${a} * ${b})`, max: `maxF(${a}, ${b})`, min: `minF(${a}, ${b})` })[op];

/**
 * Runs `root` (an expression with row nodes over the rows of out.shape) into a fresh contiguous
 * buffer of out.shape (dtype root.dtype) — or, with `perRow` (root the same along each row: its
 * leaves outside row nodes are per-row splats), of one value per row.
 */
export function runRowExpr(rt: GpuRuntime, root: OpNode, out: OutputSpec, perRow = false): GpuStorage {
  const n = numel(out.shape);
  const L = out.shape[out.shape.length - 1];
  const rows = L === 0 ? 0 : n / L;
  const result = rt.alloc(perRow ? rows : n);
  if (n === 0) return result;
  const lanes = reduceShapesFor(rt).rowLanes;
  const k = new RowKernel(root, out, rows, perRow, perRow || result.buffer.size % 16 === 0);
  const code = k.code(lanes);
  rt.dispatch(
    {
      key: `row:w${k.width}:l${lanes}:${k.key()}`,
      code: () => code,
      uniforms: k.u.buffer(),
      readOnly: k.buffers.length,
      workgroups: grid(Math.ceil(rows / lanes), rt.limits.maxComputeWorkgroupsPerDimension),
    },
    [...k.buffers, result],
  );
  return result;
}

/** The WGSL of one row-fused kernel, its bindings and uniforms (built once per dispatch). */
class RowKernel {
  readonly u = new Uniforms();
  readonly buffers: GpuStorage[] = [];
  readonly width: 1 | 4;
  private readonly kinds: Kind[] = [];
  private readonly operands: Operand[] = [];
  private readonly operandOf = new Map<Leaf, number>();
  private readonly operandInit: string[] = [];
  private readonly C: string[];
  private readonly units: string;
  private readonly rowsE: string;
  private readonly ops: EmittedOps = { body: [], key: [], libs: new Set() };
  private readonly signatures = new Map<Expr, string>();
  private readonly firstOf = new Map<string, RowNode>();
  /** Distinct row nodes (by structure), each after those its argument reads. */
  private readonly rowNodes: RowNode[];

  constructor(private readonly root: OpNode, private readonly out: OutputSpec, rows: number, private readonly perRow: boolean, vecOut: boolean) {
    const L = out.shape[out.shape.length - 1];
    const leaves = allLeaves(root);
    const geo = leaves.map((l) => {
      const g = rowGeometry(l.view, out.shape);
      if (!g) throw new Error(`row-fused kernel: a leaf of shape [${l.view.shape}] is not readable by rows of [${out.shape}]`);
      return g;
    });
    const vec4Leaf = (l: Leaf, g: RowGeometry) =>
      (l.view.storage as GpuStorage).buffer.size % 16 === 0 &&
      (g.colStride === 0 || (g.colStride === 1 && l.view.offset % 4 === 0 && (rows === 1 || g.rowStride % 4 === 0)));
    this.width = L % 4 === 0 && vecOut && leaves.every((l, k) => vec4Leaf(l, geo[k])) ? 4 : 1;
    this.C = this.width === 4 ? ['x', 'y', 'z', 'w'] : [''];
    this.units = this.u.u32(L / this.width);
    this.rowsE = this.u.u32(rows);
    leaves.forEach((l, k) => this.addOperand(l, geo[k]));
    // Row nodes of the same structure over the same operands (layer norm's mean, computed again
    // inside its variance) are computed once.
    this.rowNodes = rowNodesOf(root).filter((r) => !this.firstOf.has(this.signature(r)) && this.firstOf.set(this.signature(r), r));
  }

  /** Leaves with the same buffer and geometry share one operand (loaded once). */
  private addOperand(l: Leaf, g: RowGeometry): void {
    const storage = l.view.storage as GpuStorage;
    let binding = this.buffers.indexOf(storage);
    if (binding < 0) {
      binding = this.buffers.push(storage) - 1;
      this.kinds.push(kindOf(l.view.dtype));
    }
    const id = `${binding}|${l.view.offset}|${g.rowStride}|${g.colStride}`;
    let o = this.operands.findIndex((op) => op.id === id);
    if (o < 0) {
      const mode: Mode = g.colStride === 0 ? 's' : this.width === 4 ? 'v' : 'x';
      o = this.operands.push({ id, binding, mode, base: `b${this.operands.length}`, col: this.u.i32(g.colStride) }) - 1;
      this.operandInit.push(`let b${o} = ${this.u.i32(l.view.offset)} + i32(r) * ${this.u.i32(g.rowStride)};`);
    }
    this.operandOf.set(l, o);
  }

  private signature(e: Expr): string {
    let known = this.signatures.get(e);
    if (known === undefined) {
      known = e.type === 'leaf' ? `L${this.operandOf.get(e)}`
        : e.type === 'row' ? `${e.op}(${this.signature(e.arg)})`
        : `${opKey(e)}(${e.args.map((a) => this.signature(a)).join(',')})`;
      this.signatures.set(e, known);
    }
    return known;
  }

  private readonly rowName = (r: RowNode) => `row${this.rowNodes.indexOf(this.firstOf.get(this.signature(r))!)}`;

  private readonly leafValue = (l: Leaf, c: string) => {
    const k = this.operandOf.get(l)!;
    const mode = this.operands[k].mode;
    return mode === 's' ? `s${k}` : mode === 'v' ? `u${k}.${c}` : `u${k}`;
  };

  /** Splats (per-row values, a row's mean) load once per row, before the loops. */
  private splats(): string[] {
    return this.operands.flatMap((o, k) => {
      if (o.mode !== 's') return [];
      return [`let s${k} = ${this.width === 4 ? `rowIn${o.binding}[u32(${o.base}) >> 2u][u32(${o.base}) & 3u]` : `rowIn${o.binding}[u32(${o.base})]`};`];
    });
  }

  /** The loads of unit j of the row for the operands `e` reads along the row. */
  private loads(e: Expr): string[] {
    const used = [...new Set(leavesOf(e).map((l) => this.operandOf.get(l)!))].filter((k) => this.operands[k].mode !== 's');
    return used.map((k) => {
      const o = this.operands[k];
      return o.mode === 'v' ? `let u${k} = rowIn${o.binding}[(u32(${o.base}) >> 2u) + j];` : `let u${k} = rowIn${o.binding}[u32(${o.base} + i32(j) * ${o.col})];`;
    });
  }

  /** A loop over the row's units evaluating `e`, then `tail(name of e's value)`. */
  private loop(e: Expr, tail: (value: (c: string) => string) => string[]): string {
    const before = this.ops.body.length;
    const name = e.type === 'op' ? emitOps(e, this.C, this.leafValue, this.rowName, this.ops) : '';
    const body = this.ops.body.splice(before);
    this.ops.key.push(`[${leavesOf(e).map((l) => this.operandOf.get(l)).join(',')}]`);
    const value = (c: string) => (e.type === 'leaf' ? this.leafValue(e, c) : `${name}${c}`);
    return `for (var j = 0u; j < ${this.units}; j = j + 1u) {\n    ${[...this.loads(e), ...body, ...tail(value)].join('\n    ')}\n  }`;
  }

  /** Row node k: its accumulators (one per component), the loop folding its argument, `let row<k>`. */
  private fold(rn: RowNode, k: number): string {
    if (valueKind(rn.arg) !== 'f32') throw new Error('row-fused kernel: row nodes reduce float32 values');
    if (rn.op === 'max' || rn.op === 'min') this.ops.libs.add(`${rn.op}F`);
    this.ops.key.push(`R${rn.op}`);
    const acc = this.C.map((c) => `a${k}${c}`);
    const loop = this.loop(rn.arg, (value) => this.C.map((c, i) => `${acc[i]} = ${combine(rn.op, acc[i], value(c))};`));
    const total = this.width === 4 ? combine(rn.op, combine(rn.op, acc[0], acc[1]), combine(rn.op, acc[2], acc[3])) : acc[0];
    return `${acc.map((a) => `var ${a}: f32 = ${IDENTITY[rn.op]};`).join(' ')}\n  ${loop}\n  let row${k} = ${total};`;
  }

  /** The output: a loop storing every unit of the row, or (per row) one value. */
  private store(): string {
    const outKind = kindOf(this.out.dtype), rootKind = kindOf(this.root.dtype);
    this.ops.key.push(this.perRow ? 'perRow' : 'out');
    if (this.perRow) {
      if (leavesOf(this.root).some((l) => this.operands[this.operandOf.get(l)!].mode !== 's')) throw new Error('row-fused kernel: a per-row value reads a leaf along the row');
      const name = emitOps(this.root, [''], this.leafValue, this.rowName, this.ops);
      return `${this.ops.body.splice(0).join('\n  ')}\n  outBuf[r] = ${storeExpr(name, rootKind, outKind)};`;
    }
    return this.loop(this.root, (value) => [
      this.width === 4
        ? `outBuf[r * ${this.units} + j] = vec4<${outKind}>(${this.C.map((c) => storeExpr(value(c), rootKind, outKind)).join(', ')});`
        : `outBuf[r * ${this.units} + j] = ${storeExpr(value(''), rootKind, outKind)};`,
    ]);
  }

  code(lanes: number): string {
    const folds = this.rowNodes.map((rn, k) => this.fold(rn, k));
    const store = this.store();
    const outKind = kindOf(this.out.dtype);
    const vec = (k: Kind) => (this.width === 4 ? `vec4<${k}>` : k);
    const decls = this.buffers.map((_, b) => storageDecl(b + 1, `rowIn${b}`, vec(this.kinds[b]), true)).join('\n');
    return `${this.u.decl()}
${libCode(this.ops.libs)}
${helpers('bitsF')}
${decls}
${storageDecl(this.buffers.length + 1, 'outBuf', this.perRow ? outKind : vec(outKind), false)}
@compute @workgroup_size(${lanes})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = gid.y * (nwg.x * ${lanes}u) + gid.x;
  if (r >= ${this.rowsE}) { return; }
  ${this.operandInit.join('\n  ')}
  ${this.splats().join('\n  ')}
  ${folds.join('\n  ')}
  ${store}
}`;
  }

  /** The pipeline key (after `code`): the DAG's structure, operand modes, kinds. */
  key(): string {
    const modes = this.operands.map((o) => `${o.binding}${o.mode}`).join(',');
    return `${this.kinds.join('')}>${kindOf(this.out.dtype)}:(${modes}):${this.ops.key.join(';')}`;
  }
}

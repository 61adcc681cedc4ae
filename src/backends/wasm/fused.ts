/**
 * Fused elementwise programs on the wasm backend: an expression DAG of src/kernels/expr.ts (the
 * representation the WGSL fusion compiles) rendered as one Wasm function, so a chain of
 * elementwise ops reads its inputs once and writes one result instead of a pass per op.
 *
 *   fused(leaf0, …, leaf(L−1), out, n)   for each f32x4 / i32x4 vector i < ⌈n/4⌉: load every dense
 *     leaf's vector, evaluate the op nodes in dependency order into V128 locals (ops.ts gives each
 *     op's instructions), store the root's vector.
 *
 * Leaves: the distinct views the DAG reads (equal views read once). A leaf that reads one element
 * everywhere (a scalar, or a view broadcast from one) is a *splat*: one 4-byte slot in the arena,
 * loaded with v128.load32_splat before the loop, so a relu's 0 or a mask's 1 costs no copy and no
 * memory traffic. A leaf broadcast along its innermost axes over r = 2, 4, 8, … consecutive outputs
 * (a max-pool gradient's window values, r = 2 per row) is copied in compact, one element per r
 * outputs, and its loads broadcast it (v128.load64_splat + a shuffle for r = 2, load32_splat
 * beyond), so its copy is 1/r as long and has r-times longer runs. Every other leaf is copied in
 * dense (elementwise.ts `copyIn`: memcpy for contiguous runs, the Wasm strided copy for the rest)
 * in its own row-major order, which is the output's (an inlined value was made at a shape of the
 * same size, read whole in row-major order: fusion.ts). Whole vectors only: the arena rounds each
 * slot up to 16 bytes, so the last vector touches only slot padding.
 *
 * Modules: one per distinct program (its ops, argument dtypes, DAG shape and each leaf's repeat —
 * not sizes or strides), compiled on first use and cached; a training step repeats the
 * same few dozen programs, so compilation happens in the first step only.
 */
import type { OutputSpec } from '../../core/backend.js';
import type { AnyStorageArray, DType } from '../../core/dtype.js';
import { numel } from '../../core/shape.js';
import type { Expr, Leaf, OpNode } from '../../kernels/expr.js';
import type { CpuStorage } from '../cpu/types.js';
import type { Arena } from './arena.js';
import { I32, ModuleBuilder, OP, SIMD, V128, type FunctionBuilder } from './builder.js';
import { arenaArray, copyIn } from './elementwise.js';
import type { MapKernels } from './kernels-map.js';
import { wasmOp, type OpEmitter } from './ops.js';

export type WasmExpr = Expr<CpuStorage>;
export type WasmLeaf = Leaf<CpuStorage>;
export type WasmNode = OpNode<CpuStorage>;

type Fused = (...args: number[]) => void;

/** The dtype of an expression's value. */
export const dtypeOf = (e: WasmExpr): DType => (e.type === 'leaf' ? e.view.dtype : e.dtype);

/**
 * How many consecutive outputs read each element `l` reads: SPLAT where all read one element
 * (strides 0 or axes 1), r where its innermost non-1 axes are broadcast (stride 0) over r outputs
 * and r is a power of two (then one vector of 4 outputs reads r = 2: two elements, r ≥ 4: one), else 1.
 */
function repeatOf(l: WasmLeaf): number {
  const { shape, strides } = l.view;
  let r = 1;
  let d = shape.length - 1;
  for (; d >= 0 && (shape[d] === 1 || strides[d] === 0); d--) r *= shape[d];
  if (d < 0) return SPLAT;
  return r > 1 && (r & (r - 1)) === 0 ? r : 1;
}
const SPLAT = 0;

/** `l` without its repeated innermost axes (repeatOf), which the program's loads broadcast. */
function compactView(l: WasmLeaf, repeat: number): WasmLeaf['view'] {
  if (repeat === 1) return l.view;
  let left = repeat;
  const shape = [...l.view.shape];
  for (let d = shape.length - 1; left > 1; d--) {
    left /= shape[d];
    shape[d] = 1;
  }
  return { ...l.view, shape };
}

/** Leaves reading the same elements of the same storage are one leaf. */
function leafKey(l: WasmLeaf, ids: Map<CpuStorage, number>): string {
  if (!ids.has(l.view.storage)) ids.set(l.view.storage, ids.size);
  const { offset, strides, dtype } = l.view;
  const id = `${ids.get(l.view.storage)}@${offset}:${dtype}`;
  return repeatOf(l) === SPLAT ? id : `${id}:${l.view.shape.join(',')}:${strides.join(',')}`;
}

/** A DAG in evaluation order: its distinct leaves, its op nodes with argument slots, a cache key. */
interface Program {
  leaves: WasmLeaf[];
  /** Per leaf: repeatOf. */
  repeat: number[];
  /** Op nodes in dependency order; args index values: leaves first, then nodes. */
  nodes: { emit: OpEmitter; args: number[] }[];
  key: string;
}

/** Orders `root`'s DAG for emission; null where an op has no Wasm code (ops.ts). */
function program(root: WasmNode): Program | null {
  const leaves: WasmLeaf[] = [];
  const leafIds = new Map<string, number>();
  const storageIds = new Map<CpuStorage, number>();
  const nodeIds = new Map<WasmExpr, number>();
  const ops: { node: WasmNode; emit: OpEmitter; args: (['leaf' | 'node', number])[] }[] = [];
  const visit = (e: WasmExpr): ['leaf' | 'node', number] | null => {
    if (e.type === 'row') return null;
    if (e.type === 'leaf') {
      const k = leafKey(e, storageIds);
      if (!leafIds.has(k)) { leafIds.set(k, leaves.length); leaves.push(e); }
      return ['leaf', leafIds.get(k)!];
    }
    const known = nodeIds.get(e);
    if (known !== undefined) return ['node', known];
    const emit = wasmOp(e.op.name, e.args.map(dtypeOf), e.dtype);
    if (!emit) return null;
    const args: (['leaf' | 'node', number])[] = [];
    for (const a of e.args) {
      const r = visit(a);
      if (!r) return null;
      args.push(r);
    }
    nodeIds.set(e, ops.length);
    ops.push({ node: e, emit, args });
    return ['node', ops.length - 1];
  };
  if (!visit(root)) return null;
  const repeat = leaves.map(repeatOf);
  const slot = ([kind, i]: ['leaf' | 'node', number]) => (kind === 'leaf' ? i : leaves.length + i);
  const nodes = ops.map((o) => ({ emit: o.emit, args: o.args.map(slot) }));
  const key = [
    leaves.map((l, i) => `${l.view.dtype}×${repeat[i]}`).join(','),
    ...ops.map((o, i) => `${i}=${o.node.op.name}:${o.node.args.map(dtypeOf).join(',')}>${o.node.dtype}(${nodes[i].args.join(',')})`),
  ].join(';');
  return { leaves, repeat, nodes, key };
}

/** Emits the body of `fused` (see the header) for `p`. */
function emitProgram(f: FunctionBuilder, p: Program): void {
  const L = p.leaves.length;
  const [out, n] = [L, L + 1];
  const [i, end] = [f.local(I32), f.local(I32)];
  const values = Array.from({ length: L + p.nodes.length }, () => f.local(V128));
  p.repeat.forEach((r, k) => { if (r === SPLAT) f.localGet(k).simd(SIMD.v128_load32_splat, { alignLog2: 2 }).localSet(values[k]); });
  // end = ⌈n/4⌉ · 16 bytes; i runs over byte offsets.
  f.localGet(n).i32Const(3).op(OP.i32_add).i32Const(~3).op(OP.i32_and).i32Const(2).op(OP.i32_shl).localSet(end);
  f.forRange(i, 0, end, 16, () => {
    p.repeat.forEach((r, k) => { if (r !== SPLAT) emitLeafLoad(f, k, i, r, values[k]); });
    p.nodes.forEach((node, j) => {
      node.emit(f, node.args.map((a) => values[a]));
      f.localSet(values[L + j]);
    });
    f.localGet(out).localGet(i).op(OP.i32_add).localGet(values.at(-1)!).simd(SIMD.v128_store);
  });
}

/** Sets local `into` to the vector of leaf `k` (its compact copy's address is parameter k) for
 *  the outputs at byte offset `i`: a plain load, or for a leaf repeated r times, its element(s) there. */
function emitLeafLoad(f: FunctionBuilder, k: number, i: number, r: number, into: number): void {
  f.localGet(k).localGet(i);
  // Outputs 4i'… share element ⌊4i'/r⌋: byte offset i / r, rounded down to an element for r > 4.
  if (r > 1) f.i32Const(Math.log2(r)).op(OP.i32_shr_u);
  if (r > 4) f.i32Const(~3).op(OP.i32_and);
  f.op(OP.i32_add);
  if (r === 1) f.simd(SIMD.v128_load).localSet(into);
  else if (r > 2) f.simd(SIMD.v128_load32_splat, { alignLog2: 2 }).localSet(into);
  else f.simd(SIMD.v128_load64_splat, { alignLog2: 3 }).localTee(into).localGet(into).shuffle(PAIRS_DOUBLED).localSet(into);
}

/** Lanes a, b, a, b → a, a, b, b (r = 2). */
const PAIRS_DOUBLED = [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7];

/** Compiled programs by key; cleared when it reaches MAX_PROGRAMS (programs are a few hundred bytes). */
const MAX_PROGRAMS = 1024;

export class FusedPrograms {
  private readonly cache = new Map<string, Fused>();

  constructor(private readonly memory: WebAssembly.Memory) {}

  private compile(p: Program): Fused {
    const hit = this.cache.get(p.key);
    if (hit) return hit;
    if (this.cache.size >= MAX_PROGRAMS) this.cache.clear();
    const m = new ModuleBuilder().importMemory({ module: 'env', name: 'memory', initial: 1 });
    m.function('fused', Array(p.leaves.length + 2).fill(I32), [], (f) => emitProgram(f, p));
    const instance = new WebAssembly.Instance(new WebAssembly.Module(m.encode()), { env: { memory: this.memory } });
    const fn = instance.exports.fused as Fused;
    this.cache.set(p.key, fn);
    return fn;
  }

  /** Distinct programs compiled so far. */
  get size(): number {
    return this.cache.size;
  }

  /**
   * Evaluates `root` (every leaf a view of out.shape's size) into the arena; returns the result as
   * a view of the arena (the caller copies it out). Throws where an op has no Wasm code (fusion.ts
   * asks ops.ts first).
   */
  run(arena: Arena, copy: MapKernels['copy'], root: WasmNode, out: OutputSpec): AnyStorageArray {
    const p = program(root);
    if (!p) throw new Error(`fused: an op of ${root.op.name}'s program has no Wasm code`);
    const n = numel(out.shape);
    arena.reset();
    const at = p.leaves.map((_, k) => arena.alloc(root.op.name, p.repeat[k] === SPLAT ? 1 : n / p.repeat[k]));
    const result = arena.alloc(root.op.name, n);
    p.leaves.forEach((l, k) => {
      if (p.repeat[k] === SPLAT) arenaArray(arena, l.view.dtype)[at[k] / 4] = l.view.storage.data[l.view.offset];
      else copyIn(arena, copy, compactView(l, p.repeat[k]), compactView(l, p.repeat[k]).shape, at[k]);
    });
    if (n > 0) this.compile(p)(...at, result, n);
    return arenaArray(arena, out.dtype).subarray(result / 4, result / 4 + n);
  }
}

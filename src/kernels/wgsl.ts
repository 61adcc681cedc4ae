/**
 * Shared pieces of WGSL code generation used by the non-contraction kernel families
 * (elementwise, reduce, gather, movement, random, sort).
 *
 * Why kernels are generic over rank and op: on lavapipe the first dispatch of every new pipeline
 * JIT-compiles it with LLVM, which costs 0.3–0.8 s per shader on a 2-core machine (Mesa's disk
 * cache hides it on later runs). Per-(op, rank, layout) specialization would mean hundreds of
 * pipelines and minutes of compilation, so these kernels keep shapes, strides, ranks, addressing
 * modes and (for elementwise and reductions) the op itself in uniforms; a pipeline is keyed only by
 * the dtypes and the kernel's structure. Index arithmetic stays cheap because views are first
 * merged with `coalesce` (most collapse to rank 0–2) and the all-contiguous case skips it entirely.
 *
 * Uniforms: a kernel packs its scalar parameters into 32-bit words with `Uniforms`. The WGSL side
 * sees them as `var<uniform> U: array<vec4<u32>, N>`; word k is `U[k/4][k%4]` (bitcast to i32/f32
 * where needed) and `uw(k)` reads a word at a runtime index (for per-axis arrays). The accessor
 * expressions are produced while the words are pushed, so host and shader agree on the layout as
 * long as a kernel pushes the same sequence of words for one cache key.
 *
 * Indexing: a dispatch of `n` invocations uses a 1-D workgroup of `WG` lanes and a 2-D grid of
 * workgroups (see `grid` in runtime.ts); the flat invocation index is
 * `(wid.y * nwg.x + wid.x) * WG + lid`.
 *
 * NaN handling: lavapipe's compiler folds `x != x` to false and orders every float comparison, so
 * NaN tests are done on the bits (`isNan`), never with self-comparison. A WGSL const-expression may
 * not evaluate to inf or NaN, so such constants are built from a variable at run time.
 */
import type { DType } from '../core/dtype.js';
import { wgslType } from '../core/dtype.js';
import { grid } from './runtime.js';

/** Default workgroup size of the 1-D element-parallel kernels (a multiple of lavapipe's 8 lanes). */
export const WG = 256;
/** Rank capacity of the per-axis uniform arrays (views of higher merged rank get their own key). */
export const MAXR = 8;

export class Uniforms {
  private readonly words: number[] = [];

  private at(k: number): string {
    return `U[${k >> 2}].${'xyzw'[k & 3]}`;
  }

  /** Pushes a u32 word; returns its WGSL expression (type u32). */
  u32(v: number): string {
    this.words.push(v >>> 0);
    return this.at(this.words.length - 1);
  }

  /** Pushes an i32 word; returns its WGSL expression (type i32). */
  i32(v: number): string {
    this.words.push(v | 0);
    return `bitcast<i32>(${this.at(this.words.length - 1)})`;
  }

  /** Pushes an f32 word; returns its WGSL expression (type f32). */
  f32(v: number): string {
    const f = new Float32Array([v]);
    this.words.push(new Uint32Array(f.buffer)[0]);
    return `bitcast<f32>(${this.at(this.words.length - 1)})`;
  }

  /** Pushes raw 32 bits (already in the storage layout of some dtype); returns a u32 expression. */
  bits(v: number): string {
    return this.u32(v);
  }

  /** Pushes `cap` words (values, zero padded); returns the index of the first (for `uw(base + d)`). */
  array(values: readonly number[], cap: number): number {
    const base = this.words.length;
    for (let i = 0; i < cap; i++) this.words.push((values[i] ?? 0) >>> 0);
    return base;
  }

  get length(): number {
    return this.words.length;
  }

  /** The words, padded to a multiple of 16 bytes. */
  buffer(): ArrayBuffer {
    const n = Math.max(4, Math.ceil(this.words.length / 4) * 4);
    const out = new Uint32Array(n);
    for (let i = 0; i < this.words.length; i++) out[i] = this.words[i];
    return out.buffer;
  }

  /** WGSL declaration of the uniform block at binding 0, plus `uw(k)` (word k at a runtime index). */
  decl(): string {
    const n = Math.max(1, Math.ceil(this.words.length / 4));
    return `@group(0) @binding(0) var<uniform> U: array<vec4<u32>, ${n}>;
fn uw(k: u32) -> u32 { return U[k >> 2u][k & 3u]; }
fn uwi(k: u32) -> i32 { return bitcast<i32>(U[k >> 2u][k & 3u]); }`;
  }
}

/** Storage buffer declaration; `binding` counts the uniform block as binding 0. */
export function storageDecl(binding: number, name: string, type: string, readOnly: boolean): string {
  return `@group(0) @binding(${binding}) var<storage, ${readOnly ? 'read' : 'read_write'}> ${name}: array<${type}>;`;
}

/** The entry-point header of a 1-D element-parallel kernel; defines `i: u32` and returns when i >= n. */
export function flatMain(wg: number, nExpr: string): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * ${wg}u + lid;
  if (i >= ${nExpr}) { return; }`;
}

/** Workgroup grid for `n` invocations of `wg` lanes each. */
export function flatGrid(n: number, wg: number, maxPerDim: number): [number, number, number] {
  return grid(Math.ceil(n / wg), maxPerDim);
}

/**
 * Merges axes of `shape` so that every operand (given by its strides over `shape`) still reads the
 * same elements: size-1 axes are dropped, and axes d, d+1 merge when, for every operand,
 * strides[d] == strides[d+1] * shape[d+1]. Returns the merged shape and per-operand strides.
 */
export function coalesce(shape: readonly number[], strides: (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k][last] === s[d] * shape[d])) {
      outShape[last] *= shape[d];
      strides.forEach((s, k) => (outStrides[k][last] = s[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, k) => outStrides[k].push(s[d]));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/** True when `strides` are the row-major strides of `shape` (size-1 axes ignored). */
export function isRowMajor(shape: readonly number[], strides: readonly number[]): boolean {
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== s) return false;
    s *= shape[d];
  }
  return true;
}

/** Rank capacity for a merged rank (MAXR, or the rank itself beyond it; part of a cache key). */
export const capFor = (rank: number): number => (rank <= MAXR ? MAXR : rank);

/**
 * Runtime-rank strided addressing of several operands over one (merged) shape. Pushes onto `u`:
 * rank, a `fast` flag (every operand contiguous or all-zero strides), the dims, and per operand its
 * offset, a contiguity flag and its strides. `code(flat, names)` emits WGSL declaring
 * `var names[k]: i32` = the element index of operand k for the row-major flat index `flat` (u32):
 * `offset + flat` or `offset` on the fast path, otherwise one div/mod per merged axis.
 * The shape must already be merged (`coalesce`); the rank capacity is `cap` (see `capFor`).
 */
export class Addr {
  private readonly rank: string;
  private readonly fast: string;
  private readonly dims: number;
  private readonly ops: { off: string; contig: string; strides: number }[];

  constructor(u: Uniforms, shape: readonly number[], operands: { strides: readonly number[]; offset: number }[], readonly cap = capFor(shape.length)) {
    const modes = operands.map((o) => (o.strides.every((s) => s === 0) ? 'z' : isRowMajor(shape, o.strides) ? 'c' : 'g'));
    this.rank = u.u32(shape.length);
    this.fast = u.u32(modes.includes('g') ? 0 : 1);
    this.dims = u.array(shape, cap);
    this.ops = operands.map((o, k) => ({
      off: u.i32(o.offset),
      contig: u.u32(modes[k] === 'c' ? 1 : 0),
      strides: u.array(o.strides.map((s) => s | 0), cap),
    }));
  }

  code(flat: string, names: string[], tag = 'a'): string {
    const decl = this.ops
      .map((o, k) => `var ${names[k]}: i32 = ${o.off} + select(0, i32(${flat}), ${o.contig} != 0u);`)
      .join('\n  ');
    const loopOff = this.ops.map((o, k) => `${names[k]} = ${o.off};`).join(' ');
    const loopAdd = this.ops.map((o, k) => `${names[k]} = ${names[k]} + c * uwi(${o.strides}u + d);`).join('\n      ');
    return `${decl}
  if (${this.fast} == 0u) {
    ${loopOff}
    var ${tag}rem = ${flat};
    for (var dd = i32(${this.rank}) - 1; dd >= 0; dd = dd - 1) {
      let d = u32(dd);
      let sz = uw(${this.dims}u + d);
      let c = i32(${tag}rem % sz);
      ${tag}rem = ${tag}rem / sz;
      ${loopAdd}
    }
  }`;
  }
}

/** WGSL helper functions shared by kernels (include once per module via `helpers(...)`). */
export const WGSL_HELPERS: Record<string, string> = {
  isNan: `fn isNan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }`,
  isInf: `fn isInf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }`,
  nanF: `fn nanF() -> f32 { var b = 0x7fc00000u; return bitcast<f32>(b); }`,
  infF: `fn infF() -> f32 { var b = 0x7f800000u; return bitcast<f32>(b); }`,
  bitsF: `fn bitsF(b0: u32) -> f32 { var b = b0; return bitcast<f32>(b); }`,
};

/** Concatenates the named helper functions. */
export function helpers(...names: string[]): string {
  return [...new Set(names)].map((n) => WGSL_HELPERS[n]).join('\n');
}

/** WGSL storage type name of a dtype (bool as u32). */
export const wt = (d: DType): 'f32' | 'i32' | 'u32' => wgslType(d);

/** The 32 bits that store `value` in `dtype`, converted as a JS typed array store would. */
export function storageBits(dtype: DType, value: number): number {
  switch (dtype) {
    case 'float32':
      return new Uint32Array(new Float32Array([value]).buffer)[0];
    case 'int32':
      return new Int32Array([value])[0] >>> 0;
    case 'uint32':
    case 'bool':
      return new Uint32Array([value])[0];
  }
}

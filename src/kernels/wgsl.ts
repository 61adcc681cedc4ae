/**
 * Shared pieces of WGSL code generation used by the non-contraction kernel families
 * (elementwise, reduce, gather, movement, random, sort).
 *
 * Pipeline count matters: on lavapipe the first dispatch of every new pipeline JIT-compiles it with
 * LLVM, a fraction of a second per shader on a small CPU (docs/benchmarks.md#figures-behind-the-kernel-headers; Mesa's
 * disk cache hides it on later runs). So
 * shapes, strides, offsets and ranks are always uniforms: the all-contiguous case (the common one)
 * has a fast path, strided views a general path unrolled to rank 4 with uniform guards (views are
 * first merged with `coalesce`, so most collapse to rank 1–3). Pipelines are keyed by op, dtypes
 * and the path ('f' / 'g4'), never by shape.
 *
 * Uniforms: a kernel packs its scalar parameters into 32-bit words with `Uniforms`. The WGSL side
 * sees them as `var<uniform> U: array<vec4<u32>, N>`; word k is `U[k/4][k%4]` (bitcast to i32/f32
 * where needed) and `uw(k)` reads a word at a runtime index (for per-axis arrays). The accessor
 * expressions are produced while the words are pushed, so host and shader agree on the layout as
 * long as a kernel pushes the same sequence of words for one cache key. (Prefer fixed positions to
 * `uw(k)` in hot loops: a dynamic offset becomes a per-lane gather on lavapipe.)
 *
 * Indexing: element-parallel kernels use 1-D workgroups of `WG` lanes, PER elements per lane, and
 * a 2-D grid of workgroups (see `grid` in runtime.ts) — see `flatMain`. Kernels use
 * `local_invocation_id.x`, never `local_invocation_index`, which lavapipe computes slowly.
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

  /**
   * Pushes a divisor d ≥ 0 with its magic multiplier and shift (see `udiv`); returns their
   * expressions.
   */
  divisor(d: number): Divisor {
    const [m, sh] = divisorMagic(d);
    return { d: this.u32(d), m: this.u32(m), s: this.u32(sh) };
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

/**
 * Division by a run-time divisor without a divide instruction. GPUs and lavapipe's x86 code have
 * no vector integer divide: lavapipe runs a u32 `/` or `%` one lane at a time, which made strided
 * addressing (one div and mod per axis per element) much slower than this multiply-high form
 * (docs/benchmarks.md#figures-behind-the-kernel-headers)
 * (Granlund & Montgomery 1994, round-up method for 31-bit dividends): with l = ⌈log2 d⌉ and
 * m = ⌈2^(31+l) / d⌉ < 2^32, ⌊n / d⌋ = mulhi(n, m) >> (l − 1) for every n < 2^31 (element indices
 * are). d = 1 is flagged by m = 0. mulhi is built from 16-bit halves (WGSL has no 64-bit product).
 */
export interface Divisor {
  d: string;
  m: string;
  s: string;
}

/** [m, l − 1] for divisor d (d = 1: [0, 0]; d = 0, an empty axis that is never divided by, too). */
export function divisorMagic(d: number): [number, number] {
  if (!Number.isInteger(d) || d < 0 || d > 2 ** 31) throw new Error(`divisorMagic: bad divisor ${d}`);
  if (d <= 1) return [0, 0];
  let l = 0;
  while (2 ** l < d) l++;
  const m = (2n ** BigInt(31 + l) + BigInt(d) - 1n) / BigInt(d);
  return [Number(m), l - 1];
}

/** WGSL statements: `let <q> = n / dv; let <r> = n − q·d;` (n: a u32 expression < 2^31; r optional). */
export function udiv(n: string, dv: Divisor, q: string, r?: string): string {
  const t = `${q}_`;
  const code = `let ${t}n = ${n}; let ${t}a0 = ${t}n & 0xffffu; let ${t}a1 = ${t}n >> 16u; let ${t}b0 = ${dv.m} & 0xffffu; let ${t}b1 = ${dv.m} >> 16u;
  let ${t}p01 = ${t}a0 * ${t}b1; let ${t}p10 = ${t}a1 * ${t}b0;
  let ${t}mid = ((${t}a0 * ${t}b0) >> 16u) + (${t}p01 & 0xffffu) + (${t}p10 & 0xffffu);
  let ${q} = select((${t}a1 * ${t}b1 + (${t}p01 >> 16u) + (${t}p10 >> 16u) + (${t}mid >> 16u)) >> ${dv.s}, ${t}n, ${dv.m} == 0u);`;
  return r ? `${code} let ${r} = ${t}n - ${q} * ${dv.d};` : code;
}

/** Storage buffer declaration; `binding` counts the uniform block as binding 0. */
export function storageDecl(binding: number, name: string, type: string, readOnly: boolean): string {
  return `@group(0) @binding(${binding}) var<storage, ${readOnly ? 'read' : 'read_write'}> ${name}: array<${type}>;`;
}

/** Elements per invocation of the element-parallel kernels (see `flatMain`). */
export const PER = 16;

/**
 * The entry-point header of a 1-D element-parallel kernel: each invocation handles up to PER
 * elements `i` (u32), WG apart (so a workgroup covers WG·PER consecutive elements and lanes stay
 * coalesced); the body runs inside a loop that stops at n and must be closed with FLAT_END.
 * Few large workgroups matter on lavapipe, where each workgroup is a task with real overhead (a
 * plain add runs several times faster with 16 elements per invocation than with one:
 * docs/benchmarks.md#workgroup-shape-on-a-software-rasterizer). The lane index comes
 * from local_invocation_id: `local_invocation_index` is markedly slower there.
 */
export function flatMain(wg: number, nExpr: string): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lidv: vec3<u32>) {
  let flatBase = (wid.y * nwg.x + wid.x) * ${wg * PER}u + lidv.x;
  for (var flatK = 0u; flatK < ${PER}u; flatK = flatK + 1u) {
  let i = flatBase + flatK * ${wg}u;
  if (i >= ${nExpr}) { break; }`;
}

/** Closes a `flatMain` body. */
export const FLAT_END = '  }\n}';

/** Workgroup grid for `n` elements handled by `flatMain` kernels of `wg` lanes. */
export function flatGrid(n: number, wg: number, maxPerDim: number): [number, number, number] {
  return grid(Math.ceil(n / (wg * PER)), maxPerDim);
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

/** Rank capacity of the general addressing path: 4, or the merged rank when larger (rare). */
export const capFor = (rank: number): number => Math.max(4, rank);

/**
 * Strided addressing of several operands over one (merged, see `coalesce`) shape. When every
 * operand is contiguous or all-zero-strided (a broadcast scalar) it takes the rank-independent fast
 * path — index = offset + flat, or offset — with the per-operand choice in a uniform. Otherwise the
 * general path unravels `flat` with one div/mod per axis, unrolled to a rank capacity of 4 with a
 * uniform `rank > d` guard per axis: uniforms are read at fixed positions (a runtime loop reads
 * them at dynamic offsets, which lavapipe turns into per-lane gathers, measured several times
 * slower: docs/benchmarks.md#figures-behind-the-kernel-headers) while
 * one pipeline still serves every merged rank up to 4. `key` ('f' or 'g<cap>') must be part of the
 * pipeline key. `code(flat, names)` emits WGSL declaring `var names[k]: i32` = the element index
 * of operand k for the row-major flat index `flat` (u32).
 */
export class Addr {
  readonly key: string;
  private readonly fast: boolean;
  private readonly rank: string = '';
  private readonly dims: Divisor[] = [];
  private readonly ops: { off: string; contig: string; strides: string[] }[];

  constructor(u: Uniforms, shape: readonly number[], operands: { strides: readonly number[]; offset: number }[]) {
    const modes = operands.map((o) => (o.strides.every((s) => s === 0) ? 'z' : isRowMajor(shape, o.strides) ? 'c' : 'g'));
    this.fast = !modes.includes('g');
    const cap = capFor(shape.length);
    this.key = this.fast ? 'f' : `g${cap}`;
    if (!this.fast) {
      this.rank = u.u32(shape.length);
      for (let d = 0; d < cap; d++) this.dims.push(u.divisor(shape[d] ?? 1));
    }
    this.ops = operands.map((o, k) => ({
      off: u.i32(o.offset),
      contig: this.fast ? u.u32(modes[k] === 'c' ? 1 : 0) : '',
      strides: this.fast ? [] : Array.from({ length: cap }, (_, d) => u.i32(o.strides[d] ?? 0)),
    }));
  }

  code(flat: string, names: string[], tag = 'ax'): string {
    if (this.fast) {
      return this.ops.map((o, k) => `var ${names[k]}: i32 = ${o.off} + select(0, i32(${flat}), ${o.contig} != 0u);`).join('\n  ');
    }
    const lines: string[] = [`var ${tag}rem = ${flat};`];
    for (const [k, o] of this.ops.entries()) lines.push(`var ${names[k]}: i32 = ${o.off};`);
    for (let d = this.dims.length - 1; d >= 0; d--) {
      const adds = this.ops.map((o, k) => `${names[k]} = ${names[k]} + ${tag}c * ${o.strides[d]};`).join(' ');
      const split = d > 0 ? `${udiv(`${tag}rem`, this.dims[d], `${tag}q`, `${tag}r`)}\n  let ${tag}c = i32(${tag}r); ${tag}rem = ${tag}q;` : `let ${tag}c = i32(${tag}rem);`;
      lines.push(`if (${this.rank} > ${d}u) {\n  ${split} ${adds} }`);
    }
    return lines.join('\n  ');
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

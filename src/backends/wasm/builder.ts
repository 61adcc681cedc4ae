/**
 * A small WebAssembly module builder: writes the binary format (spec §5) directly, so the wasm
 * backend's kernels are emitted by TypeScript at start-up, with no compiler toolchain.
 *
 * It covers what the kernels use and nothing more: function types, one imported memory (optionally
 * shared, for worker threads later), exported functions with typed locals, structured control
 * (block / loop / if), i32, f32 and a few f64 scalar instructions and the 128-bit SIMD instructions (prefix
 * 0xfd), including relaxed SIMD's f32x4.relaxed_madd. Instructions are emitted in stack order, as in
 * the text format: `f.localGet(a).localGet(b).op(OP.i32_add)`.
 */

/** Value types (spec §5.3.1). */
export const I32 = 0x7f;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof F64 | typeof V128;

/** Single-byte opcodes (spec §5.4). */
export const OP = {
  unreachable: 0x00, nop: 0x01, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b,
  br: 0x0c, br_if: 0x0d, return: 0x0f, drop: 0x1a, select: 0x1b,
  local_get: 0x20, local_set: 0x21, local_tee: 0x22,
  i32_load: 0x28, f32_load: 0x2a, i32_store: 0x36, f32_store: 0x38,
  i32_const: 0x41, f32_const: 0x43, f64_const: 0x44,
  i32_eqz: 0x45, i32_eq: 0x46, i32_ne: 0x47, i32_lt_s: 0x48, i32_lt_u: 0x49, i32_gt_s: 0x4a,
  i32_gt_u: 0x4b, i32_le_s: 0x4c, i32_le_u: 0x4d, i32_ge_s: 0x4e, i32_ge_u: 0x4f,
  i32_add: 0x6a, i32_sub: 0x6b, i32_mul: 0x6c, i32_and: 0x71, i32_or: 0x72, i32_shl: 0x74, i32_shr_u: 0x76,
  f32_abs: 0x8b, f32_neg: 0x8c, f32_sqrt: 0x91, f32_add: 0x92, f32_sub: 0x93, f32_mul: 0x94,
  f32_div: 0x95, f32_min: 0x96, f32_max: 0x97,
  f64_add: 0xa0, f32_demote_f64: 0xb6, f64_promote_f32: 0xbb,
} as const;

/** SIMD opcodes: prefix 0xfd, then the number as a LEB128 u32 (SIMD proposal, relaxed SIMD proposal). */
export const SIMD = {
  v128_load: 0x00, v128_load32_splat: 0x09, v128_load64_splat: 0x0a, v128_store: 0x0b, v128_const: 0x0c,
  i32x4_splat: 0x11, f32x4_splat: 0x13, f32x4_extract_lane: 0x1f,
  i32x4_eq: 0x37, i32x4_ne: 0x38,
  f32x4_eq: 0x41, f32x4_ne: 0x42, f32x4_lt: 0x43, f32x4_gt: 0x44, f32x4_le: 0x45, f32x4_ge: 0x46,
  v128_and: 0x4e, v128_bitselect: 0x52,
  f32x4_ceil: 0x67, f32x4_floor: 0x68, f32x4_nearest: 0x6a,
  i32x4_trunc_sat_f32x4_s: 0xf8, i32x4_trunc_sat_f32x4_u: 0xf9, f32x4_convert_i32x4_s: 0xfa, f32x4_convert_i32x4_u: 0xfb,
  f32x4_abs: 0xe0, f32x4_neg: 0xe1, f32x4_sqrt: 0xe3, f32x4_add: 0xe4, f32x4_sub: 0xe5,
  f32x4_mul: 0xe6, f32x4_div: 0xe7, f32x4_min: 0xe8, f32x4_max: 0xe9,
  f32x4_relaxed_madd: 0x105,
  // f64x2 lanes and i64x2 bits: the float64 evaluation of transcendental ops (transcendental.ts).
  i8x16_shuffle: 0x0d, f64x2_splat: 0x14, v128_or: 0x50,
  f32x4_demote_f64x2_zero: 0x5e, f64x2_promote_low_f32x4: 0x5f,
  f64x2_eq: 0x47, f64x2_ne: 0x48, f64x2_lt: 0x49, f64x2_gt: 0x4a, f64x2_nearest: 0x94,
  i64x2_shl: 0xcb, i64x2_shr_u: 0xcd, i64x2_add: 0xce, i64x2_sub: 0xd1, i64x2_extend_low_i32x4_s: 0xc7,
  f64x2_sqrt: 0xef, f64x2_add: 0xf0, f64x2_sub: 0xf1, f64x2_mul: 0xf2, f64x2_div: 0xf3, f64x2_min: 0xf4, f64x2_max: 0xf5,
  i32x4_trunc_sat_f64x2_s_zero: 0xfc,
} as const;
export type SimdOp = (typeof SIMD)[keyof typeof SIMD];
const SIMD_MEMORY_OPS: ReadonlySet<number> = new Set([SIMD.v128_load, SIMD.v128_load32_splat, SIMD.v128_load64_splat, SIMD.v128_store]);

/** Unsigned LEB128 of a non-negative integer below 2^32. */
export function uleb(n: number): number[] {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`uleb: ${n} is not a u32`);
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** Signed LEB128 of an integer in [-2^31, 2^31). */
export function sleb(n: number): number[] {
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new RangeError(`sleb: ${n} is not an i32`);
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** A name: its UTF-8 byte length, then the bytes (spec §5.2.4). */
const name = (s: string): number[] => {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
};
/** A vector: its length, then the items (spec §5.1.3). */
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

/** One function's body: its locals and its instructions. Parameters are locals 0..params-1. */
export class FunctionBuilder {
  readonly code: number[] = [];
  private readonly locals: ValType[] = [];

  constructor(readonly params: readonly ValType[], readonly results: readonly ValType[]) {}

  /** Declares a local of `type`; returns its index. */
  local(type: ValType): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }

  /** Raw opcode bytes. */
  op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }

  localGet(i: number): this { return this.op(OP.local_get, ...uleb(i)); }
  localSet(i: number): this { return this.op(OP.local_set, ...uleb(i)); }
  localTee(i: number): this { return this.op(OP.local_tee, ...uleb(i)); }
  i32Const(v: number): this { return this.op(OP.i32_const, ...sleb(v | 0)); }
  f32Const(v: number): this { return this.op(OP.f32_const, ...new Uint8Array(Float32Array.of(v).buffer)); }
  f64Const(v: number): this { return this.op(OP.f64_const, ...new Uint8Array(Float64Array.of(v).buffer)); }

  /** A scalar load or store with `offset` bytes added to the address and alignment 2^alignLog2. */
  mem(opcode: number, offset = 0, alignLog2 = 2): this { return this.op(opcode, ...uleb(alignLog2), ...uleb(offset)); }

  /** A SIMD instruction; loads and stores get a memory argument (`offset` bytes added to the
   *  address, alignment hint 2^alignLog2, 16 bytes by default). */
  simd(op: SimdOp, memarg: { offset?: number; alignLog2?: number } = {}): this {
    this.op(0xfd, ...uleb(op));
    if (SIMD_MEMORY_OPS.has(op)) this.op(...uleb(memarg.alignLog2 ?? 4), ...uleb(memarg.offset ?? 0));
    return this;
  }

  /** `i8x16.shuffle` of the two vectors on the stack: byte i of the result is byte lanes[i] of their concatenation. */
  shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16 || lanes.some((l) => l < 0 || l > 31)) throw new RangeError('shuffle: 16 lane indices below 32');
    return this.simd(SIMD.i8x16_shuffle).op(...lanes);
  }

  /** A v128 of two equal f64 lanes. */
  f64x2Const(v: number): this {
    return this.simd(SIMD.v128_const).op(...new Uint8Array(Float64Array.of(v, v).buffer));
  }

  /** A v128 of two equal i64 lanes. */
  i64x2Const(v: bigint): this {
    return this.simd(SIMD.v128_const).op(...new Uint8Array(BigInt64Array.of(v, v).buffer));
  }

  /** A v128 of four equal f32 lanes. */
  f32x4Const(v: number): this {
    const lanes = new Uint8Array(Float32Array.of(v, v, v, v).buffer);
    return this.simd(SIMD.v128_const).op(...lanes);
  }

  /** `block … end`: a `br` to it jumps past the end. */
  block(body: () => void): this { this.op(OP.block, 0x40); body(); return this.op(OP.end); }
  /** `loop … end`: a `br` to it jumps back to the start. */
  loop(body: () => void): this { this.op(OP.loop, 0x40); body(); return this.op(OP.end); }
  /** `if … end` on the i32 on the stack. */
  if(body: () => void): this { this.op(OP.if, 0x40); body(); return this.op(OP.end); }
  br(depth: number): this { return this.op(OP.br, ...uleb(depth)); }
  brIf(depth: number): this { return this.op(OP.br_if, ...uleb(depth)); }

  /** `for (i = from; i < to; i += step) body()` over i32 locals, `to` a local; skipped when from ≥ to. */
  forRange(i: number, from: number, to: number, step: number, body: () => void): this {
    this.i32Const(from).localSet(i);
    return this.block(() => {
      this.localGet(i).localGet(to).op(OP.i32_ge_s).brIf(0);
      this.loop(() => {
        body();
        this.localGet(i).i32Const(step).op(OP.i32_add).localTee(i).localGet(to).op(OP.i32_lt_s).brIf(0);
      });
    });
  }

  /** The function body's encoding (spec §5.5.13): locals grouped by runs of one type, code, end. */
  encode(): number[] {
    const groups: number[][] = [];
    for (let i = 0; i < this.locals.length;) {
      let j = i;
      while (j < this.locals.length && this.locals[j] === this.locals[i]) j++;
      groups.push([...uleb(j - i), this.locals[i]]);
      i = j;
    }
    const body = [...vec(groups), ...this.code, OP.end];
    return [...uleb(body.length), ...body];
  }
}

export interface MemoryImport {
  module: string;
  name: string;
  /** Pages of 64 KiB. */
  initial: number;
  maximum?: number;
  /** A shared memory (needs `maximum`), as worker threads will use. */
  shared?: boolean;
}

/** A module: an optional imported memory and exported functions. */
export class ModuleBuilder {
  private memory: MemoryImport | null = null;
  private readonly functions: { name: string; fn: FunctionBuilder }[] = [];

  importMemory(m: MemoryImport): this {
    if (m.shared && m.maximum === undefined) throw new Error('a shared memory needs a maximum size');
    this.memory = m;
    return this;
  }

  /** Adds an exported function; `body` emits its instructions. */
  function(name: string, params: ValType[], results: ValType[], body: (f: FunctionBuilder) => void): this {
    const fn = new FunctionBuilder(params, results);
    body(fn);
    this.functions.push({ name, fn });
    return this;
  }

  /** The module's bytes. Each function gets its own type (duplicates are allowed by the format). */
  encode(): Uint8Array<ArrayBuffer> {
    const types = this.functions.map(({ fn }) => [0x60, ...uleb(fn.params.length), ...fn.params, ...uleb(fn.results.length), ...fn.results]);
    const imports: number[][] = [];
    if (this.memory) {
      const m = this.memory;
      const flags = (m.maximum !== undefined ? 1 : 0) | (m.shared ? 2 : 0);
      const limits = [flags, ...uleb(m.initial), ...(m.maximum !== undefined ? uleb(m.maximum) : [])];
      imports.push([...name(m.module), ...name(m.name), 0x02, ...limits]);
    }
    const exports = this.functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]);
    const bytes = [
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
      ...section(1, vec(types)),
      ...(imports.length ? section(2, vec(imports)) : []),
      ...section(3, vec(this.functions.map((_, i) => uleb(i)))),
      ...section(7, vec(exports)),
      ...section(10, vec(this.functions.map(({ fn }) => fn.encode()))),
    ];
    return new Uint8Array(bytes);
  }
}

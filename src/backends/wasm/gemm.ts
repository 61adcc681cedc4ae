/**
 * Batched matmul on the Wasm GEMM kernel (kernels.ts): per batch, A [M, K] and B [K, N] are packed
 * from their strided views straight into the arena (so transposed, flipped, sliced and broadcast
 * operands cost nothing extra: packing is a strided read anyway), C is accumulated over blocks of
 * KC values of k, MC rows at a time, then its M × N corner is copied to the output region.
 *
 * Padding: A is packed to a multiple of MR rows and B to a multiple of NR columns with zeros; C is
 * computed padded and the padding dropped. K is never padded, so every kept element sums exactly
 * its K products (a 0 × ∞ = NaN from padding lands only in a dropped row or column).
 * Sums are float32 (the CPU reference rounds once from doubles): differences grow like √K ulp.
 */
import type { OutputSpec } from '../../core/backend.js';
import { broadcastStrides, numel, unravel } from '../../core/shape.js';
import type { CpuView } from '../cpu/types.js';
import type { Arena } from './arena.js';
import { MR, NR, type WasmKernels } from './kernels.js';

/** k block: a kc × NR panel of B (8 KiB) stays in L1. */
const KC = 256;
/** Row block: an MC × KC block of packed A (128 KiB) stays in L2. */
const MC = 128;

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** A 2-D operand of one batch: element (r, c) at data[base + r·rs + c·cs]. */
export interface Matrix { data: ArrayLike<number>; base: number; rs: number; cs: number }

/**
 * Packs rows [0, rows) × k [k0, k0 + kc) of `m` (rows = M for A; for B, its columns are the rows:
 * rs and cs swapped) into panels of `width` rows: panel p holds, for each k, `width` row values.
 */
function pack(dst: Float32Array, at: number, m: Matrix, rows: number, width: number, k0: number, kc: number): void {
  const padded = roundUp(rows, width);
  let o = at;
  for (let p = 0; p < padded; p += width) {
    const full = Math.min(width, rows - p);
    for (let k = k0; k < k0 + kc; k++) {
      let src = m.base + p * m.rs + k * m.cs;
      for (let r = 0; r < full; r++, src += m.rs) dst[o++] = m.data[src];
      for (let r = full; r < width; r++) dst[o++] = 0;
    }
  }
}

/** Byte offsets in the arena of one batch's packed A and B blocks and of its padded C. */
interface Buffers { aPack: number; bPack: number; c: number }

/** C (padded to Mp × Np) = A · B for one batch. */
function gemmBatch(k: WasmKernels, arena: Arena, A: Matrix, B: Matrix, M: number, K: number, N: number, { aPack, bPack, c }: Buffers): void {
  const Mp = roundUp(M, MR);
  const Np = roundUp(N, NR);
  const f32 = arena.f32;
  f32.fill(0, c / 4, c / 4 + Mp * Np);
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = Math.min(KC, K - k0);
    pack(f32, aPack / 4, A, M, MR, k0, kc);
    pack(f32, bPack / 4, { data: B.data, base: B.base, rs: B.cs, cs: B.rs }, N, NR, k0, kc);
    for (let i0 = 0; i0 < Mp; i0 += MC) {
      const rows = Math.min(MC, Mp - i0);
      k.gemm(aPack + i0 * kc * 4, bPack, c + i0 * Np * 4, Np * 4, rows / MR, Np / NR, kc);
    }
  }
}

/**
 * `batches` GEMMs of one size M × K · K × N into consecutive M × N blocks of one output region
 * allocated in the arena (the result is valid until the arena is reset or rewound below it).
 */
export class GemmPlan {
  private readonly result: number;
  private readonly bufs: Buffers;
  private readonly Np: number;

  constructor(private readonly k: WasmKernels, private readonly arena: Arena, op: string, readonly M: number, readonly K: number, readonly N: number, readonly batches: number) {
    this.result = arena.alloc(op, batches * M * N);
    this.Np = roundUp(N, NR);
    const Mp = roundUp(M, MR);
    this.bufs = { c: arena.alloc(op, Mp * this.Np), aPack: arena.alloc(op, Mp * Math.min(K, KC)), bPack: arena.alloc(op, this.Np * Math.min(K, KC)) };
  }

  /** Batch t of the output = A · B. */
  run(t: number, A: Matrix, B: Matrix): void {
    const { M, N, Np } = this;
    gemmBatch(this.k, this.arena, A, B, M, this.K, N, this.bufs);
    const f32 = this.arena.f32;
    const c = this.bufs.c / 4;
    for (let r = 0; r < M; r++) f32.copyWithin(this.result / 4 + (t * M + r) * N, c + r * Np, c + r * Np + N);
  }

  /** The output region (a view of the arena). */
  output(): Float32Array {
    return this.arena.f32.subarray(this.result / 4, this.result / 4 + this.batches * this.M * this.N);
  }
}

/** matmul (a [...ba, M, K], b [...bb, K, N]) → [...batch, M, N] float32, as a view of the arena
 *  valid until its next reset (the caller copies it out). */
export function wasmMatmul(k: WasmKernels, arena: Arena, a: CpuView, b: CpuView, out: OutputSpec): Float32Array {
  const rank = out.shape.length;
  const batchShape = out.shape.slice(0, rank - 2);
  const [M, N] = out.shape.slice(rank - 2);
  const K = a.shape[a.shape.length - 1];
  const aBatch = broadcastStrides(a.shape.slice(0, -2), a.strides.slice(0, -2), batchShape);
  const bBatch = broadcastStrides(b.shape.slice(0, -2), b.strides.slice(0, -2), batchShape);
  arena.reset();
  const plan = new GemmPlan(k, arena, 'matmul', M, K, N, numel(batchShape));
  const index: number[] = [];
  for (let t = 0; t < plan.batches; t++) {
    unravel(t, batchShape, index);
    const offset = (strides: number[]) => strides.reduce((s, st, d) => s + st * index[d], 0);
    const A = { data: a.storage.data, base: a.offset + offset(aBatch), rs: a.strides[a.shape.length - 2], cs: a.strides[a.shape.length - 1] };
    const B = { data: b.storage.data, base: b.offset + offset(bBatch), rs: b.strides[b.shape.length - 2], cs: b.strides[b.shape.length - 1] };
    plan.run(t, A, B);
  }
  return plan.output();
}

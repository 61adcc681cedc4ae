/**
 * Batched matmul on the Wasm GEMM kernel (kernels.ts): the operands' storage is copied into the
 * arena, then per batch A [M, K] and B [K, N] are packed from their strided views by the Wasm
 * strided copy (so transposed, flipped, sliced and broadcast operands cost nothing extra: packing
 * is a strided read anyway), C is accumulated over blocks of
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
import { stage } from './elementwise.js';
import { MR, NR, type WasmKernels } from './kernels.js';

/** k block: a kc × NR panel of B (8 KiB) stays in L1. */
const KC = 256;
/** Row block: an MC × KC block of packed A (128 KiB) stays in L2. */
const MC = 128;

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** A 2-D operand of one batch in the arena: element (r, c) at byte offset at + 4·(r·rs + c·cs). */
export interface Matrix { at: number; rs: number; cs: number }

/**
 * Packs rows [0, rows) × k [k0, k0 + kc) of `m` (rows = M for A; for B, its columns are the rows:
 * rs and cs swapped) into panels of `width` rows at byte offset `dst`: panel p holds, for each k,
 * `width` row values; the rows of a last partial panel beyond `rows` are 0. The full panels are
 * one strided copy (axes: panel, k, row); the partial one another.
 */
function pack(k: WasmKernels, arena: Arena, dst: number, m: Matrix, rows: number, width: number, k0: number, kc: number): void {
  const full = Math.floor(rows / width);
  const src = m.at + 4 * k0 * m.cs;
  if (full > 0) k.maps.copy(src, dst, [full, kc, width], [width * m.rs, m.cs, m.rs], [kc * width, width, 1]);
  const rest = rows - full * width;
  if (rest === 0) return;
  const panel = dst + 4 * full * kc * width;
  arena.f32.fill(0, panel / 4, panel / 4 + kc * width);
  k.maps.copy(src + 4 * full * width * m.rs, panel, [kc, rest], [m.cs, m.rs], [width, 1]);
}

/** Byte offsets in the arena of one batch's packed A and B blocks and of its padded C. */
interface Buffers { aPack: number; bPack: number; c: number }

/** C (padded to Mp × Np) = A · B for one batch. */
function gemmBatch(k: WasmKernels, arena: Arena, A: Matrix, B: Matrix, M: number, K: number, N: number, { aPack, bPack, c }: Buffers): void {
  const Mp = roundUp(M, MR);
  const Np = roundUp(N, NR);
  arena.f32.fill(0, c / 4, c / 4 + Mp * Np);
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = Math.min(KC, K - k0);
    pack(k, arena, aPack, A, M, MR, k0, kc);
    pack(k, arena, bPack, { at: B.at, rs: B.cs, cs: B.rs }, N, NR, k0, kc);
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
    this.k.maps.copy(this.bufs.c, this.result + 4 * t * M * N, [M, N], [Np, 1], [N, 1]);
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
  const [aAt, bAt] = [stage(arena, a), stage(arena, b)];
  const index: number[] = [];
  for (let t = 0; t < plan.batches; t++) {
    unravel(t, batchShape, index);
    const offset = (strides: number[]) => strides.reduce((s, st, d) => s + st * index[d], 0);
    const A = { at: aAt + 4 * offset(aBatch), rs: a.strides[a.shape.length - 2], cs: a.strides[a.shape.length - 1] };
    const B = { at: bAt + 4 * offset(bBatch), rs: b.strides[b.shape.length - 2], cs: b.strides[b.shape.length - 1] };
    plan.run(t, A, B);
  }
  return plan.output();
}

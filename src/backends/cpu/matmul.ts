/**
 * CPU rule of matmul: (a [...ba, M, K], b [...bb, K, N]) → [...broadcast(ba, bb), M, N], floats only
 * (the front end handles 1-D operands). Both operands are copied contiguous with their batch axes
 * broadcast, then each output row is accumulated in doubles over k = 0..K-1 (i-k-j loop order) and
 * rounded once to float32 (kept as is in float64 mode).
 */
import { WgradError, type OutputSpec } from '../../core/backend.js';
import { numel } from '../../core/shape.js';
import { readStrided } from './strided.js';
import { allocData, type CpuContext, type CpuData, type CpuView } from './types.js';

export function matmul([a, b]: CpuView[], out: OutputSpec, ctx: CpuContext): CpuData {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new WgradError('matmul', `expected float32 operands, got ${a.dtype} and ${b.dtype}`);
  }
  const rank = out.shape.length;
  const batchShape = out.shape.slice(0, rank - 2);
  const [M, N] = out.shape.slice(rank - 2);
  const K = a.shape[a.shape.length - 1];
  const as = readStrided(a, [...batchShape, M, K]);
  const bs = readStrided(b, [...batchShape, K, N]);
  const result = allocData(out.dtype, numel(out.shape), ctx);
  const row = new Float64Array(N);
  const batches = numel(batchShape);
  for (let batch = 0; batch < batches; batch++) {
    const aBase = batch * M * K;
    const bBase = batch * K * N;
    const outBase = batch * M * N;
    for (let i = 0; i < M; i++) {
      row.fill(0);
      for (let k = 0; k < K; k++) {
        const aik = as[aBase + i * K + k];
        const bRow = bBase + k * N;
        for (let j = 0; j < N; j++) row[j] += aik * bs[bRow + j];
      }
      for (let j = 0; j < N; j++) result[outBase + i * N + j] = row[j];
    }
  }
  return result;
}

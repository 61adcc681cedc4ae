/**
 * The matmul prim: out[...batch, M, N] = a[...ba, M, K] @ b[...bb, K, N] (float32, NumPy
 * broadcasting of the batch dims) on the GEMM engine (gemm.ts), reading both operands straight
 * through their views' strides (transposed, sliced, flipped, broadcast: no copy). Batch axes are
 * merged first (`coalesce`); more than 3 that do not merge (rare) are materialized by contiguous
 * copies (copy.ts) so that they merge into one.
 */
import type { OutputSpec } from '../core/backend.js';
import { WgradError } from '../core/backend.js';
import { broadcastStrides, fmtShape, numel } from '../core/shape.js';
import { contiguousCopy } from './copy.js';
import { MAX_BATCH_AXES, runGemm, stridedLoader, type MatmulConfig } from './gemm.js';
import type { GpuRuntime, GpuStorage, GpuView } from './runtime.js';
import { coalesce } from './wgsl.js';

// The tile configuration lives with the engine; tests and benchmarks set it through here too.
export { DEFAULT_MATMUL_CONFIG, getMatmulConfig, setMatmulConfig, type MatmulConfig } from './gemm.js';

/**
 * out = a @ b with NumPy batch broadcasting. `a`: [...ba, M, K], `b`: [...bb, K, N], float32 views
 * of any strides; returns a fresh contiguous [...batch, M, N] buffer.
 */
export function runMatmul(rt: GpuRuntime, a: GpuView, b: GpuView, out: OutputSpec, cfg?: Partial<MatmulConfig>): GpuStorage {
  if (a.shape.length < 2 || b.shape.length < 2) {
    throw new WgradError('matmul', `expected operands of rank ≥ 2, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  const M = a.shape[a.shape.length - 2];
  const K = a.shape[a.shape.length - 1];
  const N = b.shape[b.shape.length - 1];
  if (b.shape[b.shape.length - 2] !== K) {
    throw new WgradError('matmul', `inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  }
  const batchShape = out.shape.slice(0, -2);
  const nOut = numel(out.shape);
  const result = rt.alloc(nOut);
  if (nOut === 0) return result;

  const aBatch = broadcastStrides(a.shape.slice(0, -2), a.strides.slice(0, -2), batchShape);
  const bBatch = broadcastStrides(b.shape.slice(0, -2), b.strides.slice(0, -2), batchShape);
  const merged = coalesce(batchShape, [aBatch, bBatch]);
  if (merged.shape.length > MAX_BATCH_AXES) {
    // Rare: more than 3 batch axes that do not merge. Materialize both operands broadcast to the
    // full batch shape, contiguous, so their batch axes merge into one.
    const ac = contiguousCopy(rt, expandBatch(a, batchShape));
    const bc = contiguousCopy(rt, expandBatch(b, batchShape));
    const nb = numel(batchShape);
    gemmStrided(rt, ac, bc, M, N, K, [nb], [M * K], [K * N], result, cfg);
    rt.release(ac.storage);
    rt.release(bc.storage);
    return result;
  }
  gemmStrided(rt, a, b, M, N, K, merged.shape, merged.strides[0], merged.strides[1], result, cfg);
  return result;
}

function gemmStrided(
  rt: GpuRuntime, a: GpuView, b: GpuView, M: number, N: number, K: number,
  batch: number[], aBatch: number[], bBatch: number[], out: GpuStorage, cfg?: Partial<MatmulConfig>,
): void {
  const ra = a.shape.length;
  const rb = b.shape.length;
  // Size-1 axes may carry any stride; normalize them so the vec4 tests see the real layout.
  const sAm = M === 1 ? 1 : a.strides[ra - 2];
  const sAk = K === 1 ? 0 : a.strides[ra - 1];
  const sBk = K === 1 ? 0 : b.strides[rb - 2];
  const sBn = N === 1 ? 1 : b.strides[rb - 1];
  runGemm(rt, {
    M, N, K, batch,
    a: stridedLoader(a.storage, a.offset, aBatch, sAm, sAk, M, K),
    b: stridedLoader(b.storage, b.offset, bBatch, sBn, sBk, N, K),
    out,
    cfg,
  });
}

/** `v` ([...b, R, C]) viewed as [...batchShape, R, C] (stride 0 on broadcast batch axes). */
function expandBatch(v: GpuView, batchShape: number[]): GpuView {
  const r = v.shape.length;
  const strides = [...broadcastStrides(v.shape.slice(0, -2), v.strides.slice(0, -2), batchShape), v.strides[r - 2], v.strides[r - 1]];
  return { ...v, shape: [...batchShape, v.shape[r - 2], v.shape[r - 1]], strides };
}

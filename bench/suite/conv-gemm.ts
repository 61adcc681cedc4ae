/**
 * Conv GEMM rows: each of the three conv primitives alone (conv2d forward, conv2dInputGrad,
 * conv2dWeightGrad) at one small-CNN layer shape, in GFLOP/s, to set beside the matmul rows (the
 * issue asks for every conv GEMM at the matmul kernel's rate). wgrad only: TF.js has no public
 * weight-gradient op, and the fwd / fwd+bwd rows in ops.ts already compare the two libraries.
 * Every prim counts the forward conv's FLOPs, 2·N·O·Ho·Wo·C·kh·kw.
 */
import type { RowSpec } from '../harness.js';
import { type Ctx, needWg, wgFn } from './context.js';
import { uniform } from './data.js';

interface Layer { id: string; label: string; n: number; c: number; h: number; o: number; k: number; pad: number }

function gemmRow(ctx: Ctx, s: Layer, prim: 'conv2d' | 'conv2dInputGrad' | 'conv2dWeightGrad'): RowSpec {
  const ho = s.h + 2 * s.pad - s.k + 1;
  const xs = [s.n, s.c, s.h, s.h], ws = [s.o, s.c, s.k, s.k], ys = [s.n, s.o, ho, ho];
  const size = (sh: number[]) => sh.reduce((p, q) => p * q, 1);
  const x = uniform(size(xs), 41), w = uniform(size(ws), 42, -0.2, 0.2), gy = uniform(size(ys), 43);
  const geom = { stride: [1, 1] as [number, number], padding: [s.pad, s.pad] as [number, number], dilation: [1, 1] as [number, number], groups: 1 };
  const what = { conv2d: 'forward', conv2dInputGrad: 'input gradient', conv2dWeightGrad: 'weight gradient' }[prim];
  return {
    group: 'conv', id: `conv.gemm.${s.id}.${{ conv2d: 'fwd', conv2dInputGrad: 'igrad', conv2dWeightGrad: 'wgrad' }[prim]}`,
    name: `conv GEMM: ${what}, ${s.label}`,
    shape: `${s.n}×${s.c}×${s.h}×${s.h} * ${s.o}×${s.c}×${s.k}×${s.k}`,
    metric: 'GFLOP/s', work: 2 * s.n * s.o * ho * ho * s.c * s.k * s.k, tol: 1e-4,
    note: 'wgrad only: one conv primitive alone; FLOPs of the forward conv for each',
    wgrad: async () => {
      const wg = needWg(ctx);
      // Imported here, like wgrad itself (gpu.ts), so that the suite runs on when wgrad cannot load.
      const { runPrim } = await import('../../src/tensor/engine.js');
      const X = wg.tensor(x, { shape: xs }), W = wg.tensor(w, { shape: ws }), GY = wg.tensor(gy, { shape: ys });
      return wgFn(wg, [X, W, GY], () => {
        if (prim === 'conv2d') return runPrim(prim, [X, W], geom, ys, 'float32');
        if (prim === 'conv2dInputGrad') return runPrim(prim, [GY, W], { ...geom, inputSize: [s.h, s.h] }, xs, 'float32');
        return runPrim(prim, [X, GY], { ...geom, kernelSize: [s.k, s.k] }, ws, 'float32');
      });
    },
  };
}

/** The three conv GEMM rows at the small CNN's first layer (1→32, 3×3, 28², batch 256; --quick: 64). */
export function convGemmRows(ctx: Ctx): RowSpec[] {
  const layer: Layer = { id: 'cnn1', label: 'CNN conv1 1→32', n: ctx.quick ? 64 : 256, c: 1, h: 28, o: 32, k: 3, pad: 1 };
  return (['conv2d', 'conv2dInputGrad', 'conv2dWeightGrad'] as const).map((p) => gemmRow(ctx, layer, p));
}

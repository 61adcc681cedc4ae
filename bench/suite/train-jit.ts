/**
 * The training steps of ./train.ts (MLP, small CNN, SimCLR, RoCL) with the whole step under
 * `wg.jit`: traced once, then replayed (src/tensor/jit.ts). wgrad alone (the peers' jit is on the
 * peers' side of the eager rows); the rows' host time beside the eager rows' is what jit saves on
 * the host: tracing, autodiff and the front end's checks, and on WebGPU fusion, code generation
 * and pipeline lookups too (a replay records the trace's dispatches again,
 * src/backends/webgpu/work-log.ts), leaving the encoding and the submits. Select them with `--only jit`.
 */
import type { RowSpec } from '../harness.js';
import type { Ctx } from './context.js';
import { trainRows } from './train.js';

export function trainJitRows(ctx: Ctx): RowSpec[] {
  return trainRows({ ...ctx, jit: true }).map((r) => ({
    ...r,
    id: r.id.replace(/^train\./, 'train.jit.'),
    name: `${r.name}, jitted`,
    note: [r.note, 'whole step under wg.jit'].filter(Boolean).join('; '),
    tfjs: undefined,
    jax: undefined,
    cannot: undefined,
  }));
}

/** Every group's row builders, for the runner (run.ts) and the peer processes (peer-worker.ts). */
import type { Group, RowSpec } from '../harness.js';
import type { Ctx } from './context.js';
import { convRows, dispatchRows, matmulRows, memoryRows } from './ops.js';
import { trainRows } from './train.js';
import { trainJitRows } from './train-jit.js';

export const BUILDERS: Record<Group, (c: Ctx) => RowSpec[]> = { matmul: matmulRows, conv: convRows, memory: memoryRows, dispatch: dispatchRows, train: (c) => [...trainRows(c), ...trainJitRows(c)] };

/** The rows of `groups`, those whose id or name contains one of `only` (lower case) when given. */
export function buildRows(ctx: Ctx, groups: Group[], only: string[] = []): RowSpec[] {
  const specs = groups.flatMap((g) => BUILDERS[g](ctx));
  return only.length ? specs.filter((s) => only.some((o) => s.id.toLowerCase().includes(o) || s.name.toLowerCase().includes(o))) : specs;
}

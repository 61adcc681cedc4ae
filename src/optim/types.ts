/**
 * The optimizer contract, after Optax: a gradient transformation is a pair of pure functions
 *   init(params) → state
 *   update(updates, state, params?) → [newUpdates, newState]
 * over pytrees of tensors. Optimizers are chains of transformations; `applyUpdates(params, updates)`
 * adds the final updates (which already carry the minus sign and the learning rate).
 *
 * Ownership: `update` never mutates and never returns its inputs: the updates and every tensor of
 * the new state are fresh tensors the caller owns. The caller disposes the old state (and the old
 * params, after `applyUpdates`) once it has the new ones — see the pattern in ./index.ts.
 */
import { WgradError } from '../core/backend.js';
import { treeLeaves } from '../tensor/tree.js';
import type { Tensor } from '../tensor/tensor.js';

export interface GradientTransformation<S = unknown> {
  /** The initial state for parameters shaped like `params`. */
  init<P>(params: P): S;
  /** Transforms `updates` (gradients, for the first transformation of a chain). */
  update<P>(updates: P, state: S, params?: P): [P, S];
}

/** The state type of a transformation. */
export type StateOf<T> = T extends GradientTransformation<infer S> ? S : never;

/**
 * A learning-rate (or any hyperparameter) schedule: step count (0 at the first update) → value.
 * With a `table` (every schedule of ./schedules.ts has one) it also runs on the device, looked up
 * by the count of the optimizer state (./device-count.ts); a plain function runs on the host, and
 * the optimizer keeps its count there.
 */
export type Schedule = ((count: number) => number) & { readonly table?: ScheduleTable };
export type ScalarOrSchedule = number | Schedule;

/**
 * How a schedule is tabulated for the device: entry i is its value at count i·period, and the last
 * of the `length` entries holds for every later count (the schedule is constant from there on).
 */
export interface ScheduleTable {
  readonly period: number;
  readonly length: number;
}

/** A step count in an optimizer state: an int32 rank-0 tensor, or a number (host count; states saved before counts moved to the device). */
export type Count = Tensor | number;

/** Selects parameters by their pytree path (e.g. "stages[0][1].bn1.scale") and tensor. */
export type ParamPredicate = (path: string, param: Tensor) => boolean;

export const valueAt = (v: ScalarOrSchedule, count: number): number => (typeof v === 'number' ? v : v(count));

/**
 * The tensor leaves of `tree` with their paths, and the matching leaves of `others` (same structure,
 * checked by leaf count and path).
 */
export function zipLeaves(op: string, tree: unknown, ...others: unknown[]): { path: string; leaves: Tensor[] }[] {
  const main = treeLeaves(tree);
  const rest = others.map((o) => treeLeaves(o));
  rest.forEach((r, k) => {
    if (r.length !== main.length || r.some(([p], i) => p !== main[i][0])) {
      throw new WgradError(op, `pytree ${k + 1} does not match the updates' structure (${r.length} vs ${main.length} tensor leaves${r.length === main.length ? `; first differing path ${r.find(([p], i) => p !== main[i][0])?.[0]}` : ''})`);
    }
  });
  return main.map(([path, t], i) => ({ path, leaves: [t, ...rest.map((r) => r[i][1])] }));
}

/**
 * Learning-rate schedules: functions `count → value` (Optax's), usable as the `lr` of any optimizer
 * here. The count is the number of updates already applied (0 at the first update). Each schedule
 * also carries its table (types.ts's ScheduleTable: where it becomes constant), so an optimizer can
 * keep its count on the device and look the value up there (./device-count.ts).
 */
import { WgradError } from '../core/backend.js';
import { MAX_TABLE } from './device-count.js';
import type { Schedule } from './types.js';

const INT32_MAX = 2 ** 31 - 1;

/**
 * `fn` with its table: `length` entries, entry i its value at count i·period. Without one (too
 * long, or not a whole number of entries) the schedule runs on the host only.
 */
function withTable(fn: (count: number) => number, length: number, period = 1): Schedule {
  if (!(Number.isInteger(length) && length >= 1 && length <= MAX_TABLE && Number.isInteger(period) && period >= 1)) return fn;
  return Object.assign(fn, { table: { period, length } });
}

/** The table length of a schedule that is constant from count `horizon` on. */
const constantFrom = (horizon: number) => Math.min(Math.max(Math.ceil(horizon), 0), INT32_MAX) + 1;

/**
 * `fn` at counts 0 to `steps`, and fn(steps) from then on: a schedule of your own that runs on the
 * device (a plain function runs on the host only, which makes a jitted step trace anew each step).
 */
export function tabulatedSchedule(fn: (count: number) => number, steps: number): Schedule {
  if (!(Number.isInteger(steps) && steps >= 0 && steps < MAX_TABLE)) {
    throw new WgradError('tabulatedSchedule', `steps must be an integer in [0, ${MAX_TABLE}), got ${steps}`);
  }
  return withTable((count) => fn(Math.min(count, steps)), steps + 1);
}

/** Always `value`. */
export const constantSchedule = (value: number): Schedule => withTable(() => value, 1);

/**
 * Piecewise constant: starts at `initValue`; at each boundary step the value is multiplied by its
 * scale (Optax's piecewise_constant_schedule), e.g. `{ 100: 0.1, 150: 0.1 }` decays ×0.1 at steps 100 and 150.
 */
export function piecewiseConstantSchedule(initValue: number, boundariesAndScales: Readonly<Record<number, number>> = {}): Schedule {
  const entries = Object.entries(boundariesAndScales).map(([b, s]) => [Number(b), s] as const).sort((a, b) => a[0] - b[0]);
  const last = entries.length ? entries[entries.length - 1][0] : 0;
  return withTable((count) => entries.reduce((v, [b, s]) => (count >= b ? v * s : v), initValue), constantFrom(last));
}

/** PyTorch's StepLR: initValue · gamma^⌊count / stepSize⌋. */
export function stepSchedule(initValue: number, opts: { stepSize: number; gamma?: number }): Schedule {
  const { stepSize, gamma = 0.1 } = opts;
  if (!(stepSize > 0)) throw new WgradError('stepSchedule', `stepSize must be positive, got ${stepSize}`);
  const fn = (count: number) => initValue * gamma ** Math.floor(count / stepSize);
  if (!Number.isInteger(stepSize)) return fn;
  // One entry per step of size stepSize, until the float32 value stops changing (0 or ±∞) or no
  // int32 count reaches further.
  const reachable = Math.floor(INT32_MAX / stepSize) + 1;
  let length = 1;
  while (length < reachable && length <= MAX_TABLE && gamma !== 1) {
    const v = Math.fround(fn((length - 1) * stepSize));
    if (v === 0 || !Number.isFinite(v)) break;
    length++;
  }
  return withTable(fn, length, stepSize);
}

/** Linear from initValue to endValue over transitionSteps, starting at transitionBegin; constant outside. */
export function linearSchedule(initValue: number, endValue: number, transitionSteps: number, transitionBegin = 0): Schedule {
  return withTable((count) => {
    if (transitionSteps <= 0) return count >= transitionBegin ? endValue : initValue;
    const frac = Math.min(Math.max((count - transitionBegin) / transitionSteps, 0), 1);
    return initValue + (endValue - initValue) * frac;
  }, constantFrom(transitionBegin + Math.max(transitionSteps, 0)));
}

/**
 * Cosine decay (Optax's cosine_decay_schedule):
 * initValue · ((1 − alpha)·½(1 + cos(π·min(count, decaySteps)/decaySteps)) + alpha).
 */
export function cosineDecaySchedule(initValue: number, decaySteps: number, alpha = 0): Schedule {
  if (!(decaySteps > 0)) throw new WgradError('cosineDecaySchedule', `decaySteps must be positive, got ${decaySteps}`);
  return withTable((count) => {
    const t = Math.min(Math.max(count, 0), decaySteps) / decaySteps;
    return initValue * ((1 - alpha) * 0.5 * (1 + Math.cos(Math.PI * t)) + alpha);
  }, constantFrom(decaySteps));
}

/** Options of `warmupCosineDecaySchedule`: the values and the step counts of warm-up and decay. */
export interface WarmupCosineOptions {
  /** Value at count 0 (default 0). */
  initValue?: number;
  /** Value reached at the end of the warm-up. */
  peakValue: number;
  /** Linear warm-up length. */
  warmupSteps: number;
  /** Total length including the warm-up (Optax's convention); the value is endValue afterwards. */
  decaySteps: number;
  /** Default 0. */
  endValue?: number;
}

/**
 * Linear warm-up from initValue to peakValue over warmupSteps, then cosine decay to endValue at
 * decaySteps (Optax's warmup_cosine_decay_schedule; the SimCLR/RoCL schedule).
 */
export function warmupCosineDecaySchedule(opts: WarmupCosineOptions): Schedule {
  const { initValue = 0, peakValue, warmupSteps, decaySteps, endValue = 0 } = opts;
  if (!(decaySteps >= warmupSteps && warmupSteps >= 0)) {
    throw new WgradError('warmupCosineDecaySchedule', `need 0 ≤ warmupSteps ≤ decaySteps, got ${warmupSteps} and ${decaySteps}`);
  }
  const span = decaySteps - warmupSteps;
  return withTable((count) => {
    if (count < warmupSteps) return initValue + ((peakValue - initValue) * count) / warmupSteps;
    if (span === 0) return endValue;
    const t = Math.min(count - warmupSteps, span) / span;
    return endValue + (peakValue - endValue) * 0.5 * (1 + Math.cos(Math.PI * t));
  }, constantFrom(decaySteps));
}

/**
 * Learning-rate schedules: host functions `count → value` (Optax's), usable as the `lr` of any
 * optimizer here. The count is the number of updates already applied (0 at the first update); it
 * lives in the optimizer state as a plain number, so nothing is read back from the device.
 */
import { WgradError } from '../core/backend.js';
import type { Schedule } from './types.js';

/** Always `value`. */
export const constantSchedule = (value: number): Schedule => () => value;

/**
 * Piecewise constant: starts at `initValue`; at each boundary step the value is multiplied by its
 * scale (Optax's piecewise_constant_schedule), e.g. `{ 100: 0.1, 150: 0.1 }` decays ×0.1 at steps 100 and 150.
 */
export function piecewiseConstantSchedule(initValue: number, boundariesAndScales: Readonly<Record<number, number>> = {}): Schedule {
  const entries = Object.entries(boundariesAndScales).map(([b, s]) => [Number(b), s] as const).sort((a, b) => a[0] - b[0]);
  return (count) => entries.reduce((v, [b, s]) => (count >= b ? v * s : v), initValue);
}

/** PyTorch's StepLR: initValue · gamma^⌊count / stepSize⌋. */
export function stepSchedule(initValue: number, opts: { stepSize: number; gamma?: number }): Schedule {
  const { stepSize, gamma = 0.1 } = opts;
  if (!(stepSize > 0)) throw new WgradError('stepSchedule', `stepSize must be positive, got ${stepSize}`);
  return (count) => initValue * gamma ** Math.floor(count / stepSize);
}

/** Linear from initValue to endValue over transitionSteps, starting at transitionBegin; constant outside. */
export function linearSchedule(initValue: number, endValue: number, transitionSteps: number, transitionBegin = 0): Schedule {
  return (count) => {
    if (transitionSteps <= 0) return count >= transitionBegin ? endValue : initValue;
    const frac = Math.min(Math.max((count - transitionBegin) / transitionSteps, 0), 1);
    return initValue + (endValue - initValue) * frac;
  };
}

/**
 * Cosine decay (Optax's cosine_decay_schedule):
 * initValue · ((1 − alpha)·½(1 + cos(π·min(count, decaySteps)/decaySteps)) + alpha).
 */
export function cosineDecaySchedule(initValue: number, decaySteps: number, alpha = 0): Schedule {
  if (!(decaySteps > 0)) throw new WgradError('cosineDecaySchedule', `decaySteps must be positive, got ${decaySteps}`);
  return (count) => {
    const t = Math.min(Math.max(count, 0), decaySteps) / decaySteps;
    return initValue * ((1 - alpha) * 0.5 * (1 + Math.cos(Math.PI * t)) + alpha);
  };
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
  return (count) => {
    if (count < warmupSteps) return initValue + ((peakValue - initValue) * count) / warmupSteps;
    if (span === 0) return endValue;
    const t = Math.min(count - warmupSteps, span) / span;
    return endValue + (peakValue - endValue) * 0.5 * (1 + Math.cos(Math.PI * t));
  };
}

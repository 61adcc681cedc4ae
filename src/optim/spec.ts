/**
 * An optimizer by name: a plain, JSON-able spec (what a checkpoint or a command line records)
 * turned into an optimizer of ./optimizers.ts with a schedule of ./schedules.ts.
 */
import { WgradError } from '../core/backend.js';
import { adam, lars, type Optimizer, sgd } from './optimizers.js';
import { constantSchedule, cosineDecaySchedule, warmupCosineDecaySchedule } from './schedules.js';

/** The optimizers `makeOptimizer` builds by name. */
export const OPTIMIZER_NAMES = ['lars', 'sgd', 'adam'] as const;
/** One of `OPTIMIZER_NAMES`. */
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

/** An optimizer and its schedule as plain data (the CLI's flags, a checkpoint's config). */
export interface OptimizerSpec {
  name: OptimizerName;
  /** Peak learning rate. */
  lr: number;
  /** 'cosine' (linear warm-up, then cosine to 0, as SimCLR/RoCL) or 'constant'. */
  schedule: 'cosine' | 'constant';
  /** Linear warm-up steps (cosine only). */
  warmupSteps: number;
  /** Total optimizer steps of the run (cosine's length). */
  totalSteps: number;
  /** SGD/LARS momentum (default 0.9). */
  momentum?: number;
  /** L2 weight decay for SGD/LARS (default 0; RoCL 1e-6). */
  weightDecay?: number;
  /** LARS trust coefficient η (default 0.001). */
  trustCoefficient?: number;
}

/** The optimizer `spec` describes; throws a WgradError on an invalid value. */
export function makeOptimizer(spec: OptimizerSpec): Optimizer {
  const { name, lr, schedule, warmupSteps, totalSteps, momentum = 0.9, weightDecay = 0, trustCoefficient = 0.001 } = spec;
  if (!(lr > 0)) throw new WgradError('optim.makeOptimizer', `lr must be positive, got ${lr}`);
  if (!(totalSteps >= 1)) throw new WgradError('optim.makeOptimizer', `totalSteps must be ≥ 1, got ${totalSteps}`);
  if (schedule !== 'cosine' && schedule !== 'constant') throw new WgradError('optim.makeOptimizer', `schedule must be 'cosine' or 'constant', got ${JSON.stringify(schedule)}`);
  const warm = Math.min(Math.max(0, Math.floor(warmupSteps)), totalSteps);
  const rate = schedule === 'constant' ? constantSchedule(lr)
    : warm > 0 ? warmupCosineDecaySchedule({ peakValue: lr, warmupSteps: warm, decaySteps: totalSteps })
    : cosineDecaySchedule(lr, totalSteps);
  if (name === 'lars') return lars({ lr: rate, momentum, weightDecay, trustCoefficient }) as Optimizer;
  if (name === 'sgd') return sgd({ lr: rate, momentum, weightDecay });
  if (name === 'adam') return adam({ lr: rate }) as Optimizer;
  throw new WgradError('optim.makeOptimizer', `optimizer must be one of ${OPTIMIZER_NAMES.join(', ')}, got ${JSON.stringify(name)}`);
}

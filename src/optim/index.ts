/**
 * wgrad.optim: Optax-style optimizers as pure functions over pytrees. A training step:
 *
 *   const opt = optim.adam({ lr: optim.warmupCosineDecaySchedule({ peakValue: 1e-3, warmupSteps: 100, decaySteps: 10_000 }) });
 *   let optState = opt.init(params);
 *   for (...) {
 *     const [loss, nextParams, nextState] = tidy(() => {
 *       const [l, grads] = valueAndGrad(lossFn)(params, batch);
 *       const [updates, s] = opt.update(grads, optState, params);
 *       return [l, optim.applyUpdates(params, updates), s] as const;
 *     });
 *     dispose(params); dispose(optState);          // the old trees are no longer needed
 *     params = nextParams; optState = nextState;
 *     ...; loss.dispose();
 *   }
 *
 * `update` never returns or mutates its inputs, so disposing the old params and state is always
 * safe; grads and updates die with the tidy scope. The step count lives in the state as an int32
 * scalar on the device (as Optax's `count`), and schedules and bias corrections are looked up there
 * by it (./device-count.ts), so a step under `jit` replays; a schedule given as a plain function
 * keeps a host count instead.
 */
export type { GradientTransformation, StateOf, Schedule, ScheduleTable, ScalarOrSchedule, ParamPredicate, Count } from './types.js';
export {
  scale, scaleByLearningRate, traceMomentum, scaleByAdam, addDecayedWeights, scaleByTrustRatio, clipByGlobalNorm,
  globalNorm, chain, masked, applyUpdates,
  type CountState, type TraceState, type AdamState, type AdamScalingOptions, type TrustRatioOptions,
} from './transforms.js';
export {
  sgd, adam, adamw, lars, excludeBiasAndNorm,
  type Optimizer, type SgdOptions, type AdamOptions, type AdamWOptions, type LarsOptions,
} from './optimizers.js';
export {
  constantSchedule, tabulatedSchedule, piecewiseConstantSchedule, stepSchedule, linearSchedule, cosineDecaySchedule, warmupCosineDecaySchedule,
  type WarmupCosineOptions,
} from './schedules.js';
export { makeOptimizer, OPTIMIZER_NAMES, type OptimizerName, type OptimizerSpec } from './spec.js';

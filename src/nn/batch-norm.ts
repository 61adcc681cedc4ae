/**
 * Batch normalization over the channel axis 1 (x [N, C] or [N, C, H, W]), with the running
 * statistics as explicit state threaded in and out:
 *
 *   const { params, state } = batchNorm.init({ channels: 64 });
 *   const [y, newState] = batchNorm.apply(params, state, x, { training: true });
 *
 * Training mode normalizes with the batch mean and biased variance (gradients flow through both)
 * and updates the running statistics PyTorch's way, with the batch statistics cut from the graph:
 *   mean ← (1 − momentum)·mean + momentum·μ_B,  var ← (1 − momentum)·var + momentum·σ²_B·n/(n − 1)
 * (momentum 0.1, eps 1e-5 by default, as torch.nn.BatchNorm2d). Eval mode uses the running
 * statistics and returns the state unchanged.
 *
 * Several independent branches (AdvProp-style auxiliary BN, which IDAA uses for its adversarial
 * encoder): `init({ channels, branches: ['clean', 'adv'] })` gives params and state keyed by branch
 * name, and `apply(..., { training, branch: 'adv' })` normalizes with, and updates, that branch only.
 *
 * Ownership: every tensor of the returned state is a fresh reference (unchanged entries are
 * zero-copy aliases), so the caller may always dispose the whole old state after replacing it.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { stopGradient } from '../tensor/alias.js';
import { full } from '../tensor/ops/creation.js';
import { add, mul, rsqrt, sub } from '../tensor/ops/elementwise.js';
import { reshape } from '../tensor/ops/movement.js';
import { mean } from '../tensor/ops/reduce.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

/** Affine parameters: y = x̂·scale + bias (PyTorch's weight and bias). */
export type BatchNormParams = { scale: Tensor; bias: Tensor };
/** Running statistics. */
export type BatchNormState = { mean: Tensor; var: Tensor };
/** One T per branch name. */
export type Branched<B extends string, T> = { [K in B]: T };
/** T itself when there are no branches (B = never), else one T per branch. */
export type MaybeBranched<B extends string, T> = [B] extends [never] ? T : Branched<B, T>;

/** A BatchNorm layer's channels and optional named branches. */
export interface BatchNormConfig<B extends string = never> {
  channels: number;
  /** Names of independent BN branches (params and state keyed by name); omit for a single BN. */
  branches?: readonly B[];
}

/** Options of a BatchNorm call: training or evaluation mode, momentum and ε. */
export interface BatchNormOptions {
  /** Batch statistics and running-stat update (true) or running statistics (false). */
  training: boolean;
  /** Weight of the batch statistic in the running average (default 0.1, PyTorch's convention). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

/** `branch` is required exactly when the params are branched. */
export type BranchOption<B extends string> = [B] extends [never] ? { branch?: undefined } : { branch: B };

function initOne(channels: number): { params: BatchNormParams; state: BatchNormState } {
  return {
    params: { scale: full([channels], 1), bias: full([channels], 0) },
    state: { mean: full([channels], 0), var: full([channels], 1) },
  };
}

/** scale 1, bias 0, running mean 0, running var 1 (per branch if `branches` is given). */
export function init<B extends string = never>(config: BatchNormConfig<B>): {
  params: MaybeBranched<B, BatchNormParams>;
  state: MaybeBranched<B, BatchNormState>;
} {
  if (!config.branches) return initOne(config.channels) as never;
  if (config.branches.length === 0 || new Set(config.branches).size !== config.branches.length) {
    throw new WgradError('batchNorm.init', `branches must be distinct names, got ${JSON.stringify(config.branches)}`);
  }
  const params: Record<string, BatchNormParams> = {};
  const state: Record<string, BatchNormState> = {};
  for (const b of config.branches) ({ params: params[b], state: state[b] } = initOne(config.channels));
  return { params, state } as never;
}

/** Single-branch BN. */
export function apply(params: BatchNormParams, state: BatchNormState, x: Tensor, opts: BatchNormOptions): [Tensor, BatchNormState];
/** Branched BN: normalizes with, and updates, `opts.branch` only. */
export function apply<B extends string>(
  params: Branched<B, BatchNormParams>,
  state: Branched<B, BatchNormState>,
  x: Tensor,
  opts: BatchNormOptions & { branch: NoInfer<B> },
): [Tensor, Branched<B, BatchNormState>];
export function apply(params: unknown, state: unknown, x: Tensor, opts: BatchNormOptions & { branch?: string }): [Tensor, unknown] {
  return applyAny(params, state, x, opts);
}

/** @internal apply for code generic over branching (the ResNet); checks the structure at run time. */
export function applyAny(params: unknown, state: unknown, x: Tensor, opts: BatchNormOptions & { branch?: string }): [Tensor, unknown] {
  if (isSingle(params)) {
    if (opts.branch !== undefined) throw new WgradError('batchNorm', `branch "${opts.branch}" given, but these BatchNorm params have no branches`);
    return applyOne(params, state as BatchNormState, x, opts);
  }
  const p = params as Record<string, BatchNormParams>;
  const s = state as Record<string, BatchNormState>;
  if (opts.branch === undefined || !(opts.branch in p) || !(opts.branch in s)) {
    throw new WgradError('batchNorm', `these BatchNorm params have branches ${JSON.stringify(Object.keys(p))}: pass one of them as \`branch\` (got ${JSON.stringify(opts.branch)})`);
  }
  const [y, updated] = applyOne(p[opts.branch], s[opts.branch], x, opts);
  const next: Record<string, BatchNormState> = {};
  for (const [name, st] of Object.entries(s)) {
    next[name] = name === opts.branch ? updated : { mean: stopGradient(st.mean), var: stopGradient(st.var) };
  }
  return [y, next];
}

const isSingle = (p: unknown): p is BatchNormParams =>
  typeof p === 'object' && p !== null && (p as BatchNormParams).scale instanceof Tensor;

function applyOne(params: BatchNormParams, state: BatchNormState, x: Tensor, opts: BatchNormOptions): [Tensor, BatchNormState] {
  const { training, momentum = 0.1, eps = 1e-5 } = opts;
  const c = params.scale.shape[0];
  if (x.rank < 2 || x.shape[1] !== c) {
    throw new WgradError('batchNorm', `expected x [N, ${c}, ...] (channels on axis 1), got ${fmtShape(x.shape)}`);
  }
  return tidy((): [Tensor, BatchNormState] => {
    const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
    const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
    const affine = (xhat: Tensor) => add(mul(xhat, reshape(params.scale, bshape)), reshape(params.bias, bshape));
    if (!training) {
      const xhat = mul(sub(x, reshape(state.mean, bshape)), rsqrt(add(reshape(state.var, bshape), eps)));
      return [affine(xhat), { mean: stopGradient(state.mean), var: stopGradient(state.var) }];
    }
    const n = x.size / c;
    if (n < 2) throw new WgradError('batchNorm', `training mode needs more than one value per channel, got ${fmtShape(x.shape)}`);
    const mu = mean(x, axes, { keepdims: true });
    const centered = sub(x, mu);
    const v = mean(mul(centered, centered), axes, { keepdims: true });
    const y = affine(mul(centered, rsqrt(add(v, eps))));
    const muB = reshape(stopGradient(mu), [c]);
    const vB = reshape(stopGradient(v), [c]);
    const newMean = add(mul(stopGradient(state.mean), 1 - momentum), mul(muB, momentum));
    const newVar = add(mul(stopGradient(state.var), 1 - momentum), mul(vB, (momentum * n) / (n - 1)));
    return [y, { mean: newMean, var: newVar }];
  });
}

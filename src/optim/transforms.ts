/**
 * Gradient transformations (Optax's building blocks), each a pure { init, update } pair, and the
 * combinators `chain` and `applyUpdates`. Scalars that change from step to step (learning rates,
 * bias corrections) are looked up on the device by the state's step count (./device-count.ts);
 * computed on the host (a schedule given as a plain function), they are uploaded as fresh rank-0
 * tensors, never as cached constants.
 *
 * Every `update` runs in `tidy`: only the returned updates and state survive.
 */
import { WgradError } from '../core/backend.js';
import { treeLeaves, treeUnflatten } from '../tensor/tree.js';
import { full, tensor } from '../tensor/ops/creation.js';
import { add, div, equal, logicalOr, maximum, mul, sqrt, where } from '../tensor/ops/elementwise.js';
import { sum } from '../tensor/ops/reduce.js';
import { treeMap } from '../tensor/tree.js';
import { tidy } from '../tensor/scope.js';
import { alias } from '../tensor/alias.js';
import type { Tensor } from '../tensor/tensor.js';
import { biasCorrectionTable, deviceCount, hostCount, initCount, lookup, negatedScheduleTable, nextCount } from './device-count.js';
import { type Count, type GradientTransformation, type ParamPredicate, type ScalarOrSchedule, type StateOf, valueAt, zipLeaves } from './types.js';

type Empty = Record<string, never>;
const empty = (): Empty => ({});
/** A fresh float32 scalar on the device. */
const scalar = (v: number): Tensor => tensor(v);

/** Maps the updates leaf by leaf, with the matching leaves of `others`. */
function mapUpdates<P>(op: string, updates: P, others: unknown[], fn: (path: string, u: Tensor, ...rest: Tensor[]) => Tensor): P {
  const zipped = zipLeaves(op, updates, ...others);
  return treeUnflatten(updates, zipped.map(({ path, leaves: [u, ...rest] }) => fn(path, u, ...rest)));
}

function needParams(op: string, params: unknown): asserts params {
  if (params === undefined) throw new WgradError(op, 'this transformation needs the current params: call update(grads, state, params)');
}

/** updates · factor. */
export function scale(factor: number): GradientTransformation<Empty> {
  return {
    init: empty,
    update: (updates, state) => tidy(() => [treeMap(updates, (u) => mul(u, factor)), { ...state }]),
  };
}

/**
 * The state of a transformation that counts steps: an int32 scalar on the device, or a number
 * when what it derives from the count is computed on the host (./device-count.ts).
 */
export type CountState = { count: Count };

/**
 * updates · (−lr), with lr a number or a schedule of the step count (kept in the state, starting at
 * 0: the first update uses schedule(0)). The count is on the device unless lr is a plain function
 * (a schedule without a table), whose value the host computes from a host count, as before.
 */
export function scaleByLearningRate(lr: ScalarOrSchedule): GradientTransformation<CountState> {
  const table = negatedScheduleTable(lr);
  return {
    init: () => ({ count: table ? initCount() : 0 }),
    update: (updates, state) =>
      tidy(() => {
        if (!table) {
          const count = hostCount('scaleByLearningRate', state.count);
          const factor = scalar(-valueAt(lr, count));
          return [treeMap(updates, (u) => mul(u, factor)), { count: count + 1 }];
        }
        const count = deviceCount('scaleByLearningRate', state.count);
        const factor = lookup(table, count);
        return [treeMap(updates, (u) => mul(u, factor)), { count: nextCount(count) }];
      }),
  };
}

/** Momentum's state: the trace, a pytree shaped as the params. */
export type TraceState = { trace: unknown };

/**
 * Momentum (Optax's trace; PyTorch SGD's buffer with dampening 0): t ← decay·t + u; the output is
 * t, or u + decay·t with Nesterov. The trace starts at zero.
 */
export function traceMomentum(opts: { decay: number; nesterov?: boolean }): GradientTransformation<TraceState> {
  const { decay, nesterov = false } = opts;
  return {
    init: (params) => ({ trace: treeMap(params, (p) => full(p.shape, 0)) }),
    update: (updates, state) =>
      tidy(() => {
        const zipped = zipLeaves('traceMomentum', updates, state.trace);
        const traces = zipped.map(({ leaves: [u, t] }) => add(mul(t, decay), u));
        const out = nesterov ? zipped.map(({ leaves: [u] }, i) => add(u, mul(traces[i], decay))) : traces.map(alias);
        return [treeUnflatten(updates, out), { trace: treeUnflatten(state.trace, traces) }];
      }),
  };
}

/** Adam's state: the step count (see CountState) and the first and second moments. */
export type AdamState = { count: Count; mu: unknown; nu: unknown };

/** Options of `scaleByAdam`: β₁, β₂ and ε. */
export interface AdamScalingOptions {
  /** Default 0.9. */
  b1?: number;
  /** Default 0.999. */
  b2?: number;
  /** Added outside the square root (default 1e-8). */
  eps?: number;
  /** Added inside the square root (default 0). */
  epsRoot?: number;
}

/**
 * Adam's rescaling (Optax's scale_by_adam): μ ← b1·μ + (1 − b1)·u, ν ← b2·ν + (1 − b2)·u²,
 * output (μ/(1 − b1^t)) / (√(ν/(1 − b2^t) + epsRoot) + eps) with t = count + 1.
 */
export function scaleByAdam(opts: AdamScalingOptions = {}): GradientTransformation<AdamState> {
  const { b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0 } = opts;
  const tables = [biasCorrectionTable(b1), biasCorrectionTable(b2)] as const;
  const onDevice = tables[0] !== undefined && tables[1] !== undefined;
  /** The bias corrections 1/(1 − b^t), t = count + 1, and the next count. */
  const corrections = (count: Count): [Tensor | number, Tensor | number, Count] => {
    if (!onDevice) {
      const t = hostCount('scaleByAdam', count) + 1;
      return [scalar(1 / (1 - b1 ** t)), scalar(1 / (1 - b2 ** t)), t];
    }
    const c = deviceCount('scaleByAdam', count);
    return [lookup(tables[0]!, c), lookup(tables[1]!, c), nextCount(c)];
  };
  return {
    init: (params) => ({ count: onDevice ? initCount() : 0, mu: treeMap(params, (p) => full(p.shape, 0)), nu: treeMap(params, (p) => full(p.shape, 0)) }),
    update: (updates, state) =>
      tidy(() => {
        const [c1, c2, t] = corrections(state.count);
        const zipped = zipLeaves('scaleByAdam', updates, state.mu, state.nu);
        const mu = zipped.map(({ leaves: [u, m] }) => add(mul(m, b1), mul(u, 1 - b1)));
        const nu = zipped.map(({ leaves: [u, , v] }) => add(mul(v, b2), mul(mul(u, u), 1 - b2)));
        const out = mu.map((m, i) => {
          const vhat = mul(nu[i], c2);
          return div(mul(m, c1), add(sqrt(epsRoot ? add(vhat, epsRoot) : vhat), eps));
        });
        return [treeUnflatten(updates, out), { count: t, mu: treeUnflatten(state.mu, mu), nu: treeUnflatten(state.nu, nu) }];
      }),
  };
}

/**
 * updates + weightDecay·params (decoupled weight decay when placed after an adaptive rescaling, L2
 * regularization when placed first). To decay only some leaves, wrap it: masked(addDecayedWeights(wd), predicate).
 */
export function addDecayedWeights(weightDecay: number): GradientTransformation<Empty> {
  return {
    init: empty,
    update: (updates, state, params) => {
      needParams('addDecayedWeights', params);
      return tidy(() => [
        mapUpdates('addDecayedWeights', updates, [params], (_, u, p) => (weightDecay !== 0 ? add(u, mul(p, weightDecay)) : alias(u))),
        { ...state },
      ]);
    },
  };
}

/** Options of `scaleByTrustRatio`: the trust coefficient and ε. */
export interface TrustRatioOptions {
  /** η (default 0.001). */
  trustCoefficient?: number;
  /** Added to the update norm (default 0). */
  eps?: number;
}

/**
 * LARS's layer-wise adaptation (Optax's scale_by_trust_ratio): each leaf u of the updates becomes
 * u · η‖w‖/(‖u‖ + eps), or u itself when ‖w‖ = 0 or ‖u‖ = 0. Placed after `addDecayedWeights`, u is
 * g + wd·w, so the ratio is η‖w‖/‖g + wd·w‖ (SimCLR's LARS). Norms stay on the device. To adapt
 * only some leaves, wrap it: masked(scaleByTrustRatio(…), predicate).
 */
export function scaleByTrustRatio(opts: TrustRatioOptions = {}): GradientTransformation<Empty> {
  const { trustCoefficient = 0.001, eps = 0 } = opts;
  return {
    init: empty,
    update: (updates, state, params) => {
      needParams('scaleByTrustRatio', params);
      return tidy(() => [
        mapUpdates('scaleByTrustRatio', updates, [params], (_, u, p) => {
          const wNorm = sqrt(sum(mul(p, p)));
          const uNorm = sqrt(sum(mul(u, u)));
          const ratio = div(mul(wNorm, trustCoefficient), add(uNorm, eps));
          const safe = where(logicalOr(equal(wNorm, 0), equal(uNorm, 0)), 1, ratio);
          return mul(u, safe);
        }),
        { ...state },
      ]);
    },
  };
}

/** √(Σ over every leaf of Σ x²), a rank-0 tensor on the device. */
export function globalNorm(tree: unknown): Tensor {
  return tidy(() => {
    const sq = zipLeaves('globalNorm', tree).map(({ leaves: [t] }) => sum(mul(t, t)));
    return sqrt(sq.reduce((a, b) => add(a, b), scalar(0)));
  });
}

/**
 * Rescales the updates so their global L2 norm is at most maxNorm: u · maxNorm / max(‖u‖, maxNorm)
 * (Optax's clip_by_global_norm; unchanged when the norm is already below maxNorm).
 */
export function clipByGlobalNorm(maxNorm: number): GradientTransformation<Empty> {
  if (!(maxNorm > 0)) throw new WgradError('clipByGlobalNorm', `maxNorm must be positive, got ${maxNorm}`);
  return {
    init: empty,
    update: (updates, state) =>
      tidy(() => {
        const factor = div(maxNorm, maximum(globalNorm(updates), maxNorm));
        return [treeMap(updates, (u) => mul(u, factor)), { ...state }];
      }),
  };
}

/** Applies transformations in order; the state is the tuple of their states. */
export function chain<T extends readonly GradientTransformation<any>[]>(
  ...transforms: T
): GradientTransformation<{ -readonly [K in keyof T]: StateOf<T[K]> }> {
  type S = { -readonly [K in keyof T]: StateOf<T[K]> };
  return {
    init: (params) => transforms.map((t) => t.init(params)) as S,
    update: (updates, state, params) =>
      tidy(() => {
        let u = updates;
        const states = transforms.map((t, i) => {
          const [next, s] = t.update(u, state[i], params);
          u = next;
          return s;
        });
        // With no transformations the updates would come back as themselves: copy them.
        if (transforms.length === 0) u = treeMap(updates, alias);
        return [u, states as S];
      }),
  };
}

/**
 * Optax's `masked`: `inner` transforms only the leaves the predicate selects; the others pass through
 * unchanged. The predicate is asked with each leaf's path and tensor: of the params at init, of the
 * updates at update (same paths and shapes). The inner transformation sees the same trees with the
 * unselected leaves replaced by null (Optax: MaskedNode), so its state holds only the selected
 * leaves. Differences from Optax: the mask is a predicate (path, leaf) → boolean, not a pytree of
 * booleans (a boolean pytree is the predicate that looks its path up), and the state is the inner
 * state itself, not wrapped in a MaskedState (so wrapping a stateless transformation leaves an
 * optimizer's state, and its checkpoints, as they were).
 */
export function masked<S>(inner: GradientTransformation<S>, predicate: ParamPredicate): GradientTransformation<S> {
  const select = <P>(tree: P, keep: boolean[]): P => {
    let i = 0;
    return treeMap(tree, (t) => (keep[i++] ? t : (null as unknown as Tensor)));
  };
  const maskOf = (tree: unknown) => zipLeaves('masked', tree).map(({ path, leaves: [t] }) => predicate(path, t));
  return {
    init: (params) => inner.init(select(params, maskOf(params))),
    update: (updates, state, params) =>
      tidy(() => {
        const keep = maskOf(updates);
        const [innerUpdates, next] = inner.update(select(updates, keep), state, params === undefined ? undefined : select(params, keep));
        const transformed = treeLeaves(innerUpdates).map(([, t]) => t);
        let j = 0;
        const out = zipLeaves('masked', updates).map(({ leaves: [u] }, i) => (keep[i] ? transformed[j++] : alias(u)));
        return [treeUnflatten(updates, out), next];
      }),
  };
}

/** params + updates, leaf by leaf (a new tree; the caller disposes the old params). */
export function applyUpdates<P>(params: P, updates: P): P {
  return tidy(() => mapUpdates('applyUpdates', params, [updates], (_, p, u) => add(p, u)));
}

/**
 * APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
 * diverse parameter-free attacks"), following the official AutoAttack code (autopgd_base.py,
 * attack_single_run) for L∞ and L2:
 *
 *   start   L∞: x + ε·t/‖t‖∞ with t ~ U[−1, 1]ⁿ per example; L2: x + ε·t/‖t‖₂ with t ~ N(0, I);
 *           clipped to the box. Or x + δ₀ with an explicit `start: δ₀` (the code's `x_init`).
 *   step    η = 2ε per example; z = P(xᵏ + η·d(∇ᵏ)); xᵏ⁺¹ = P(xᵏ + a(z − xᵏ) + (1 − a)(xᵏ − xᵏ⁻¹)),
 *           a = 1 at the first step and 0.75 after (d = sign for L∞, ∇/‖∇‖₂ for L2).
 *   check   checkpoints after w₁ = max(⌊0.22N⌋, 1) steps, then intervals shrinking by
 *           max(⌊0.03N⌋, 1) down to max(⌊0.06N⌋, 1) (N = 100: 22, 41, 57, 70, 80, 87, 93, 99). At a
 *           checkpoint, per example, η is halved and the iterate (and its gradient) restarts from
 *           the best point when (1) the loss increased in at most ρ·w of the w steps since the last
 *           checkpoint (ρ = 0.75; ≤ as in the code), or (2) η was not halved at the previous
 *           checkpoint and the best loss has not improved since.
 *   result  the best point per example by `perExample`; where the loss reports `success`, a point
 *           where it held (the latest such iterate, AutoAttack's x_best_adv) is returned instead.
 *
 * One reading differs from the code: condition (1) counts increases over the w consecutive pairs
 * ending at the current step, the first compared with the loss at the start point (the paper's
 * definition); the code compares the first step of the first window with a zero-initialized row.
 * The loss must give `perExample` (see ./common.ts); `apgdCe` is the cross-entropy version, the
 * first attack of AutoAttack. Every step runs in its own tidy (memory stays flat).
 *
 * What it computes, per the papers and official code, and the readings chosen: docs/methods.md#apgd-ce.
 */
import { WgradError } from '../core/backend.js';
import { abs, add, cast, div, greater, greaterEqual, lessEqual, logicalAnd, logicalNot, logicalOr, maximum, mul, sub, where } from '../tensor/ops/elementwise.js';
import { full } from '../tensor/ops/creation.js';
import { reshape } from '../tensor/ops/movement.js';
import { max } from '../tensor/ops/reduce.js';
import { normal, uniform, type Key } from '../random/random.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  ascentDirection, type BallOptions, type Box, checkBall, checkInBox, checkInput, checkPositive, checkSteps, clipBox, evaluate,
  exampleNorm, givenStart, type LossFn, type Norm, type OnStep, projectAround,
} from './common.js';
import { type Classifier, crossEntropy, type Labels } from './objectives.js';

/** Options of `apgd`: the ball (ε, norm, box), the iteration count and the step-size schedule. */
export interface ApgdOptions extends Partial<BallOptions> {
  /** Iterations N (default 100). */
  steps?: number;
  /** ρ of condition (1) (default 0.75). */
  rho?: number;
  /** Momentum a after the first step (default 0.75). */
  momentum?: number;
  /** Start at x + δ₀ (x's shape, in the ball and the box) instead of a random point. */
  start?: Tensor;
  onStep?: OnStep;
}

/** The iteration counts (1-based, after that many steps) at which APGD checks its step size. */
export function apgdCheckpoints(steps: number): number[] {
  let w = Math.max(Math.floor(0.22 * steps), 1);
  const decr = Math.max(Math.floor(0.03 * steps), 1);
  const min = Math.max(Math.floor(0.06 * steps), 1);
  const out: number[] = [];
  for (let at = w; at <= steps; at += w = Math.max(w - decr, min)) out.push(at);
  return out;
}

interface State {
  x: Tensor; xPrev: Tensor; grad: Tensor; lossPrev: Tensor; increases: Tensor;
  xBest: Tensor; gradBest: Tensor; lossBest: Tensor; eta: Tensor;
  lossBestLastCheck: Tensor; reducedLast: Tensor;
  found?: Tensor; xFound?: Tensor;
}

/** APGD (Croce & Hein 2020) on `loss` from x: the best point per example after `steps` iterations with the adaptive step size (see the module header). */
export function apgd(loss: LossFn, x: Tensor, key: Key, opts: ApgdOptions = {}): Tensor {
  checkInput('apgd', x);
  const { eps, norm, box } = checkBall('apgd', opts, { linf: 8 / 255, l2: 0.5 });
  const { steps = 100, rho = 0.75, momentum = 0.75 } = opts;
  checkSteps('apgd', 'steps', steps);
  checkPositive('apgd', 'rho', rho);
  if (!(momentum >= 0 && momentum <= 1)) throw new WgradError('apgd', `momentum must be in [0, 1], got ${momentum}`);
  checkInBox('apgd', x, box);
  const rows = [x.shape[0], ...x.shape.slice(1).map(() => 1)];
  // Checkpoint (after that many steps) → the number of steps since the previous one.
  const windows = new Map(apgdCheckpoints(steps).map((at, j, all) => [at, at - (all[j - 1] ?? 0)]));
  let s = initialState(loss, x, key, eps, norm, box, rows, opts.start);
  try {
    for (let i = 0; i < steps; i++) {
      const next = step(loss, x, s, i, { eps, norm, box, rows, steps, momentum, rho, window: windows.get(i + 1) });
      // The old state's tensors that the new one does not carry over.
      dispose(Object.values(s).filter((t) => !Object.values(next).includes(t)));
      s = next;
      opts.onStep?.(i + 1, steps);
    }
    return tidy(() => (s.found ? where(reshape(s.found, rows), s.xFound!, s.xBest) : add(s.xBest, 0)));
  } finally {
    dispose(Object.values(s));
  }
}

interface StepOptions { eps: number; norm: Norm; box: Box; rows: number[]; steps: number; momentum: number; rho: number; window?: number }

/** Iteration i (0-based): the momentum step from s, the best and found points, and the checkpoint if one falls here. */
function step(loss: LossFn, x: Tensor, s: State, i: number, o: StepOptions): State {
  const a = i === 0 ? 1 : o.momentum;
  return tidy(() => {
    const P = (t: Tensor) => projectAround(x, t, o.eps, o.norm, o.box);
    const z = P(add(s.x, mul(ascentDirection(s.grad, o.norm), s.eta)));
    const xNew = P(add(add(s.x, mul(sub(z, s.x), a)), mul(sub(s.x, s.xPrev), 1 - a)));
    const e = evaluate('apgd', loss, xNew, `step ${i + 1} of ${o.steps}`);
    if (!e.perExample) throw new WgradError('apgd', 'the loss must give perExample scores (see crossEntropy)');
    const l = e.perExample;
    const improved = greater(l, s.lossBest);
    const impRows = reshape(improved, o.rows);
    let n: State = {
      x: xNew, xPrev: s.x, grad: e.grad, lossPrev: l,
      increases: add(s.increases, cast(greater(l, s.lossPrev), 'float32')),
      xBest: where(impRows, xNew, s.xBest), gradBest: where(impRows, e.grad, s.gradBest), lossBest: where(improved, l, s.lossBest),
      eta: s.eta, lossBestLastCheck: s.lossBestLastCheck, reducedLast: s.reducedLast,
    };
    if (s.found && e.success) {
      n.found = logicalOr(s.found, e.success);
      n.xFound = where(reshape(e.success, o.rows), xNew, s.xFound!);
    }
    if (o.window !== undefined) n = checkpoint(n, o.window, o.rho, o.rows);
    return n;
  });
}

/** The step-size check at a checkpoint, `window` steps after the previous one. */
function checkpoint(n: State, window: number, rho: number, rows: number[]): State {
  const oscillating = lessEqual(n.increases, window * rho);
  const stalled = logicalAnd(logicalNot(n.reducedLast), greaterEqual(n.lossBestLastCheck, n.lossBest));
  const reduce = logicalOr(oscillating, stalled);
  const r = reshape(reduce, rows);
  return {
    ...n,
    eta: where(r, mul(n.eta, 0.5), n.eta),
    x: where(r, n.xBest, n.x),
    grad: where(r, n.gradBest, n.grad),
    increases: mul(n.increases, 0),
    reducedLast: reduce,
    lossBestLastCheck: n.lossBest,
  };
}

function initialState(loss: LossFn, x: Tensor, key: Key, eps: number, norm: Norm, box: Box, rows: number[], delta0?: Tensor): State {
  return tidy(() => {
    const x0 = delta0 !== undefined ? givenStart('apgd', x, delta0, eps, norm, box) : randomPoint(x, key, eps, norm, box);
    const e = evaluate('apgd', loss, x0, 'the start point');
    if (!e.perExample) throw new WgradError('apgd', 'the loss must give perExample scores (see crossEntropy)');
    const s: State = {
      x: x0, xPrev: x0, grad: e.grad, lossPrev: e.perExample, increases: full([x.shape[0]], 0),
      xBest: x0, gradBest: e.grad, lossBest: e.perExample, eta: full(rows, 2 * eps),
      lossBestLastCheck: e.perExample, reducedLast: full([x.shape[0]], 1, 'bool'),
    };
    if (e.success) return { ...s, found: e.success, xFound: x0 };
    return s;
  });
}

/** The official random start: a point on the sphere of the ball's norm, of radius ε, clipped to the box. */
function randomPoint(x: Tensor, key: Key, eps: number, norm: Norm, box: Box): Tensor {
  return tidy(() => {
    const t = norm === 'linf' ? uniform(key, x.shape, { minval: -1, maxval: 1 }) : normal(key, x.shape);
    const scale = norm === 'linf' ? max(abs(t), t.shape.map((_, i) => i).slice(1), { keepdims: true }) : exampleNorm(t);
    return clipBox(add(x, mul(div(t, maximum(scale, 1e-12)), eps)), box);
  });
}

/** APGD on the cross-entropy of a classifier (AutoAttack's APGD-CE). */
export function apgdCe(model: Classifier, x: Tensor, labels: Labels, key: Key, opts: ApgdOptions = {}): Tensor {
  return apgd(crossEntropy(model, labels), x, key, opts);
}

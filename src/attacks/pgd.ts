/**
 * FGSM and PGD (Goodfellow et al. 2015; Madry et al. 2018), torchattacks' formulation:
 *
 *   FGSM   xAdv = Π(x + ε·d(∇L(x)))                       (one step of size ε)
 *   PGD    x⁰ = Π(x + random start),  xᵗ⁺¹ = Π(xᵗ + α·d(∇L(xᵗ)))
 *
 * with d(g) = sign(g) under L∞ and g/‖g‖₂ (per example) under L2, and Π the projection onto the
 * ε-ball around x followed by clipping to the box (see ./common.ts). Defaults are torchattacks':
 * L∞ ε = 8/255, α = 2/255, 10 steps; L2 ε = 1.0, α = 0.2, 10 steps; random start on.
 *
 * Restarts: PGD runs `restarts` times from independent random starts (keys split from `key`) and
 * keeps, per example, the point with the higher `perExample` score (a `success` point beats an
 * unsuccessful one); a loss without `perExample` keeps the whole restart with the highest loss.
 * FGSM with `randomStart` is Wong et al.'s FGSM-RS: a uniform start in the ball, then one step of
 * size α (default 1.25ε); with an explicit `start: δ₀` it steps α from x + δ₀ the same way. PGD
 * with `start: δ₀` begins at x + δ₀ instead of a random point (see ./common.ts).
 *
 * Every step runs in its own `tidy`, so memory stays flat however many steps run. Call attacks
 * outside a traced function (compute xAdv first, then differentiate the training loss at it).
 *
 * What it computes, per the papers and official code, and the readings chosen: docs/methods.md#fgsm and docs/methods.md#pgd.
 */
import { WgradError } from '../core/backend.js';
import { add, greater, equal, logicalAnd, logicalNot, logicalOr, mul, where } from '../tensor/ops/elementwise.js';
import { reshape } from '../tensor/ops/movement.js';
import { split, type Key } from '../random/random.js';
import { dispose, tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import {
  ascentDirection, type BallOptions, checkBall, checkInBox, checkInput, checkPositive, checkStartOptions, checkSteps, clipBox,
  evaluate, givenStart, type Box, type LossFn, type Norm, type OnStep, projectAround, randomStart,
} from './common.js';

/** Options of `fgsm`: the ball, and an optional random or given start with its step α. */
export interface FgsmOptions extends Partial<BallOptions> {
  /** Start from a uniform point in the ball, then step α (Wong et al. 2020). Default false. */
  randomStart?: boolean;
  /** Start at x + δ₀ (x's shape, in the ball and the box), then step α. */
  start?: Tensor;
  /** Step size from a random or given start (default 1.25ε); without one the step is ε. */
  alpha?: number;
}

/** Options of `pgd`: the ball, the step α, the step count, restarts and the start. */
export interface PgdOptions extends Partial<BallOptions> {
  /** Step size (default 2/255 for L∞, 0.2 for L2). */
  alpha?: number;
  /** Number of steps (default 10). */
  steps?: number;
  /** Start at a random point of the ball (default true, unless `start` is given). */
  randomStart?: boolean;
  /** Start at x + δ₀ (x's shape, in the ball and the box): reproduces a run from a given point, or warm-starts one. */
  start?: Tensor;
  /** Independent runs; the worst case per example is kept (default 1). */
  restarts?: number;
  onStep?: OnStep;
}

const DEFAULT_EPS: Record<Norm, number> = { linf: 8 / 255, l2: 1.0 };
const DEFAULT_ALPHA: Record<Norm, number> = { linf: 2 / 255, l2: 0.2 };

/** FGSM: one step of size ε along d(∇loss(x)), projected to the ball and the box (FGSM-RS with a start). */
export function fgsm(loss: LossFn, x: Tensor, key: Key, opts: FgsmOptions = {}): Tensor {
  checkInput('fgsm', x);
  const { eps, norm, box } = checkBall('fgsm', opts, DEFAULT_EPS);
  checkStartOptions('fgsm', opts);
  const started = opts.randomStart || opts.start !== undefined;
  const alpha = started ? opts.alpha ?? 1.25 * eps : eps;
  if (started) checkPositive('fgsm', 'alpha', alpha);
  checkInBox('fgsm', x, box);
  return tidy(() => {
    const start = opts.start !== undefined ? givenStart('fgsm', x, opts.start, eps, norm, box)
      : opts.randomStart ? randomStart(key, x, eps, norm, box) : x;
    const { grad } = evaluate('fgsm', loss, start, 'its step');
    return projectAround(x, add(start, mul(ascentDirection(grad, norm), alpha)), eps, norm, box);
  });
}

/** PGD: `steps` steps of size α from a random (or given) start, each projected to the ball and the box. */
export function pgd(loss: LossFn, x: Tensor, key: Key, opts: PgdOptions = {}): Tensor {
  checkInput('pgd', x);
  const { eps, norm, box } = checkBall('pgd', opts, DEFAULT_EPS);
  const { alpha = DEFAULT_ALPHA[norm], steps = 10, restarts = 1, start } = opts;
  const rs = opts.randomStart ?? start === undefined;
  checkPositive('pgd', 'alpha', alpha);
  checkSteps('pgd', 'steps', steps);
  checkSteps('pgd', 'restarts', restarts);
  checkStartOptions('pgd', opts);
  if (restarts > 1 && !rs) throw new WgradError('pgd', 'restarts > 1 needs randomStart (every restart would be the same run)');
  checkInBox('pgd', x, box);
  const run = (k: Key, restart: string) => {
    const x0 = start !== undefined ? givenStart('pgd', x, start, eps, norm, box) : rs ? randomStart(k, x, eps, norm, box) : clipBox(x, box);
    return iterate(loss, x, x0, { eps, norm, box, alpha, steps, restart, onStep: opts.onStep });
  };
  if (restarts === 1) return run(key, '');
  return worstOf(loss, split(key, restarts).map((k, r) => () => run(k, ` (restart ${r + 1} of ${restarts})`)));
}

/** PGD's steps from x0 (owned: disposed as the iterate moves on, or if a step throws). */
function iterate(loss: LossFn, x: Tensor, x0: Tensor, o: { eps: number; norm: Norm; box: Box; alpha: number; steps: number; restart: string; onStep?: OnStep }): Tensor {
  let xAdv = x0;
  try {
    for (let s = 1; s <= o.steps; s++) {
      const prev = xAdv;
      xAdv = tidy(() => {
        const { grad } = evaluate('pgd', loss, prev, `step ${s} of ${o.steps}${o.restart}`);
        return projectAround(x, add(prev, mul(ascentDirection(grad, o.norm), o.alpha)), o.eps, o.norm, o.box);
      });
      prev.dispose();
      o.onStep?.(s, o.steps);
    }
    return xAdv;
  } catch (e) {
    xAdv.dispose();
    throw e;
  }
}

/** The strongest point per example over several runs (see `keepWorst`). */
function worstOf(loss: LossFn, runs: (() => Tensor)[]): Tensor {
  let best: Scored | undefined;
  try {
    for (const run of runs) {
      const candidate = score(loss, run());
      if (!best) { best = candidate; continue; }
      const merged = keepWorst(best, candidate);
      dispose([best, candidate]);
      best = merged;
    }
  } catch (e) {
    dispose(best);
    throw e;
  }
  const { x: out, ...rest } = best!;
  dispose(rest);
  return out;
}

interface Scored { x: Tensor; score: Tensor; success?: Tensor }

/** The loss at xAdv (owned) without a gradient: per-example scores if the loss gives them, else the scalar. */
function score(loss: LossFn, xAdv: Tensor): Scored {
  try {
    const s = tidy(() => {
      const out = loss(xAdv);
      if (out instanceof Tensor) return { score: out };
      return { score: out.perExample ?? out.loss, success: out.success };
    });
    return { x: xAdv, ...s };
  } catch (e) {
    xAdv.dispose();
    throw e;
  }
}

/** Per example (or for the whole batch, with a scalar score): the stronger of two attack points. */
export function keepWorst(a: Scored, b: Scored): Scored {
  return tidy(() => {
    let better = greater(b.score, a.score);
    if (a.success && b.success) {
      better = logicalOr(logicalAnd(b.success, logicalNot(a.success)), logicalAnd(equal(b.success, a.success), better));
    }
    const rows = better.rank === 0 ? better : reshape(better, [better.shape[0], ...a.x.shape.slice(1).map(() => 1)]);
    return {
      x: where(rows, b.x, a.x),
      score: where(better, b.score, a.score),
      ...(a.success && b.success ? { success: logicalOr(a.success, b.success) } : {}),
    };
  });
}

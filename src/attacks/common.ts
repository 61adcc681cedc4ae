/**
 * What every attack shares: the loss contract, option validation, the projections onto the ε-ball
 * and the input box, random starts, and one differentiated evaluation of the loss.
 *
 * The loss contract. An attack maximizes `loss(xAdv)`, which returns either a float32 scalar, or
 * `{ loss, perExample?, success? }` where `loss` is that scalar (the one differentiated),
 * `perExample` [N] scores each example (higher = stronger attack; restarts and APGD keep the best
 * point per example by it) and `success` bool [N] says which examples are already adversarial (e.g.
 * misclassified; a successful point is preferred over an unsuccessful one with a higher score).
 * `crossEntropy(model, labels)` in ./objectives.ts builds such a loss for a classifier.
 *
 * Geometry. With x the clean input (which must lie in the box), every attack returns xAdv with
 * δ = xAdv − x in the ε-ball (‖δ‖∞ ≤ ε or ‖δ‖₂ ≤ ε per example, the norm over every axis but the
 * first) and xAdv in the box [lo, hi] (default [0, 1]; `box: null` for none). It projects onto the
 * ball first and clips to the box second (torchattacks' order): clipping moves every coordinate
 * toward x, so the result stays in the ball.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { valueAndGrad } from '../autograd/transforms.js';
import { add, clip, div, maximum, minimum, mul, sign, sqrt, sub } from '../tensor/ops/elementwise.js';
import { reshape } from '../tensor/ops/movement.js';
import { sum } from '../tensor/ops/reduce.js';
import { normal, split, uniform, type Key } from '../random/random.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

export type Norm = 'linf' | 'l2';
/** [lo, hi] for every input element, or null for an unbounded input. */
export type Box = readonly [number, number] | null;

/** What a loss closure may return (see the header). */
export type LossOutput = Tensor | { loss: Tensor; perExample?: Tensor; success?: Tensor };
/** The function an attack maximizes, of the perturbed input. */
export type LossFn = (x: Tensor) => LossOutput;

/** Called after every step with the step number (1-based) and the number of steps. */
export type OnStep = (step: number, steps: number) => void;

/** One evaluation of the loss: the scalar, its gradient with respect to x and the optional scores. */
export interface Evaluated {
  value: Tensor;
  grad: Tensor;
  perExample?: Tensor;
  success?: Tensor;
}

/** Evaluates `loss` at x with its gradient; checks the contract. Caller owns everything returned. */
export function evaluate(op: string, loss: LossFn, x: Tensor): Evaluated {
  const n = x.shape[0];
  const f = (xx: Tensor): [Tensor, { perExample?: Tensor; success?: Tensor }] => {
    const out = loss(xx);
    const { loss: value, perExample, success } = out instanceof Tensor ? { loss: out } : out;
    if (!(value instanceof Tensor) || value.dtype !== 'float32' || value.rank !== 0) {
      const got = value instanceof Tensor ? `${value.dtype} ${fmtShape(value.shape)}` : typeof value;
      throw new WgradError(op, `the loss must return a float32 scalar (or { loss: scalar, perExample?, success? }), got ${got}`);
    }
    if (perExample && (perExample.dtype !== 'float32' || perExample.rank !== 1 || perExample.shape[0] !== n)) {
      throw new WgradError(op, `perExample must be float32 [${n}] (one score per input row), got ${perExample.dtype} ${fmtShape(perExample.shape)}`);
    }
    if (success && (success.dtype !== 'bool' || success.rank !== 1 || success.shape[0] !== n)) {
      throw new WgradError(op, `success must be bool [${n}], got ${success.dtype} ${fmtShape(success.shape)}`);
    }
    return [value, { perExample, success }];
  };
  const [[value, aux], grad] = valueAndGrad(f, { hasAux: true })(x);
  return { value, grad, perExample: aux.perExample, success: aux.success };
}

// ---------------------------------------------------------------------------------------------
// Validation

export interface BallOptions {
  /** Radius of the ball (≥ 0). */
  eps: number;
  /** 'linf' (default) or 'l2'. */
  norm?: Norm;
  /** Default [0, 1]; null for none. */
  box?: Box;
}

export function checkInput(op: string, x: Tensor): void {
  if (!(x instanceof Tensor)) throw new WgradError(op, `x must be a Tensor, got ${typeof x}`);
  x._check(op);
  if (x.dtype !== 'float32' || x.rank < 1 || x.shape[0] < 1) {
    throw new WgradError(op, `x must be a float32 batch [N, ...] with N ≥ 1, got ${x.dtype} ${fmtShape(x.shape)}`);
  }
}

/** The ball and box options, validated; `defaultEps` (per norm) fills in a missing ε. */
export function checkBall(op: string, o: Partial<BallOptions>, defaultEps?: Record<Norm, number>): { eps: number; norm: Norm; box: Box } {
  const { norm = 'linf', box = [0, 1] } = o;
  if (norm !== 'linf' && norm !== 'l2') throw new WgradError(op, `norm must be 'linf' or 'l2', got ${JSON.stringify(norm)}`);
  const eps = o.eps ?? defaultEps?.[norm];
  if (!(typeof eps === 'number' && eps >= 0 && Number.isFinite(eps))) throw new WgradError(op, `eps must be a finite number ≥ 0, got ${eps}`);
  if (box !== null && !(Array.isArray(box) && box.length === 2 && box[0] < box[1])) {
    throw new WgradError(op, `box must be [lo, hi] with lo < hi, or null, got ${JSON.stringify(box)}`);
  }
  return { eps, norm, box };
}

export function checkPositive(op: string, name: string, v: number): void {
  if (!(typeof v === 'number' && v > 0 && Number.isFinite(v))) throw new WgradError(op, `${name} must be a finite number > 0, got ${v}`);
}

export function checkSteps(op: string, name: string, v: number, min = 1): void {
  if (!(Number.isInteger(v) && v >= min)) throw new WgradError(op, `${name} must be an integer ≥ ${min}, got ${v}`);
}

// ---------------------------------------------------------------------------------------------
// Geometry

/** ‖t‖₂ per example (over every axis but the first), shaped [N, 1, ..., 1] for broadcasting. */
export function exampleNorm(t: Tensor): Tensor {
  return tidy(() => sqrt(sum(mul(t, t), t.shape.map((_, i) => i).slice(1), { keepdims: true })));
}

/**
 * Σ (a − b)² per example over every axis but the first, [N]: the squared distance of two batches of
 * representations (the representation-distance attack's score, the regularizer's R).
 */
export function squaredDistance(a: Tensor, b: Tensor): Tensor {
  if (a.shape.join() !== b.shape.join()) throw new WgradError('squaredDistance', `the two batches must have one shape, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  return tidy(() => {
    const d = reshape(sub(a, b), [a.shape[0], -1]);
    return sum(mul(d, d), -1);
  });
}

/** δ projected onto the ε-ball. */
export function projectBall(delta: Tensor, eps: number, norm: Norm): Tensor {
  return tidy(() => {
    if (norm === 'linf') return clip(delta, -eps, eps);
    // δ · min(1, ε/‖δ‖); the 1e-12 keeps δ = 0 at 0.
    return mul(delta, minimum(div(eps, maximum(exampleNorm(delta), 1e-12)), 1));
  });
}

export function clipBox(x: Tensor, box: Box): Tensor {
  return box === null ? tidy(() => add(x, 0)) : clip(x, box[0], box[1]);
}

/** x + δ with δ projected onto the ball and the sum clipped to the box. */
export function projectAround(x: Tensor, xAdv: Tensor, eps: number, norm: Norm, box: Box): Tensor {
  return tidy(() => clipBox(add(x, projectBall(sub(xAdv, x), eps, norm)), box));
}

/** The steepest-ascent direction for the norm: sign(g) (L∞) or g/‖g‖₂ per example (L2). */
export function ascentDirection(g: Tensor, norm: Norm): Tensor {
  return tidy(() => (norm === 'linf' ? sign(g) : div(g, add(exampleNorm(g), 1e-12))));
}

/**
 * torchattacks' random starts: L∞ x + U(−ε, ε); L2 x + ε·r·n/‖n‖ with n ~ N(0, I), r ~ U(0, 1)
 * per example; then clipped to the box.
 */
export function randomStart(key: Key, x: Tensor, eps: number, norm: Norm, box: Box): Tensor {
  return tidy(() => {
    if (norm === 'linf') return clipBox(add(x, uniform(key, x.shape, { minval: -eps, maxval: eps })), box);
    const [kn, kr] = split(key);
    const n = normal(kn, x.shape);
    const r = uniform(kr, [x.shape[0], ...x.shape.slice(1).map(() => 1)]);
    return clipBox(add(x, mul(div(n, maximum(exampleNorm(n), 1e-12)), mul(r, eps))), box);
  });
}

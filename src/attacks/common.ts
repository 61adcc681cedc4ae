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
 *
 * Starts. PGD-family attacks start at a random point of the ball (`randomStart`), at x, or at an
 * explicit `start: δ₀` (x's shape; x + δ₀ in the ball and the box up to float32 rounding), so that
 * a run can be reproduced from a given point or warm-started (AutoAttack's `x_init` is the same
 * idea, given as a point).
 *
 * Value checks. x finite and in the box, δ₀ in the ball, and a finite loss and gradient at every
 * step depend on device values; they are registered with ./checks.ts and raised by whoever reads
 * them (evaluation does; `checked(() => attack(...))` for a single call).
 *
 * Option ranges are float32 ranges: ε and α are at most MAX_RADIUS, so that 2ε, ε + α and the
 * squares an L2 norm sums stay finite on the device (Number.isFinite(1e39) is true; 1e39 as a
 * float32 is ∞).
 *
 * What it computes, per the papers and official code, and the readings chosen: docs/methods.md#attack-contract.
 */
import { WgradError } from '../core/backend.js';
import { FLOAT32_MAX } from '../core/dtype.js';
import { checkFloat32, fmtShape } from '../core/shape.js';
import { valueAndGrad } from '../autograd/transforms.js';
import { abs, add, cast, clip, div, greater, less, logicalOr, maximum, minimum, mul, sign, sqrt, sub } from '../tensor/ops/elementwise.js';
import { reshape } from '../tensor/ops/movement.js';
import { max, min, sum } from '../tensor/ops/reduce.js';
import { normal, split, uniform, type Key } from '../random/random.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { countNonFinite, deviceCheck, plural } from './checks.js';

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

/**
 * Evaluates `loss` at x with its gradient; checks the contract, and registers the check that the
 * loss and its gradient are finite (`at` says where in the attack: "step 3 of 10"). Caller owns
 * everything returned.
 */
export function evaluate(op: string, loss: LossFn, x: Tensor, at: string): Evaluated {
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
  deviceCheck(op, () => [value, countNonFinite(grad)], ([v, bad]) => {
    if (Number.isFinite(v) && bad === 0) return undefined;
    const what = bad === 0 ? `the loss is ${v}` : `${plural(bad, 'gradient value')} of ${grad.size} ${bad === 1 ? 'is' : 'are'} NaN or ±∞ (the loss is ${v})`;
    return `${what} at ${at}: the model or the loss gives non-finite values there, so the attack cannot follow its gradient (its result would leave the ε-ball); check the model's parameters and the inputs`;
  });
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

/**
 * The largest ε or α: 2ε, ε + α and (ε + α)² (an L2 norm's sum of squares) stay finite in float32
 * below √FLOAT32_MAX / 2 ≈ 9.2e18.
 */
export const MAX_RADIUS = 1e18;

/** The ball and box options, validated; `defaultEps` (per norm) fills in a missing ε. */
export function checkBall(op: string, o: Partial<BallOptions>, defaultEps?: Record<Norm, number>): { eps: number; norm: Norm; box: Box } {
  const { norm = 'linf', box = [0, 1] } = o;
  if (norm !== 'linf' && norm !== 'l2') throw new WgradError(op, `norm must be 'linf' or 'l2', got ${JSON.stringify(norm)}`);
  const eps = o.eps ?? defaultEps?.[norm];
  if (!(typeof eps === 'number' && eps >= 0)) throw new WgradError(op, `eps must be a finite number ≥ 0, got ${eps}`);
  checkFloat32(op, 'eps', eps, MAX_RADIUS);
  if (box !== null && !(Array.isArray(box) && box.length === 2 && box[0] < box[1])) {
    throw new WgradError(op, `box must be [lo, hi] with lo < hi, or null, got ${JSON.stringify(box)}`);
  }
  if (box !== null) box.forEach((b, i) => checkFloat32(op, `box[${i}]`, b));
  return { eps, norm, box };
}

/** A step size or factor: a number > 0 and at most MAX_RADIUS. */
export function checkPositive(op: string, name: string, v: number): void {
  if (!(typeof v === 'number' && v > 0)) throw new WgradError(op, `${name} must be a finite number > 0, got ${v}`);
  checkFloat32(op, name, v, MAX_RADIUS);
}

/**
 * A temperature T that the device divides by: a normal float32 (≥ 2⁻¹²⁶ ≈ 1.2e-38; below it 1/T
 * overflows, and the GPU may flush a subnormal T to zero) and at most FLOAT32_MAX.
 */
export function checkTemperature(op: string, name: string, t: number): void {
  if (!(typeof t === 'number' && t >= 2 ** -126 && t <= FLOAT32_MAX)) {
    throw new WgradError(op, `${name} must be a number in [1.2e-38, 3.4e38] (a normal float32 > 0), got ${t}`);
  }
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

// ---------------------------------------------------------------------------------------------
// Value checks (see ./checks.ts)

const fmt = (v: number) => String(Number(v.toPrecision(6)));

/** Registers the precondition that x is finite and lies in the box. */
export function checkInBox(op: string, x: Tensor, box: Box): void {
  deviceCheck(op, () => [countNonFinite(x), min(x), max(x), box ? outsideCount(x, box, 0) : 0], ([bad, lo, hi, outside]) => {
    if (bad > 0) return `x holds ${plural(bad, 'non-finite value')} (NaN or ±∞) of ${x.size}`;
    if (outside === 0) return undefined;
    return `x must lie in the box [${box![0]}, ${box![1]}] (the result is clipped to the box, which would move x by more than ε), but x spans [${fmt(lo)}, ${fmt(hi)}] (${outside} of ${x.size} values outside); for inputs in another range (standardized tables, log-mel features) pass box: null, or their own box`;
  });
}

/** The number of elements of t outside [lo − tol, hi + tol]. */
function outsideCount(t: Tensor, box: readonly [number, number], tol: number): Tensor {
  return tidy(() => sum(cast(logicalOr(less(t, box[0] - tol), greater(t, box[1] + tol)), 'int32')));
}

/**
 * The start point x + δ₀ of an explicit start. δ₀ must be float32 with x's shape (checked here),
 * with x + δ₀ in the ε-ball and the box up to float32 rounding (a registered check: δ₀ = xAdv − x
 * of an earlier run may exceed ε by an ulp of x). The point is then projected, which moves it by
 * at most that rounding.
 */
export function givenStart(op: string, x: Tensor, delta0: Tensor, eps: number, norm: Norm, box: Box): Tensor {
  if (!(delta0 instanceof Tensor)) throw new WgradError(op, `start must be a Tensor δ₀ (the start's offset from x), got ${typeof delta0}`);
  delta0._check(op);
  if (delta0.dtype !== 'float32' || delta0.shape.join() !== x.shape.join()) {
    throw new WgradError(op, `start (δ₀) must be float32 with x's shape ${fmtShape(x.shape)}, got ${delta0.dtype} ${fmtShape(delta0.shape)}`);
  }
  // Two float32 ulps at the box's (or x's) scale.
  const ulps = 2 * 2 ** -23;
  const boxTol = box ? ulps * Math.max(1, Math.abs(box[0]), Math.abs(box[1])) : 0;
  deviceCheck(op, () => {
    const size = norm === 'linf' ? max(abs(delta0)) : max(exampleNorm(delta0));
    const x0 = add(x, delta0);
    return [countNonFinite(delta0), size, max(abs(x)), box ? outsideCount(x0, box, boxTol) : 0];
  }, ([bad, size, xMax, outside]) => {
    if (bad > 0) return `start (δ₀) holds ${plural(bad, 'non-finite value')} (NaN or ±∞)`;
    const tol = 1e-5 * eps + ulps * Math.max(1, xMax);
    if (size > eps + tol) return `start (δ₀) must lie in the ε-ball (‖δ₀‖${norm === 'linf' ? '∞' : '₂'} ≤ ε = ${eps} per example), got ${fmt(size)}; δ₀ is the offset from x, not the start point itself`;
    if (outside > 0) return `x + start (δ₀) must lie in the box [${box![0]}, ${box![1]}], but ${outside} of ${x.size} values are outside`;
    return undefined;
  });
  return tidy(() => projectAround(x, add(x, delta0), eps, norm, box));
}

/** Refuses an explicit start beside an explicit random start or restarts (they would not be used). */
export function checkStartOptions(op: string, o: { start?: Tensor; randomStart?: boolean; restarts?: number }): void {
  if (o.start === undefined) return;
  if (o.randomStart === true) throw new WgradError(op, 'give either start (δ₀) or randomStart: true, not both');
  if ((o.restarts ?? 1) > 1) throw new WgradError(op, `restarts > 1 needs random starts; with start (δ₀) every restart would be the same run (got restarts ${o.restarts})`);
}

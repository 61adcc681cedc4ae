/**
 * The VJP rule table: for each primitive, the cotangents of its inputs given the cotangent `g` of
 * its output. Rules are written with differentiable ops, so the backward pass can itself be traced
 * (grad of grad). A rule may return a cotangent with the output's broadcast shape: the backward
 * driver sums it down to the input's shape (un-broadcasting happens once, there). `null` means
 * "no gradient flows to this input" (integer inputs, piecewise-constant functions). Costly
 * cotangents are thunks, so e.g. conv2d never computes the gradient of its data input.
 */
import type { Prim, PrimParams } from '../core/prims.js';
import type { Tensor } from '../tensor/tensor.js';
import * as E from '../tensor/ops/elementwise.js';
import * as M from '../tensor/ops/movement.js';
import { prod, sum, keptShape } from '../tensor/ops/reduce.js';
import { runPrim } from '../tensor/engine.js';
import { zerosLike } from '../tensor/ops/creation.js';
import { matmul } from '../tensor/ops/linalg.js';

/** A cotangent, `null` for none, or a thunk the driver calls only if that input needs a gradient. */
export type Cotangent = Tensor | null | (() => Tensor);
export type VjpRule<P extends Prim> = (g: Tensor, inputs: Tensor[], out: Tensor, params: PrimParams[P]) => Cotangent[];

const none = () => [null];
const noneBinary = () => [null, null];
const maskOf = (c: Tensor) => E.cast(c, 'float32');

/** Cotangent of a reduction, broadcast back over the reduced axes. */
const expandBack = (g: Tensor, x: Tensor, axes: number[]) => M.broadcastTo(M.reshape(g, keptShape(x.shape, axes)), x.shape);

/** Conv geometry without the extra fields of the gradient primitives. */
const geom = (p: PrimParams['conv2d']) => ({ stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups });

export const vjpRules: { [P in Prim]: VjpRule<P> } = {
  neg: (g) => [E.neg(g)], // d(−x) = −dx
  abs: (g, [x]) => [E.mul(g, E.sign(x))], // d|x| = sign(x) dx
  sign: none, floor: none, ceil: none, round: none, logicalNot: none, // piecewise constant
  exp: (g, _, y) => [E.mul(g, y)], // d eˣ = eˣ dx
  log: (g, [x]) => [E.div(g, x)], // d log x = dx / x
  log1p: (g, [x]) => [E.div(g, E.add(x, 1))], // d log(1+x) = dx / (1+x)
  expm1: (g, _, y) => [E.mul(g, E.add(y, 1))], // d (eˣ−1) = eˣ dx
  sqrt: (g, _, y) => [E.div(E.mul(g, 0.5), y)], // d √x = dx / (2√x)
  rsqrt: (g, [x], y) => [E.mul(E.mul(g, -0.5), E.div(y, x))], // d x^−½ = −½ x^−³ᐟ² dx
  reciprocal: (g, _, y) => [E.neg(E.mul(g, E.mul(y, y)))], // d (1/x) = −dx / x²
  sin: (g, [x]) => [E.mul(g, E.cos(x))], // d sin x = cos x dx
  cos: (g, [x]) => [E.neg(E.mul(g, E.sin(x)))], // d cos x = −sin x dx
  tanh: (g, _, y) => [E.mul(g, E.sub(1, E.mul(y, y)))], // d tanh x = (1 − tanh² x) dx
  copy: (g) => [g], // identity
  cast: (g, [x]) => [x.dtype === 'float32' ? g : null], // identity on floats; no gradient into ints
  add: (g) => [g, g], // d(a+b) = da + db
  sub: (g) => [g, E.neg(g)], // d(a−b) = da − db
  mul: (g, [a, b]) => [() => E.mul(g, b), () => E.mul(g, a)], // d(ab) = b da + a db
  div: (g, [a, b]) => [() => E.div(g, b), () => E.neg(E.div(E.mul(g, a), E.mul(b, b)))], // d(a/b) = da/b − a db/b²
  // d aᵇ = b aᵇ⁻¹ da + aᵇ log a db (the second term taken as 0 where a ≤ 0, where log a is undefined)
  pow: (g, [a, b], y) => [
    () => E.mul(g, E.mul(b, E.pow(a, E.sub(b, 1)))),
    () => E.mul(g, E.where(E.greater(a, 0), E.mul(y, E.log(E.where(E.greater(a, 0), a, 1))), 0)),
  ],
  mod: (g, [a, b]) => [g, () => E.neg(E.mul(g, E.floor(E.div(a, b))))], // a mod b = a − b⌊a/b⌋
  // d max(a, b): to a where a > b, to b where b > a, split evenly on ties
  maximum: (g, [a, b]) => {
    const wa = E.add(maskOf(E.greater(a, b)), E.mul(maskOf(E.equal(a, b)), 0.5));
    return [E.mul(g, wa), E.mul(g, E.sub(1, wa))];
  },
  minimum: (g, [a, b]) => {
    const wa = E.add(maskOf(E.less(a, b)), E.mul(maskOf(E.equal(a, b)), 0.5));
    return [E.mul(g, wa), E.mul(g, E.sub(1, wa))];
  },
  eq: noneBinary, ne: noneBinary, lt: noneBinary, le: noneBinary, gt: noneBinary, ge: noneBinary,
  logicalAnd: noneBinary, logicalOr: noneBinary,
  where: (g, [c]) => [null, () => E.where(c, g, 0), () => E.where(c, 0, g)], // routes g by the condition
  sum: (g, [x], _, { axes }) => [expandBack(g, x, axes)], // d Σx = Σ dx: broadcast back
  // ∂Πx/∂xᵢ = Π_{j≠i} xⱼ: Πx / xᵢ where xᵢ ≠ 0 (see prodGrad for zeros)
  prod: (g, [x], y, { axes }) => [prodGrad(g, x, y, axes)],
  // d max x: to the maximal entries, split evenly between ties
  max: (g, [x], y, { axes }) => [extremumGrad(g, x, y, axes)],
  min: (g, [x], y, { axes }) => [extremumGrad(g, x, y, axes)],
  argmax: none, argmin: none, argsort: none, random: () => [],
  reshape: (g, [x]) => [M.reshape(g, x.shape)], // reshape back
  permute: (g, _, __, { perm }) => [M.transpose(g, inversePerm(perm))], // inverse permutation
  expand: (g) => [g], // the driver sums the broadcast axes away
  // the cotangent lands on the sliced positions: pad g back into a zero tensor the input's size
  slice: (g, [x], _, p) => [unslice(g, x, p)],
  pad: (g, [x], _, { widths }) => [M.slice(g, widths.map(([lo], i) => ({ start: lo, stop: lo + x.shape[i] })))], // crop
  concat: (g, xs, _, { axis }) => {
    let start = 0;
    return xs.map((x) => M.slice(g, x.shape.map((d, i) => (i === axis ? { start, stop: (start += d) } : {}))));
  },
  gather: (g, [x, idx], _, { axis }) => [M.scatterAdd(g, idx, axis, x.shape[axis]), null], // adjoint: scatter-add
  scatterAdd: (g, [, idx], _, { axis }) => [M.take(g, idx, axis), null], // adjoint: gather
  // C = AB: dA = dC Bᵀ, dB = Aᵀ dC (batch broadcasting undone by the driver)
  matmul: (g, [a, b]) => [() => matmul(g, M.mT(b)), () => matmul(M.mT(a), g)],
  // conv is bilinear in (x, w): its adjoints in each argument are the two gradient primitives
  conv2d: (g, [x, w], _, p) => [
    () => runPrim('conv2dInputGrad', [g, w], { ...geom(p), inputSize: [x.shape[2], x.shape[3]] }, x.shape, 'float32'),
    () => runPrim('conv2dWeightGrad', [x, g], { ...geom(p), kernelSize: [w.shape[2], w.shape[3]] }, w.shape, 'float32'),
  ],
  // inputGrad(gy, w) is linear in gy (adjoint: conv2d) and in w (adjoint: weightGrad with g as x)
  conv2dInputGrad: (g, [gy, w], _, p) => [
    () => runPrim('conv2d', [g, w], geom(p), gy.shape, 'float32'),
    () => runPrim('conv2dWeightGrad', [g, gy], { ...geom(p), kernelSize: [w.shape[2], w.shape[3]] }, w.shape, 'float32'),
  ],
  // weightGrad(x, gy) is linear in x (adjoint: inputGrad with g as w) and in gy (adjoint: conv2d(x, g))
  conv2dWeightGrad: (g, [x, gy], _, p) => [
    () => runPrim('conv2dInputGrad', [gy, g], { ...geom(p), inputSize: [x.shape[2], x.shape[3]] }, x.shape, 'float32'),
    () => runPrim('conv2d', [x, g], geom(p), gy.shape, 'float32'),
  ],
};

function inversePerm(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

/**
 * Gradient of a product: y / xᵢ where xᵢ ≠ 0; at a zero, the product of the other entries, which
 * is the product of the non-zero entries when xᵢ is the lane's only zero and 0 otherwise. (Dividing
 * by x everywhere gave NaN at zeros.) Second derivatives are exact except between two zeros of the
 * same lane, where they come out 0.
 */
function prodGrad(g: Tensor, x: Tensor, y: Tensor, axes: number[]): Tensor {
  const zero = E.equal(x, 0);
  const safe = E.where(zero, 1, x);
  const others = E.div(expandBack(y, x, axes), safe);
  const zerosInLane = sum(maskOf(zero), axes, { keepdims: true });
  const nonzeroProd = prod(safe, axes, { keepdims: true });
  const atZero = E.where(E.equal(zerosInLane, 1), nonzeroProd, 0);
  return E.mul(expandBack(g, x, axes), E.where(zero, atZero, others));
}

/** g shared evenly by the entries equal to the extremum; the division runs on the reduced shape. */
function extremumGrad(g: Tensor, x: Tensor, y: Tensor, axes: number[]): Tensor {
  const hit = E.equal(x, expandBack(y, x, axes));
  const ties = sum(maskOf(hit), axes, { keepdims: true });
  const share = E.div(M.reshape(g, keptShape(x.shape, axes)), ties);
  return E.where(hit, M.broadcastTo(share, x.shape), 0);
}

/** Adjoint of a strided slice: place g's entries back at the positions they were read from. */
function unslice(g: Tensor, x: Tensor, p: PrimParams['slice']): Tensor {
  // Normalize negative steps by flipping g, then pad-with-holes: strided positions get g, others 0.
  let h = g;
  const flipAxes = p.steps.flatMap((s, i) => (s < 0 ? [i] : []));
  if (flipAxes.length) h = M.flip(h, flipAxes);
  for (let i = 0; i < x.rank; i++) {
    const step = Math.abs(p.steps[i]);
    const len = g.shape[i];
    if (len === 0) return zerosLike(x);
    const first = p.steps[i] > 0 ? p.starts[i] : p.starts[i] + (len - 1) * p.steps[i];
    if (step > 1) {
      // Interleave step−1 zeros after each entry along axis i: stack [h, 0, ..., 0] on a new axis and merge.
      const zero = zerosLike(h);
      const parts = [h, ...Array.from({ length: step - 1 }, () => zero)];
      const inter = M.stack(parts, i + 1);
      const merged = M.reshape(inter, h.shape.map((d, j) => (j === i ? d * step : d)));
      h = M.slice(merged, h.shape.map((d, j) => (j === i ? { stop: (len - 1) * step + 1 } : {})));
    }
    const before = first;
    const after = x.shape[i] - before - h.shape[i];
    h = M.pad(h, h.shape.map((_, j) => (j === i ? [before, after] : [0, 0])) as [number, number][]);
  }
  return h;
}

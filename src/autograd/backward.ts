/**
 * The backward driver. Given traced outputs, their cotangents and the leaves to differentiate with
 * respect to, it walks the recorded nodes in reverse topological order, applies each primitive's
 * VJP rule, sums broadcast cotangents back to their input shapes (once, here) and accumulates
 * fan-out by addition. Only nodes that lie on a path from a leaf are visited.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { add } from '../tensor/ops/elementwise.js';
import { zerosLike } from '../tensor/ops/creation.js';
import { reshape } from '../tensor/ops/movement.js';
import { sum } from '../tensor/ops/reduce.js';
import type { Tensor } from '../tensor/tensor.js';
import { type Cotangent, vjpRules } from './vjp.js';

/** Sums a cotangent of a broadcast shape down to `shape`. */
export function unbroadcast(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes = g.shape.flatMap((d, i) => (i < lead || (shape[i - lead] === 1 && d !== 1) ? [i] : []));
  return reshape(axes.length ? sum(g, axes) : g, shape);
}

/** Post-order (inputs first) list of traced tensors reachable from `roots`, stopping at leaves. */
export function topoOrder(roots: Tensor[], leaves: Set<Tensor>): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, boolean][] = roots.map((r) => [r, false]);
  while (stack.length) {
    const [t, expanded] = stack.pop()!;
    if (expanded) { order.push(t); continue; }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    if (!leaves.has(t) && t._node) for (const x of t._node.inputs) if (!seen.has(x)) stack.push([x, false]);
  }
  return order;
}

export function backward(roots: Tensor[], seeds: Tensor[], leaves: Tensor[]): Tensor[] {
  const leafSet = new Set(leaves);
  const order = topoOrder(roots, leafSet);
  // A tensor is relevant when some leaf lies below it: only relevant inputs receive cotangents.
  // Only float32 values have gradients (a graph printout records integer and bool nodes too).
  const relevant = new Set<Tensor>();
  for (const t of order) {
    if (leafSet.has(t) || (t.dtype === 'float32' && t._node?.inputs.some((x) => relevant.has(x)))) relevant.add(t);
  }
  const cot = new Map<Tensor, Tensor>();
  const accumulate = (t: Tensor, g: Tensor) => {
    const prev = cot.get(t);
    cot.set(t, prev ? add(prev, g) : g);
  };
  roots.forEach((r, i) => {
    if (seeds[i].shape.join() !== r.shape.join()) {
      throw new WgradError('backward', `cotangent shape ${fmtShape(seeds[i].shape)} does not match output shape ${fmtShape(r.shape)}`);
    }
    if (relevant.has(r)) accumulate(r, seeds[i]);
  });
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    const g = cot.get(t);
    const node = t._node;
    if (!g || !node || leafSet.has(t)) continue;
    const rule = vjpRules[node.prim] as (g: Tensor, inputs: Tensor[], out: Tensor, params: unknown) => Cotangent[];
    const grads = rule(g, node.inputs, t, node.params);
    node.inputs.forEach((x, j) => {
      const gj = relevant.has(x) ? grads[j] : null;
      const value = typeof gj === 'function' ? gj() : gj;
      if (!value) return;
      checkBroadcastable(node.prim, j, value, x);
      accumulate(x, checkCotangent(node.prim, `input ${j}`, unbroadcast(value, x.shape), x));
    });
  }
  return leaves.map((l, i) => checkCotangent('backward', `leaf ${i}`, cot.get(l) ?? zerosLike(l), l));
}

const dtypeShape = (t: Tensor) => `${t.dtype} ${fmtShape(t.shape)}`;

/** A rule's cotangent must have the input's shape or a broadcast of it (the driver sums it down). */
function checkBroadcastable(prim: string, j: number, g: Tensor, x: Tensor): void {
  const lead = g.rank - x.rank;
  if (lead >= 0 && x.shape.every((d, i) => d === g.shape[lead + i] || d === 1)) return;
  throw new WgradError(prim, `VJP rule gave input ${j} a cotangent of ${dtypeShape(g)}, which does not broadcast from the input's ${dtypeShape(x)}`);
}

/**
 * Every cotangent leaving the driver has exactly its input's shape and dtype: a wrong rule or a broken
 * un-broadcast must fail here, naming the primitive, not as a NaN or a reshape error far downstream.
 */
export function checkCotangent(prim: string, what: string, g: Tensor, x: Tensor): Tensor {
  if (g.dtype === x.dtype && g.rank === x.rank && g.shape.every((d, i) => d === x.shape[i])) return g;
  throw new WgradError(prim, `cotangent of ${what} is ${dtypeShape(g)}, expected the input's ${dtypeShape(x)}`);
}

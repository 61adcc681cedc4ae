/**
 * Pytrees: nested plain objects and arrays whose leaves are tensors (other leaves are carried
 * along). The one tree walker of wgrad: scopes (tidy/keep/dispose), the gradient transforms, the
 * optimizers and the batching all walk trees through it. Only plain objects (prototype
 * Object.prototype) and arrays are containers; Maps, class instances and everything else are leaves.
 */
import { Tensor } from './tensor.js';

/** A pytree: tensors and plain values nested in arrays and objects. */
export type Tree = Tensor | number | string | boolean | null | undefined | readonly Tree[] | { readonly [k: string]: Tree };

/** Calls `visit` on every leaf (tensor or not) with its path ("layers[0].w"), in insertion order. */
export function forEachLeaf(tree: unknown, visit: (leaf: unknown, path: string) => void, path = ''): void {
  if (Array.isArray(tree)) tree.forEach((v, i) => forEachLeaf(v, visit, `${path}[${i}]`));
  else if (isPlainObject(tree)) for (const [k, v] of Object.entries(tree)) forEachLeaf(v, visit, path ? `${path}.${k}` : k);
  else visit(tree, path);
}

/** Applies `fn` to every tensor leaf, rebuilding the same structure. */
export function treeMap<T>(tree: T, fn: (t: Tensor, path: string) => Tensor, path = ''): T {
  if (tree instanceof Tensor) return fn(tree, path) as T;
  if (Array.isArray(tree)) return tree.map((v, i) => treeMap(v, fn, `${path}[${i}]`)) as T;
  if (isPlainObject(tree)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(tree)) out[k] = treeMap(v, fn, path ? `${path}.${k}` : k);
    return out as T;
  }
  return tree;
}

/** Tensor leaves in a fixed (insertion) order, with their paths. */
export function treeLeaves(tree: unknown, path = '', out: [string, Tensor][] = []): [string, Tensor][] {
  forEachLeaf(tree, (v, p) => {
    if (v instanceof Tensor) out.push([p, v]);
  }, path);
  return out;
}

/** Tensor leaves in `treeLeaves` order, without their paths. */
export function treeTensors(tree: unknown): Tensor[] {
  const out: Tensor[] = [];
  forEachLeaf(tree, (v) => {
    if (v instanceof Tensor) out.push(v);
  });
  return out;
}

/** Rebuilds `tree` with its tensor leaves replaced, in `treeLeaves` order, by `leaves`. */
export function treeUnflatten<T>(tree: T, leaves: readonly Tensor[]): T {
  let i = 0;
  return treeMap(tree, () => leaves[i++]);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

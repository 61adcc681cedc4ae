/** Pytrees: nested plain objects and arrays whose leaves are tensors (other leaves are carried along). */
import { Tensor } from '../tensor/tensor.js';

export type Tree = Tensor | number | string | boolean | null | undefined | readonly Tree[] | { readonly [k: string]: Tree };

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
  if (tree instanceof Tensor) out.push([path, tree]);
  else if (Array.isArray(tree)) tree.forEach((v, i) => treeLeaves(v, `${path}[${i}]`, out));
  else if (isPlainObject(tree)) for (const [k, v] of Object.entries(tree)) treeLeaves(v, path ? `${path}.${k}` : k, out);
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

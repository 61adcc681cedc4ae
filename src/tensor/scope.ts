/**
 * Explicit memory ownership: scopes.
 *
 * `tidy(fn)` opens a scope; every tensor created while it is open belongs to it. When `fn` returns,
 * the tensors it returns (anywhere inside a pytree) move to the enclosing scope and all others are
 * disposed. `keep(t)` takes a tensor out of every scope, so only an explicit `dispose` frees it.
 * Inside a traced function, releases wait until the trace ends (see lifetime.ts).
 */
import { closeScope, inScope, unscope } from './lifetime.js';
import { treeTensors } from './tree.js';

/**
 * Runs `fn` in a scope: tensors it creates are disposed when it returns, except those in its result.
 * Returns `fn`'s result unchanged. Async functions are not supported (the scope would close early).
 */
export function tidy<T>(fn: () => T): T {
  return inScope(fn, (result, scope) => {
    if (result instanceof Promise) {
      closeScope(scope, new Set());
      throw new Error('tidy: the function returned a Promise; tidy only supports synchronous functions');
    }
    return new Set(treeTensors(result));
  });
}

/** Takes tensors out of every open scope: they live until disposed explicitly. Returns its argument. */
export function keep<T>(tree: T): T {
  for (const t of treeTensors(tree)) unscope(t);
  return tree;
}

/** Disposes every tensor in a pytree. */
export function dispose(tree: unknown): void {
  for (const t of treeTensors(tree)) t.dispose();
}

/**
 * Explicit memory ownership: scopes.
 *
 * `tidy(fn)` opens a scope; every tensor created while it is open belongs to it. When `fn` returns,
 * the tensors it returns (anywhere inside a pytree) move to the enclosing scope and all others are
 * disposed. `keep(t)` takes a tensor out of every scope, so only an explicit `dispose` frees it.
 *
 * While a gradient is being traced, the recorded graph still needs the intermediates, so closing a
 * scope (or calling `dispose`) inside a traced function only defers the release to the enclosing
 * scope; the outermost `grad` frees the whole graph when it returns.
 */
import type { Tensor } from './tensor.js';

const scopes: Set<Tensor>[] = [];
let tracingDepth = 0;
/** Traces in progress, including an outermost backward pass that runs with tracing off. */
let activeTraces = 0;
let liveTensors = 0;

/** @internal Called by the Tensor constructor. */
export function onCreate(t: Tensor): void {
  liveTensors++;
  scopes.at(-1)?.add(t);
}

/** @internal Called by Tensor.dispose(). */
export function onDispose(t: Tensor): void {
  // Inside a traced function the graph may still read this tensor: its scope releases it later.
  if (tracingDepth > 0 && scopes.some((s) => s.has(t))) return;
  for (const s of scopes) s.delete(t);
  release(t);
}

const released = new WeakSet<Tensor>();
function release(t: Tensor): void {
  if (released.has(t)) return;
  released.add(t);
  t._disposed = true;
  t._node = undefined;
  liveTensors--;
  t._ref.release();
}

export function isTracing(): boolean {
  return tracingDepth > 0;
}

/** @internal Runs `fn` with tracing enabled one level deeper. */
export function withTracing<T>(fn: () => T): T {
  tracingDepth++;
  activeTraces++;
  try {
    return fn();
  } finally {
    tracingDepth--;
    activeTraces--;
  }
}

/** @internal True while a traced graph is alive (its nodes may reference any tensor, constants included). */
export function graphAlive(): boolean {
  return activeTraces > 0;
}

/** @internal Runs `fn` with tracing off (the outermost backward pass records nothing). */
export function withoutTracing<T>(fn: () => T): T {
  const saved = tracingDepth;
  tracingDepth = 0;
  try {
    return fn();
  } finally {
    tracingDepth = saved;
  }
}

/** Every Tensor inside a pytree (objects, arrays, Maps are not walked). */
export function treeTensors(tree: unknown, out: Tensor[] = []): Tensor[] {
  if (tree === null || tree === undefined) return out;
  if (isTensorLike(tree)) out.push(tree as Tensor);
  else if (Array.isArray(tree)) for (const v of tree) treeTensors(v, out);
  else if (typeof tree === 'object' && Object.getPrototypeOf(tree) === Object.prototype) {
    for (const v of Object.values(tree)) treeTensors(v, out);
  }
  return out;
}

const isTensorLike = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && '_ref' in v && 'shape' in v && 'dtype' in v;

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

/**
 * Runs `fn` in a fresh scope. When it throws, everything it created is released; when it returns,
 * the tensors in `keepOf(result, scope)` move to the enclosing scope and the rest are released.
 */
function inScope<T>(fn: () => T, keepOf: (result: T, scope: Set<Tensor>) => Set<Tensor>): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    closeScope(scope, new Set());
    throw e;
  }
  closeScope(scope, keepOf(result, scope));
  return result;
}

function closeScope(scope: Set<Tensor>, keepSet: Set<Tensor>): void {
  const i = scopes.lastIndexOf(scope);
  scopes.splice(i, 1);
  const parent = scopes.at(-1);
  for (const t of scope) {
    if (keepSet.has(t) || tracingDepth > 0) parent?.add(t);
    else release(t);
  }
}

/**
 * @internal Runs one public op in a scope of its own: when it throws, the tensors it created (views
 * and temporaries made before the failing step) are freed, so a failed op leaks nothing; when it
 * returns, they all stay alive exactly as without the scope (the op disposes its temporaries).
 */
export function opScope<T>(fn: () => T): T {
  return inScope(fn, (_, scope) => scope);
}

/** Takes tensors out of every open scope: they live until disposed explicitly. Returns its argument. */
export function keep<T>(tree: T): T {
  for (const t of treeTensors(tree)) for (const s of scopes) s.delete(t);
  return tree;
}

/** Disposes every tensor in a pytree. */
export function dispose(tree: unknown): void {
  for (const t of treeTensors(tree)) t.dispose();
}

/** @internal Number of tensors not yet released. */
export function liveTensorCount(): number {
  return liveTensors;
}

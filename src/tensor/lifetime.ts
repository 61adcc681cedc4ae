/**
 * When tensors are released: the stack of open scopes, the tracing depth and the live-tensor count.
 * The Tensor constructor and `dispose()` report here; `tidy`, `keep` and `dispose` (scope.ts) build
 * on it. It knows tensors only by the three fields it touches, so tensor.ts can import it without
 * a cycle.
 *
 * While a gradient is being traced, the recorded graph still needs the intermediates, so closing a
 * scope (or calling `dispose`) inside a traced function only defers the release to the enclosing
 * scope; the outermost `grad` frees the whole graph when it returns.
 */

/** What this module needs of a Tensor. */
export interface Owned {
  _disposed: boolean;
  _node: unknown;
  readonly _ref: { release(): void };
}

const scopes: Set<Owned>[] = [];
let tracingDepth = 0;
/** Traces in progress, including an outermost backward pass that runs with tracing off. */
let activeTraces = 0;
let liveTensors = 0;

/** @internal Called by the Tensor constructor. */
export function onCreate(t: Owned): void {
  liveTensors++;
  scopes.at(-1)?.add(t);
}

/** @internal Called by Tensor.dispose(). */
export function onDispose(t: Owned): void {
  // Inside a traced function the graph may still read this tensor: its scope releases it later.
  if (tracingDepth > 0 && scopes.some((s) => s.has(t))) return;
  unscope(t);
  release(t);
}

/** @internal Takes `t` out of every open scope (it then lives until disposed explicitly). */
export function unscope(t: Owned): void {
  for (const s of scopes) s.delete(t);
}

const released = new WeakSet<Owned>();
function release(t: Owned): void {
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

/**
 * @internal Runs `fn` in a fresh scope. When it throws, everything it created is released; when it
 * returns, the tensors in `keepOf(result, scope)` move to the enclosing scope and the rest are released.
 */
export function inScope<T>(fn: () => T, keepOf: (result: T, scope: Set<Owned>) => Set<Owned>): T {
  const scope = new Set<Owned>();
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

/** @internal Closes `scope`: the tensors in `keepSet` (all of them while tracing) move to the enclosing scope. */
export function closeScope(scope: Set<Owned>, keepSet: Set<Owned>): void {
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

/** @internal Number of tensors not yet released. */
export function liveTensorCount(): number {
  return liveTensors;
}

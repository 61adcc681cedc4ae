/**
 * Function transformations: grad, valueAndGrad, vjp, jvp.
 *
 * How tracing works: each call wraps the arguments it differentiates in fresh alias tensors marked
 * as leaves, runs `f` with tracing on (every primitive applied to a traced tensor records itself on
 * its output), then runs the backward driver from the output. Aliases give every call its own
 * leaves, so nested calls never confuse each other's variables. When an enclosing trace is active,
 * the backward pass is itself traced, which is what makes grad-of-grad work; the outermost call runs
 * its backward pass untraced and frees the whole graph when it returns.
 *
 * jvp uses the double-VJP trick: u ↦ vjp(f, x)(u) is linear in u, and the VJP of that linear map
 * with cotangent v is J·v. It costs about three forward passes and needs no second rule table.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { alias } from '../tensor/alias.js';
import { full } from '../tensor/ops/creation.js';
import { add, mul } from '../tensor/ops/elementwise.js';
import { sum } from '../tensor/ops/reduce.js';
import { isTracing, withTracing, withoutTracing } from '../tensor/lifetime.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { forEachLeaf, treeLeaves, treeMap, treeUnflatten } from '../tensor/tree.js';
import { backward } from './backward.js';

type AnyFn = (...args: any[]) => any;
/** Declared on `const` type parameters, so `argnums: [0, 1]` infers the tuple [0, 1] without `as const`. */
type Argnums = number | readonly number[];
/** The gradient's structure for the given argnums: one pytree, or a tuple of them. */
export type GradOf<A extends readonly unknown[], N> = N extends number
  ? A[N]
  : { -readonly [K in keyof N]: N[K] extends number ? A[N[K]] : never };

/** Options of `grad` and `valueAndGrad`: which arguments to differentiate, and whether `f` returns an aux value. */
export interface GradOptions<N extends Argnums, Aux extends boolean> {
  /** Which positional arguments to differentiate (default 0). */
  argnums?: N;
  /** `f` returns [value, aux]; aux is passed through untouched. */
  hasAux?: Aux;
}

/** "argument 1" or "argument 1 at layers[0].w": where a leaf sits in the arguments. */
function leafName(argnum: number, path: string): string {
  return `argument ${argnum}${path ? ` at ${path}` : ''}`;
}

/**
 * Every leaf of a differentiated argument must be a tensor (null and undefined are empty
 * subtrees): a number, string or other object there would come back unchanged as its own
 * "gradient". JAX raises for such leaves too.
 */
function checkDifferentiable(op: string, tree: unknown, argnum: number): void {
  forEachLeaf(tree, (leaf, path) => {
    if (leaf instanceof Tensor || leaf === null || leaf === undefined) return;
    throw new WgradError(op, `cannot differentiate with respect to ${describeValue(leaf)} (${leafName(argnum, path)}): only float32 tensors have gradients; ` +
      'pass it as a tensor, or leave it out of argnums (pass it in an argument that is not differentiated)');
  });
}

function aliasLeaf(op: string, argnum: number): (t: Tensor, path: string) => Tensor {
  return (t, path) => {
    t._check(op);
    if (t.dtype !== 'float32') {
      throw new WgradError(op, `cannot differentiate with respect to ${t.dtype} tensor ${path || '(argument)'} ${fmtShape(t.shape)} (${leafName(argnum, path)}); only float32 leaves have gradients`);
    }
    const a = alias(t);
    a._leaf = true;
    return a;
  };
}

interface Traced {
  out: Tensor;
  aux: unknown;
  grads: Tensor[];
}

/**
 * The shared core: runs f on leaf aliases of the differentiated arguments, then backward with the
 * cotangent `seed(out)`. Intermediates are freed (or, inside an outer trace, handed to it).
 */
function trace(op: string, f: AnyFn, args: unknown[], argnums: number[], hasAux: boolean, seed: (out: Tensor) => Tensor): { out: Tensor; aux: unknown; grads: unknown[] } {
  const nested = isTracing();
  const result = tidy((): Traced => {
    return withTracing(() => {
      for (const i of argnums) checkDifferentiable(op, args[i], i);
      const wrapped = args.map((a, i) => (argnums.includes(i) ? treeMap(a, aliasLeaf(op, i)) : a));
      const leaves = argnums.flatMap((i) => treeLeaves(wrapped[i]).map(([, t]) => t));
      const res = f(...wrapped);
      const [out, aux] = hasAux ? (Array.isArray(res) && res.length === 2 ? res : badAux(op)) : [res, undefined];
      if (!(out instanceof Tensor)) throw new WgradError(op, `the function must return a Tensor${hasAux ? ' as the first element of [value, aux]' : ''}, got ${typeof out}`);
      const s = seed(out);
      const grads = nested ? backward([out], [s], leaves) : withoutTracing(() => backward([out], [s], leaves));
      for (const l of leaves) l._leaf = false;
      return { out, aux, grads };
    });
  });
  if (!nested) for (const t of [result.out, ...result.grads, ...treeLeaves(result.aux).map(([, t]) => t)]) t._node = undefined;
  let k = 0;
  const grads = argnums.map((i) => {
    const n = treeLeaves(args[i]).length;
    return treeUnflatten(args[i], result.grads.slice(k, (k += n)));
  });
  return { out: result.out, aux: result.aux, grads };
}

/** A short description of a value that should have been a Tensor, for error messages. */
function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v !== 'object') return `${typeof v} ${String(v).slice(0, 40)}`;
  return `a ${v.constructor?.name ?? 'null-prototype'} object`;
}

function badAux(op: string): never {
  throw new WgradError(op, 'hasAux: the function must return [value, aux]');
}

function scalarSeed(op: string) {
  return (out: Tensor) => {
    if (out.size !== 1 || out.dtype !== 'float32') {
      throw new WgradError(op, `the function must return a float32 scalar, got ${out.dtype} ${fmtShape(out.shape)}; use vjp for non-scalar outputs`);
    }
    return full(out.shape, 1);
  };
}

function normArgnums(op: string, argnums: Argnums | undefined, nargs: number): number[] {
  const list = argnums === undefined ? [0] : typeof argnums === 'number' ? [argnums] : [...argnums];
  for (const i of list) {
    if (!Number.isInteger(i) || i < 0 || i >= nargs) throw new WgradError(op, `argnum ${i} is out of range for ${nargs} argument(s)`);
  }
  return list;
}

/**
 * `valueAndGrad(f)(...args)` → `[f(...args), ∇f]`, the gradient with respect to argument 0 (or
 * `argnums`), shaped like that argument's pytree. With `hasAux`, returns `[[value, aux], grads]`.
 */
export function valueAndGrad<F extends AnyFn, const N extends Argnums = 0, Aux extends boolean = false>(
  f: F,
  opts: GradOptions<N, Aux> = {},
): (...args: Parameters<F>) => [Aux extends true ? ReturnType<F> : Tensor, GradOf<Parameters<F>, N>] {
  return valueAndGradAs('valueAndGrad', f, opts);
}

/** valueAndGrad whose errors name `op` (so `grad`'s errors say grad). */
function valueAndGradAs<F extends AnyFn, N extends Argnums, Aux extends boolean>(
  op: string,
  f: F,
  opts: GradOptions<N, Aux>,
): (...args: Parameters<F>) => [Aux extends true ? ReturnType<F> : Tensor, GradOf<Parameters<F>, N>] {
  return (...args) => {
    const nums = normArgnums(op, opts.argnums, args.length);
    const { out, aux, grads } = trace(op, f, args, nums, !!opts.hasAux, scalarSeed(op));
    const value = (opts.hasAux ? [out, aux] : out) as Aux extends true ? ReturnType<F> : Tensor;
    const g = (typeof opts.argnums === 'object' ? grads : grads[0]) as GradOf<Parameters<F>, N>;
    return [value, g];
  };
}

/** `grad(f)(...args)` → ∇f with respect to argument 0 (or `argnums`); f must return a float32 scalar. */
export function grad<F extends AnyFn, const N extends Argnums = 0>(f: F, opts: { argnums?: N } = {}): (...args: Parameters<F>) => GradOf<Parameters<F>, N> {
  const vg = valueAndGradAs<F, N, false>('grad', f, opts);
  return (...args) => {
    const [value, g] = vg(...args);
    value.dispose();
    return g;
  };
}

/**
 * Vector-Jacobian product: returns `[f(...primals), cotangent·∂f/∂primals]`, the second shaped like
 * the primals (a tuple, one pytree per argument). `cotangent` has the shape of f's output.
 */
export function vjp<A extends unknown[]>(f: (...args: A) => Tensor, primals: A, cotangent: Tensor): [Tensor, A] {
  const nums = primals.map((_, i) => i);
  const seed = (out: Tensor) => {
    const expected = `a float32 Tensor of the output's shape ${fmtShape(out.shape)}`;
    if (!(cotangent instanceof Tensor)) {
      throw new WgradError('vjp', `the cotangent must be ${expected} (f returns one Tensor), got ${describeValue(cotangent)}`);
    }
    cotangent._check('vjp');
    if (cotangent.dtype !== 'float32' || cotangent.shape.join() !== out.shape.join()) {
      throw new WgradError('vjp', `the cotangent must be ${expected}, got ${cotangent.dtype} ${fmtShape(cotangent.shape)}`);
    }
    return cotangent;
  };
  const { out, grads } = trace('vjp', f, primals, nums, false, seed);
  return [out, grads as A];
}

/**
 * Jacobian-vector product: returns `[f(...primals), ∂f/∂primals · tangents]` (forward mode, computed
 * by transposing the VJP; see the header).
 */
export function jvp<A extends unknown[]>(f: (...args: A) => Tensor, primals: A, tangents: A): [Tensor, Tensor] {
  const t = treeLeaves(tangents).map(([, x]) => x);
  // linear(u) = Σ ⟨vjp(f, primals, u), tangents⟩ is linear in u; its gradient in u is J·tangents.
  // It returns f's value as aux so the value survives the trace.
  const linear = (u: Tensor): [Tensor, Tensor] => {
    const [out, cot] = vjp(f, primals, u);
    const dots = treeLeaves(cot).map(([path, c], i) => {
      if (!t[i] || t[i].shape.join() !== c.shape.join()) {
        throw new WgradError('jvp', `tangent ${path || i} must have the primal's shape ${fmtShape(c.shape)}, got ${t[i] ? fmtShape(t[i].shape) : 'nothing'}`);
      }
      return sum(mul(c, t[i]));
    });
    return [dots.reduce((a, b) => add(a, b), full([], 0)), out];
  };
  // The cotangent u has f's output shape: find it with one untraced evaluation.
  const probe = tidy(() => f(...primals));
  const u0 = full(probe.shape, 0);
  probe.dispose();
  const { out, aux, grads } = trace('jvp', linear, [u0], [0], true, () => full([], 1));
  out.dispose(); // the scalar ⟨vjp(u), tangents⟩, only needed for its gradient
  u0.dispose();
  return [aux as Tensor, grads[0] as Tensor];
}

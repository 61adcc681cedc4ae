/**
 * Value checks made on the device and raised later, after JAX's `checkify`.
 *
 * Why: an attack is a synchronous function of device tensors, and reading a value back is
 * asynchronous, so an attack cannot look at its values to decide whether to throw. What depends on
 * values — the clean x lies in the box, an explicit start lies in the ball, the loss and its
 * gradient are finite at every step — is computed on the device as a small float32 vector and
 * registered with the innermost `collectChecks` scope; `Checks.verify()` reads them back in one go
 * and throws the first failure as a WgradError naming the attack (and the step). Outside any scope
 * nothing is computed (no cost; a NaN model then gives NaN images, as before). `checked(run)` is the
 * one-call form, and `evaluation.accuracy` / `robustAccuracy` / `robustLinearEval` run every attack
 * inside a scope, so an evaluation raises.
 */
import { WgradError } from '../core/errors.js';
import { full } from '../tensor/ops/creation.js';
import { abs, cast, less, logicalNot } from '../tensor/ops/elementwise.js';
import { concat, reshape } from '../tensor/ops/movement.js';
import { sum } from '../tensor/ops/reduce.js';
import { dispose, keep, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

/** One registered check: float32 values on the device, and what they mean (a message when failed). */
interface Pending {
  op: string;
  values: Tensor;
  explain: (values: Float32Array) => string | undefined;
}

const scopes: Pending[][] = [];

/**
 * Registers a check with the innermost scope (none: does nothing and does not call `compute`).
 * `compute` returns the values the check needs (tensors flattened and cast to float32, numbers
 * taken as they are, all joined into one vector); `explain` turns them into the failure
 * message, or undefined where the check holds.
 */
export function deviceCheck(op: string, compute: () => Tensor | (Tensor | number)[], explain: (values: Float32Array) => string | undefined): void {
  const scope = scopes[scopes.length - 1];
  if (!scope) return;
  const values = keep(tidy(() => {
    const parts = compute();
    const flat = (t: Tensor | number) => (typeof t === 'number' ? full([1], t) : reshape(cast(t, 'float32'), [-1]));
    return concat((Array.isArray(parts) ? parts : [parts]).map(flat), 0);
  }));
  scope.push({ op, values, explain });
}

/** The checks a scope collected; `verify` or `dispose` them exactly once (or hand them to `join`). */
export class Checks {
  private constructor(private pending: Pending[]) {}

  /** @internal */
  static of(pending: Pending[]): Checks {
    return new Checks(pending);
  }

  /** Several scopes' checks as one, verified in the order given (the parts are emptied). */
  static join(parts: readonly (Checks | undefined)[]): Checks {
    const all: Pending[] = [];
    for (const p of parts) if (p) all.push(...p.take());
    return new Checks(all);
  }

  /** How many checks are pending. */
  get size(): number {
    return this.pending.length;
  }

  /** Reads every check back (one read), disposes them and throws the first failure in order. */
  async verify(): Promise<void> {
    const pending = this.take();
    if (pending.length === 0) return;
    let flat: Float32Array;
    try {
      const all = tidy(() => concat(pending.map((c) => c.values), 0));
      flat = await all.data() as Float32Array;
      all.dispose();
    } finally {
      dispose(pending.map((c) => c.values));
    }
    let at = 0;
    for (const c of pending) {
      const message = c.explain(flat.subarray(at, at + c.values.size));
      at += c.values.size;
      if (message !== undefined) throw new WgradError(c.op, message);
    }
  }

  /** Frees the pending checks without reading them (nothing is raised). */
  dispose(): void {
    dispose(this.take().map((c) => c.values));
  }

  private take(): Pending[] {
    const p = this.pending;
    this.pending = [];
    return p;
  }
}

/** Runs `run` (synchronous) inside a scope; returns its result and the checks made inside it. */
export function collectChecks<T>(run: () => T): [T, Checks] {
  const mine: Pending[] = [];
  scopes.push(mine);
  try {
    return [run(), Checks.of(mine)];
  } catch (e) {
    dispose(mine.map((c) => c.values));
    throw e;
  } finally {
    scopes.pop();
  }
}

/** Runs `run` with its checks and awaits them: its result, or the first failed check (the result is then disposed). */
export async function checked<T>(run: () => T): Promise<T> {
  const [result, checks] = collectChecks(run);
  try {
    await checks.verify();
  } catch (e) {
    dispose(result);
    throw e;
  }
  return result;
}

/** Elementwise: true where t is NaN or ±∞ (the `|x| < ∞` test logsumexp uses). */
export const nonFinite = (t: Tensor): Tensor => logicalNot(less(abs(t), Infinity));

/** The number of NaN or ±∞ elements of t, an int32 scalar. */
export const countNonFinite = (t: Tensor): Tensor => tidy(() => sum(cast(nonFinite(t), 'int32')));

/** A count read back from a float32 check vector, as message text ("3 values", "1 value"). */
export const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

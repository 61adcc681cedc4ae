/**
 * Asynchronous WebGPU errors, turned into one WgradError thrown at the next flush or read.
 *
 * Why a unit of its own: WebGPU reports most failures (shader compiles, out of memory, invalid
 * command buffers) through error-scope promises that settle after the call that caused them, so the
 * runtime cannot throw where the failure happened. This class owns that bookkeeping: it wraps calls
 * in error scopes (`capture`), remembers the scopes still unresolved (readers wait for them), keeps
 * the first error until it is thrown, and lets a later, more precise error replace a derived one
 * ("invalid due to a previous error"). The buffer pool, pipeline cache and batch recorder report
 * into it; the runtime throws from it.
 */
import { WgradError } from '../../core/backend.js';

interface PendingError {
  error: WgradError;
  key: string;
  derived: boolean;
}

export class DeviceErrors {
  /** Error scopes (and what follows them) that have not resolved yet. */
  private readonly pendingScopes = new Set<Promise<unknown>>();
  /** First asynchronous error not yet reported; thrown at the next flush or read. */
  private pendingError: PendingError | null = null;
  /** Keys whose compile error was already reported (their follow-up errors are not repeated). */
  private readonly failedKeys = new Set<string>();

  /** `onBufferNamed(id)`: an error message named buffer `wgrad#id` (it must never be reused). */
  constructor(
    private readonly device: GPUDevice,
    private readonly onBufferNamed: (id: number) => void,
  ) {}

  /**
   * Runs `fn` inside one error scope per filter (pushed in order); each error a scope catches goes
   * to `onError`. `after` runs once every scope has resolved; readers wait for that.
   */
  capture<T>(filters: readonly GPUErrorFilter[], fn: () => T, onError: (err: GPUError) => void, after?: () => void): T {
    for (const f of filters) this.device.pushErrorScope(f);
    const result = fn();
    const report = (err: GPUError | null) => {
      if (err) onError(err);
    };
    const pops = filters.map(() => this.device.popErrorScope().then(report, () => {}));
    const all = Promise.all(pops);
    this.track(after ? all.then(after) : all);
    return result;
  }

  /** Whether some error scope is still unresolved. */
  get waiting(): boolean {
    return this.pendingScopes.size > 0;
  }

  /** Resolves once every error scope started so far has resolved. */
  settled(): Promise<unknown> {
    return Promise.all(this.pendingScopes);
  }

  /** Records an error of a batch whose kernels were `keys` (so the message says what ran). */
  batchError(error: GPUError, keys: readonly string[], how = ''): WgradError {
    const msg = error.message;
    // An invalid pipeline's own compile error arrives later through its error scope; this one
    // only says "invalid due to a previous error" and is replaced by it when it arrives.
    // Likewise a buffer whose creation failed (out of memory): its allocation error names the op.
    const m = /ComputePipeline "([^"]+)"\] is invalid due to a previous error/.exec(msg);
    const derived = m !== null || /\[Invalid Buffer[^\]]*\] is invalid due to a previous error/.test(msg);
    const names = keys.length ? ` (batch kernels: ${[...new Set(keys)].slice(0, 8).join(', ')})` : '';
    // Buffers the error names (invalid, destroyed, ...) are never pooled or reused.
    for (const [, id] of msg.matchAll(/Buffer "wgrad#(\d+)"/g)) this.onBufferNamed(Number(id));
    return this.record(m ? m[1] : 'webgpu', `${how}${error.constructor?.name ?? 'error'}: ${msg}${names}`, derived);
  }

  /**
   * Keeps the first error until it is thrown; a derived one ("invalid due to a previous error")
   * gives way to the error it derives from when that arrives later.
   */
  record(key: string, message: string, derived = false, op = `kernel ${key}`): WgradError {
    const error = new WgradError(op, message);
    if (derived && this.failedKeys.has(key)) return error;
    const p = this.pendingError;
    if (!p || (p.derived && !derived)) this.pendingError = { error, key, derived };
    return error;
  }

  /** Kernel `key` is being compiled anew: its errors are reported again. */
  recompiling(key: string): void {
    this.failedKeys.delete(key);
  }

  /** Reports `error` at the next flush or read: an error found while recording something else. */
  defer(error: WgradError): void {
    if (!this.pendingError) this.pendingError = { error, key: 'deferred', derived: false };
  }

  /** Drops `error` if it is still waiting to be reported (it was just thrown another way). */
  forget(error: unknown): void {
    if (this.pendingError?.error === error) this.pendingError = null;
  }

  /**
   * Throws the first recorded asynchronous error, if any. When `canWait` is false (synchronous
   * callers) an "invalid pipeline" error is held back while that pipeline's own compile error may
   * still arrive; the asynchronous callers wait for it first.
   */
  throwPending(canWait = true): void {
    const p = this.pendingError;
    if (!p) return;
    if (!canWait && p.derived && this.pendingScopes.size > 0) return;
    this.pendingError = null;
    this.failedKeys.add(p.key);
    throw p.error;
  }

  /** Waits for `scopes` (error-scope promises) before the next read reports errors. */
  private track(scopes: Promise<unknown>): void {
    this.pendingScopes.add(scopes);
    void scopes.then(() => this.pendingScopes.delete(scopes));
  }
}

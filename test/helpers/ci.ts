/**
 * Skipping a WebGPU test is allowed only outside CI: with CI=true (as CI sets it) a missing adapter
 * or a failed WebGPU start is a test failure, so a broken driver set-up cannot pass silently.
 * No imports here: the WebGPU bindings may be what failed to load.
 */

/** True when running in CI (CI=true or CI=1). */
export const inCi = (): boolean => /^(true|1)$/i.test(process.env.CI ?? '');

/** Skips the test with `reason` locally; in CI, throws instead (the test fails with the reason). */
export function skipUnlessCi(ctx: { skip: (note?: string) => void }, reason: string): never {
  if (inCi()) throw new Error(`WebGPU is required in CI (CI=${process.env.CI}) but is unavailable: ${reason}`);
  ctx.skip(reason);
  throw new Error('unreachable: ctx.skip() returned');
}

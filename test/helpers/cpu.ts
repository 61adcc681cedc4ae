/**
 * Setup and small assertions shared by the tests that run the tensor API on the CPU backend:
 * `useCpuBackend()` (call at module top level) initializes it before the file's tests run.
 */
import { beforeAll, expect } from 'vitest';
import * as wg from '../../src/index.js';
import { init } from '../../src/init.js';

/** Initializes the CPU backend before the calling file's tests (registers a beforeAll hook). */
export function useCpuBackend(): void {
  beforeAll(async () => {
    await init({ backend: 'cpu' });
  });
}

/** A float32 tensor's values as a plain array. */
export const arr = async (t: wg.Tensor) => Array.from(await t.data() as Float32Array);

/** Element-wise |got − want| ≤ tol·(1 + |want|), with equal lengths. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-5) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol * (1 + Math.abs(want[i])))) expect.fail(`element ${i}: got ${got[i]}, want ${want[i]}`);
  }
}

export const key = wg.random.key;

/** The number of live tensors (leak checks). */
export const live = () => wg.memoryStats().tensors;

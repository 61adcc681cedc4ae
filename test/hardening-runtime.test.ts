/**
 * Runtime hardening (issue 7): a failed op or a failed kernel surfaces once, attributed, and leaves
 * the runtime usable and memory unchanged; tensors of a replaced backend say so; checkpoint trees
 * cannot smuggle in a prototype; CSV numbers outside float32 are errors naming line and column.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as wg from '../src/node.js';
import type { WebGpuBackend } from '../src/backends/webgpu/backend.js';
import type { KernelSpec, GpuStorage } from '../src/kernels/runtime.js';
import { backend } from '../src/tensor/engine.js';

const runtime = () => (backend() as WebGpuBackend).runtime;

/** Memory counters after everything pending has run. */
async function settled() {
  await wg.sync();
  const { tensors, liveBuffers, liveBytes } = wg.memoryStats();
  return { tensors, liveBuffers, liveBytes };
}

/** A small op chain whose values are checked: the device still works. */
async function stillWorks(): Promise<void> {
  const [b, s] = wg.tidy(() => {
    const b = wg.mul(wg.add(wg.tensor([1, 2, 3]), 1), 2);
    return [b, wg.sum(wg.exp(wg.neg(b)))];
  });
  expect(Array.from(await b.data())).toEqual([4, 6, 8]);
  expect(await s.item()).toBeCloseTo(Math.exp(-4) + Math.exp(-6) + Math.exp(-8), 6);
  wg.dispose([b, s]);
}

describe('a failed op leaks nothing (outside tidy)', () => {
  beforeAll(async () => {
    await wg.init({ backend: 'cpu' });
    wg.zeros([2]).dispose();
  });

  test('matmul of 1-D operands with different lengths, and other ops failing after making views', async () => {
    const a = wg.tensor([1, 2, 3]);
    const b = wg.tensor([1, 2]);
    const m = wg.tensor([[1, 2], [3, 4]]);
    const before = wg.memoryStats();
    expect(() => wg.matmul(a, b)).toThrow(/^matmul: inner dimensions differ/);
    expect(wg.memoryStats()).toEqual(before);
    expect(() => wg.matmul(m, a)).toThrow(/^matmul: /);
    expect(wg.memoryStats()).toEqual(before);
    // stack makes a view of each operand before concat finds that the shapes differ.
    expect(() => wg.stack([a, b])).toThrow(wg.WgradError);
    expect(wg.memoryStats()).toEqual(before);
    wg.dispose([a, b, m]);
  });

  test('a failing op inside a traced function leaves the tracing state intact', async () => {
    const f = (x: wg.Tensor) => {
      try {
        wg.matmul(x, wg.tensor([1, 2]));
      } catch {
        /* expected */
      }
      return wg.sum(wg.mul(x, x));
    };
    const g = wg.grad(f)(wg.tensor([1, 2, 3]));
    expect(Array.from(await g.data())).toEqual([2, 4, 6]);
  });
});

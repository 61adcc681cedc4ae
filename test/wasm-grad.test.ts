/**
 * The gradient suites that exercise matmul and the binary ops (test/grad-linalg-nn.test.ts,
 * test/grad-elementwise.test.ts), run again with the wasm backend in place of the CPU reference:
 * `init({ backend: 'cpu' })` is redirected to 'wasm' for this file only. checkGrads itself runs
 * on its own float64 CPU backend, so what this adds is every forward value, `grad` outside
 * checkGrads, and the suites' own expectations on the Wasm kernels; wasm-backend.test.ts compares
 * whole gradients (conv2dWeightGrad included) between the two backends.
 */
import { expect, it, vi } from 'vitest';
import { WasmBackend } from '../src/backends/wasm/backend.js';
import { WasmFusion } from '../src/backends/wasm/fusion.js';
import { backendInfo } from '../src/init.js';

vi.mock('../src/init.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/init.js')>();
  return { ...real, init: (opts: Parameters<typeof real.init>[0] = {}) => real.init({ ...opts, backend: opts.backend === 'cpu' ? 'wasm' : opts.backend }) };
});

const kernelCalls = vi.spyOn(WasmBackend.prototype as unknown as { runKernel: (prim: string) => unknown }, 'runKernel');
const fused = vi.spyOn(WasmFusion.prototype, 'fuse');

await import('./grad-linalg-nn.test.js');
await import('./grad-elementwise.test.js');

it('ran on the wasm backend, through its matmul and conv kernels and fused elementwise programs', () => {
  expect(backendInfo().backend).toBe('wasm');
  // runKernel and fuse return null where a primitive went to the CPU reference.
  const prims = new Set([
    ...kernelCalls.mock.calls.filter((_, i) => kernelCalls.mock.results[i].value !== null).map(([prim]) => prim),
    ...fused.mock.calls.filter((_, i) => fused.mock.results[i].value !== null).map(([op]) => op.name),
  ]);
  for (const p of ['matmul', 'conv2d', 'conv2dInputGrad', 'add', 'mul', 'div', 'maximum']) expect(prims).toContain(p);
});

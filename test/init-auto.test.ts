/**
 * init({ backend: 'auto' }) and the CLI's default --backend auto: WebGPU on a hardware adapter, the
 * wasm backend where WebGPU is missing or runs on a CPU rasterizer (this machine's lavapipe).
 */
import { describe, expect, it } from 'vitest';
import { init, isSoftwareAdapter } from '../src/init.js';
import { init as nodeInit } from '../src/node.js';
import { startBackend } from '../src/cli/backend.js';

const names = (description: string, vendor = '', device = '') => ({ vendor, architecture: '', device, description });

describe("backend 'auto'", () => {
  it('tells CPU rasterizers from GPUs by the adapter names', () => {
    for (const d of ['llvmpipe (LLVM 15.0.6, 256 bits)', 'Mesa lavapipe', 'SwiftShader Device (Subzero)', 'Microsoft Basic Render Driver']) expect(isSoftwareAdapter(names(d)), d).toBe(true);
    expect(isSoftwareAdapter(names('', 'google', 'SwiftShader Device (LLVM 10.0.0)'))).toBe(true);
    for (const d of ['NVIDIA H100 80GB HBM3', 'AMD Radeon RX 7900 XTX', 'Apple M2', 'Intel(R) UHD Graphics 630']) expect(isSoftwareAdapter(names(d)), d).toBe(false);
  });

  it('falls back to wasm without WebGPU, and on a software adapter (lavapipe here)', async () => {
    const noAdapter = { requestAdapter: async () => null };
    const none = await init({ backend: 'auto', gpu: noAdapter });
    expect(none.backend).toBe('wasm');
    expect(none.autoReason).toMatch(/^no WebGPU here \(.*adapter/); // what a program shows its user
    const software = isSoftwareAdapter(await nodeInit({ backend: 'webgpu' })); // lavapipe without a GPU (CI); a GPU machine: false
    const r = await nodeInit({ backend: 'auto' });
    expect(r.backend).toBe(software ? 'wasm' : 'webgpu');
    expect(r.autoReason).toMatch(software ? /^the WebGPU adapter \(.+\) is a CPU rasterizer, slower than wasm$/ : /^a hardware WebGPU adapter \(.+\)$/);
    expect(await startBackend('auto')).toMatch(software ? /^the wasm backend \(WebAssembly SIMD128.*\), chosen by --backend auto: the WebGPU adapter \(.+\) is a CPU rasterizer, slower than wasm$/ : /^WebGPU \(.*\), chosen by --backend auto: a hardware WebGPU adapter \(.+\)$/);
    await expect(init({ backend: 'gpu' as never })).rejects.toThrow(/unknown backend "gpu": expected "webgpu", "cpu", "wasm" or "auto"/);
  });
});

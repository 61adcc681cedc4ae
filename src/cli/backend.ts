/** Starting the backend for a command: WebGPU (Dawn; lavapipe without a GPU), Wasm SIMD or the CPU reference. */
import { init } from '../node.js';
import type { FlagSpec } from './args.js';

export const BACKEND_FLAG: FlagSpec = {
  kind: 'string', choices: ['webgpu', 'cpu', 'wasm'],
  default: process.env.WGRAD_BACKEND === 'cpu' || process.env.WGRAD_BACKEND === 'wasm' ? process.env.WGRAD_BACKEND : 'webgpu',
  help: 'compute backend (env WGRAD_BACKEND)',
};

/** Starts the backend; returns a one-line description of it. */
export async function startBackend(backend: string): Promise<string> {
  let r;
  try {
    r = await init({ backend: backend as 'webgpu' | 'cpu' | 'wasm' });
  } catch (e) {
    if (backend === 'webgpu') (e as Error).message += ' — or pass --backend cpu (slower) to the command';
    throw e;
  }
  if (r.backend === 'wasm') return `the wasm backend (${r.description})`;
  return r.backend === 'cpu' ? 'the CPU reference backend' : `WebGPU (${[r.vendor, r.architecture, r.description].filter(Boolean).join(', ')})`;
}

/**
 * Starting the backend for a command: 'auto' (the default) picks WebGPU on a hardware adapter and
 * the wasm backend where there is none or WebGPU runs on a CPU rasterizer such as Mesa lavapipe
 * (there wasm trains several times faster: docs/results.md's amendment log measures it); or
 * WebGPU (Dawn), Wasm SIMD or the CPU reference by name.
 */
import { init } from '../node.js';
import type { FlagSpec } from './args.js';

const BACKENDS = ['auto', 'webgpu', 'cpu', 'wasm'];

export const BACKEND_FLAG: FlagSpec = {
  kind: 'string', choices: BACKENDS,
  default: BACKENDS.includes(process.env.WGRAD_BACKEND ?? '') ? process.env.WGRAD_BACKEND : 'auto',
  help: 'compute backend: auto = WebGPU on a GPU, else wasm (env WGRAD_BACKEND)',
};

/** Starts the backend; returns a one-line description of it. */
export async function startBackend(backend: string): Promise<string> {
  let r;
  try {
    r = await init({ backend: backend as 'webgpu' | 'cpu' | 'wasm' | 'auto' });
  } catch (e) {
    if (backend === 'webgpu') (e as Error).message += ' — or pass --backend wasm (or cpu) to the command';
    throw e;
  }
  const why = backend === 'auto' ? `, chosen by --backend auto: ${r.autoReason ?? 'the default'}` : '';
  if (r.backend === 'wasm') return `the wasm backend (${r.description})${why}`;
  return r.backend === 'cpu' ? 'the CPU reference backend' : `WebGPU (${[r.vendor, r.architecture, r.description].filter(Boolean).join(', ')})${why}`;
}

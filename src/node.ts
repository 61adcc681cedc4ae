/**
 * The Node entry point: everything in the browser entry point, with `init` defaulting to Dawn's
 * WebGPU (the `webgpu` npm package; on a machine without a GPU it runs on Mesa lavapipe).
 */
import { init as initWith, type InitOptions } from './init.js';
import type { AdapterReport } from './core/backend.js';
import { nodeGpu } from './backends/webgpu/node-gpu.js';

export * from './index.js';
/** Byte-level io plus file functions: loadFashionMnist, saveCheckpoint (atomic), loadCheckpoint, ... */
export * as io from './io/node.js';

/** Starts a backend; in Node, WebGPU comes from Dawn unless `opts.gpu` is given. */
export async function init(opts: InitOptions & { dawnToggles?: string[] } = {}): Promise<AdapterReport> {
  const wantsGpu = (opts.backend ?? process.env.WGRAD_BACKEND ?? 'webgpu') === 'webgpu';
  const gpu = opts.gpu ?? (wantsGpu ? nodeGpu({ dawnToggles: opts.dawnToggles }) : undefined);
  return initWith({ ...opts, gpu });
}

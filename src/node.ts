/**
 * The Node entry point: everything in the browser entry point, with `init` defaulting to Dawn's
 * WebGPU (the `webgpu` npm package; on a machine without a GPU it runs on Mesa lavapipe).
 */
import { init as initWith, type InitOptions } from './init.js';
import type { AdapterReport } from './core/backend.js';
import { nodeGpu } from './backends/webgpu/node-gpu.js';
import { kernelDumpToDir } from './backends/webgpu/dump-dir.js';
import type { KernelDumpSink } from './backends/webgpu/kernel-dump.js';

export * from './index.js';
/** Byte-level io plus file functions: loadFashionMnist, saveCheckpoint (atomic), loadCheckpoint, ... */
export * as io from './io/node.js';

/** Options of the Node `init`: `InitOptions`, Dawn toggles and the kernel dump. */
export interface NodeInitOptions extends Omit<InitOptions, 'dumpKernels'> {
  /** Dawn toggles for the device (see node-gpu.ts). */
  dawnToggles?: string[];
  /** WebGPU only: a directory to write each newly compiled kernel's WGSL (DIR/kernels/) and each
   *  submitted batch's dispatch list (DIR/submits/) to, or a sink. Env: WGRAD_DUMP=dir (ignored on
   *  the other backends). See docs/internals.md. */
  dumpKernels?: string | KernelDumpSink;
}

/** Starts a backend; in Node, WebGPU comes from Dawn unless `opts.gpu` is given. */
export async function init(opts: NodeInitOptions = {}): Promise<AdapterReport> {
  const kind = opts.backend ?? process.env.WGRAD_BACKEND ?? 'webgpu';
  const wantsGpu = kind === 'webgpu' || kind === 'auto'; // 'auto' looks at Dawn's adapter first
  const gpu = opts.gpu ?? (wantsGpu ? nodeGpu({ dawnToggles: opts.dawnToggles }) : undefined);
  const dump = opts.dumpKernels ?? (wantsGpu ? process.env.WGRAD_DUMP || undefined : undefined);
  // A directory on another backend is passed on unopened, for init's refusal to name it.
  const sink = typeof dump === 'string' && wantsGpu ? kernelDumpToDir(dump) : dump;
  return initWith({ ...opts, gpu, dumpKernels: sink as KernelDumpSink | undefined });
}

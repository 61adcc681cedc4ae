/**
 * Starting a library on Dawn's WebGPU adapter, syncing it, and measuring GPU busy time with
 * timestamp queries.
 *
 * The process's Dawn `GPU` object (the `webgpu` npm package) is handed to the library: wgrad through
 * `wg.init({ gpu })`, TensorFlow.js and jax-js through `navigator.gpu` (their WebGPU backends
 * request their adapter there). Each library runs in a process of its own (peer-worker.ts).
 *
 * GPU time: `gpuTimer(device)` wraps the device's `queue.submit` while a measured run is active, so
 * that every submit becomes [begin stamp, ...the library's command buffers, end stamp] (empty
 * compute passes with `timestampWrites`). The GPU time of a run is the sum over its submits of
 * end − begin: the time the GPU was busy with the library's commands, idle gaps (host-side
 * recording, readback round trips) excluded. Timestamp quantization is switched off in Dawn
 * (`disable-dawn-features=timestamp_quantization`) so that short submits are resolved.
 */
import { create, globals } from 'webgpu';
import type { SpanTimer } from './harness.js';

export type WG = typeof import('../src/node.js');
export type TF = typeof import('@tensorflow/tfjs-core');

let sharedGpu: GPU | undefined;
let extraFlags: string[] = [];

/** Dawn flags for the shared GPU object (e.g. `enable-dawn-features=disable_robustness`); call before gpu(). */
export function setDawnFlags(flags: string[]): void {
  if (sharedGpu) throw new Error('setDawnFlags: the Dawn GPU object exists already');
  extraFlags = [...flags];
}

/** The flags the shared GPU object was created with. */
export const dawnFlags = (): string[] => ['disable-dawn-features=timestamp_quantization', ...extraFlags];

/** The process-wide Dawn GPU object (installs the WebGPU globals and `navigator.gpu`). */
export function gpu(): GPU {
  if (sharedGpu) return sharedGpu;
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  for (const [k, v] of Object.entries(globals as Record<string, unknown>)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  sharedGpu = create(dawnFlags());
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (!g.navigator) {
    // jax-js reads navigator.userAgent too.
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: sharedGpu, userAgent: 'Node' }, configurable: true, writable: true });
  } else if (!g.navigator.gpu) {
    try {
      Object.defineProperty(g.navigator, 'gpu', { value: sharedGpu, configurable: true });
    } catch {
      Object.defineProperty(globalThis, 'navigator', { value: { ...g.navigator, gpu: sharedGpu }, configurable: true, writable: true });
    }
  }
  return sharedGpu;
}

export interface WgradHandle {
  wg: WG;
  device?: GPUDevice;
  adapter: string;
}

/** Imports and starts wgrad on the shared GPU (or the CPU backend when asked). */
export async function startWgrad(backend: 'webgpu' | 'cpu' = 'webgpu'): Promise<WgradHandle> {
  const wg: WG = await import('../src/node.js');
  const report = await wg.init(backend === 'webgpu' ? { gpu: gpu(), backend } : { backend });
  // The device is not part of the public API; it is read only to add timestamp queries.
  let device: GPUDevice | undefined;
  try {
    const engine = await import('../src/tensor/engine.js');
    device = (engine.backend() as unknown as { device?: GPUDevice }).device;
  } catch {
    device = undefined;
  }
  const adapter = [report.vendor, report.architecture, report.device, report.description].filter(Boolean).join(' / ') || report.backend;
  return { wg, device, adapter };
}

export interface TfHandle {
  tf: TF;
  /** The GPUDevice of the WebGPU backend (none on Wasm). */
  device?: GPUDevice;
  backend: 'webgpu' | 'wasm';
  adapter: string;
  version: string;
  /** Submits TF.js's pending commands and waits until the device is idle. */
  sync(): Promise<void>;
}

interface TfWebGpuBackend {
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
  adapterInfo?: { vendor?: string; architecture?: string };
}

/** Imports TF.js core + its WebGPU backend and selects the backend on the shared GPU. */
export async function startTfjs(): Promise<TfHandle> {
  gpu();
  // The umbrella package, not tfjs-core alone: tfjs-core's Node bundle has no gradient functions
  // (tf.grads fails with "gradient function not found for Neg"), and its ESM files, which register
  // them, cannot be imported by Node (directory imports). @tensorflow/tfjs's Node bundle has them.
  const tf = (await import('@tensorflow/tfjs')) as unknown as TF;
  await import('@tensorflow/tfjs-backend-webgpu');
  const ok = await tf.setBackend('webgpu');
  if (!ok || tf.getBackend() !== 'webgpu') throw new Error('TF.js: the webgpu backend did not initialize');
  await tf.ready();
  const be = tf.backend() as unknown as TfWebGpuBackend;
  const sync = async () => {
    if (be.commandEncoder) {
      be.endComputePassEncoder();
      be.submitQueue();
    }
    await be.device.queue.onSubmittedWorkDone();
  };
  const info = be.adapterInfo ?? {};
  return { tf, device: be.device, backend: 'webgpu', adapter: [info.vendor, info.architecture].filter(Boolean).join(' / '), version: tf.version_core, sync };
}

/**
 * A timer of GPU busy time on `device` (null when the device lacks timestamp-query). While `fn`
 * runs, every `queue.submit` on the device is bracketed by two timestamp writes.
 */
export async function gpuTimer(device: GPUDevice | undefined): Promise<SpanTimer | undefined> {
  if (!device || !device.features.has('timestamp-query')) return undefined;
  const CAP = 2048; // submits per measured run (WebGPU allows 4096 queries per set)
  device.pushErrorScope('validation');
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 * CAP });
  const resolveBuf = device.createBuffer({ size: 16 * CAP, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readBuf = device.createBuffer({ size: 16 * CAP, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const err = await device.popErrorScope();
  if (err) {
    console.error(`timestamp queries unavailable: ${err.message}`);
    return undefined;
  }
  const queue = device.queue;
  const originalSubmit = queue.submit;
  const ownSubmit = Object.prototype.hasOwnProperty.call(queue, 'submit');
  const stamp = (index: number, begin: boolean): GPUCommandBuffer => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass({
      timestampWrites: begin ? { querySet, beginningOfPassWriteIndex: index } : { querySet, endOfPassWriteIndex: index },
    });
    pass.end();
    return enc.finish();
  };
  return async (fn) => {
    let n = 0;
    let overflow = false;
    queue.submit = function (this: GPUQueue, buffers: Iterable<GPUCommandBuffer>) {
      if (n >= CAP) {
        overflow = true;
        return originalSubmit.call(queue, buffers);
      }
      const i = n++;
      return originalSubmit.call(queue, [stamp(2 * i, true), ...buffers, stamp(2 * i + 1, false)]);
    };
    try {
      await fn();
    } finally {
      if (ownSubmit) queue.submit = originalSubmit;
      else delete (queue as unknown as Record<string, unknown>).submit;
    }
    if (n === 0 || overflow) return null;
    const enc = device.createCommandEncoder();
    enc.resolveQuerySet(querySet, 0, 2 * n, resolveBuf, 0);
    enc.copyBufferToBuffer(resolveBuf, 0, readBuf, 0, 16 * n);
    originalSubmit.call(queue, [enc.finish()]);
    await readBuf.mapAsync(GPUMapMode.READ, 0, 16 * n);
    const t = new BigUint64Array(readBuf.getMappedRange(0, 16 * n).slice(0));
    readBuf.unmap();
    let ns = 0;
    for (let i = 0; i < n; i++) {
      const d = Number(t[2 * i + 1] - t[2 * i]);
      if (!(d >= 0) || d > 1e12) return null; // unordered or unset stamps: give up on this run
      ns += d;
    }
    return ns / 1e6;
  };
}

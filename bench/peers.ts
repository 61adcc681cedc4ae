/**
 * The peers wgrad is measured against, and how each is started (in its own process: peer-worker.ts).
 *
 *  - jax-js (`@jax-js/jax`) on WebGPU, eager and under `jit`, and on Wasm under `jit`. jax-js's
 *    WebGPU backend looks for `navigator.gpu`; in Node it runs on Dawn's adapter once `navigator`
 *    is `{ gpu, userAgent }` before it is imported (gpu.ts installs that).
 *  - TensorFlow.js on its WebGPU backend (Dawn, the same way) and on its Wasm backend (XNNPACK; one
 *    thread in Node).
 *
 * Each row's code is written once per library (RowSpec.tfjs, RowSpec.jax); the peer decides the
 * backend and, for jax-js, whether the row's function is wrapped in `jit`.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { gpu, startTfjs, type TfHandle } from './gpu.js';

export const PEERS = ['jax-webgpu', 'jax-webgpu-jit', 'jax-wasm', 'tfjs-webgpu', 'tfjs-wasm'] as const;
export type PeerId = (typeof PEERS)[number];

export interface PeerDef {
  id: PeerId;
  /** Column header. */
  label: string;
  library: 'jax' | 'tfjs';
  backend: 'webgpu' | 'wasm';
  /** jax-js: each row's function (a whole training step included) under `jax.jit`. */
  jit?: boolean;
}

export const PEER_DEFS: Record<PeerId, PeerDef> = {
  'jax-webgpu': { id: 'jax-webgpu', label: 'jax-js WebGPU', library: 'jax', backend: 'webgpu' },
  'jax-webgpu-jit': { id: 'jax-webgpu-jit', label: 'jax-js WebGPU + jit', library: 'jax', backend: 'webgpu', jit: true },
  'jax-wasm': { id: 'jax-wasm', label: 'jax-js Wasm + jit', library: 'jax', backend: 'wasm', jit: true },
  'tfjs-webgpu': { id: 'tfjs-webgpu', label: 'TF.js WebGPU', library: 'tfjs', backend: 'webgpu' },
  'tfjs-wasm': { id: 'tfjs-wasm', label: 'TF.js Wasm', library: 'tfjs', backend: 'wasm' },
};

export const peerLabel = (id: string): string => PEER_DEFS[id as PeerId]?.label ?? id;

export type JaxModule = typeof import('@jax-js/jax');

/** jax-js, started on one device. */
export interface JaxHandle {
  jax: JaxModule;
  device: 'webgpu' | 'wasm';
  /** Wrap each row's function in `jax.jit`. */
  jit: boolean;
  version: string;
  adapter: string;
  /** The GPUDevice jax-js runs on (WebGPU only; for timestamp queries). */
  gpuDevice?: GPUDevice;
}

const require = createRequire(import.meta.url);

/** A package's version from its package.json. */
function versionOf(pkg: string): string {
  try {
    let dir = path.dirname(require.resolve(pkg));
    for (let i = 0; i < 4; i++, dir = path.dirname(dir)) {
      try {
        const j = require(path.join(dir, 'package.json')) as { name?: string; version?: string };
        if (j.name === pkg) return j.version ?? '?';
      } catch { /* go up */ }
    }
  } catch { /* not installed */ }
  return '?';
}

/** Imports jax-js and makes `device` its default device (WebGPU: on the process's Dawn GPU object). */
export async function startJax(device: 'webgpu' | 'wasm', jit: boolean): Promise<JaxHandle> {
  if (device === 'webgpu') gpu();
  const jax: JaxModule = await import('@jax-js/jax');
  const got = await jax.init(device);
  if (!got.includes(device)) throw new Error(`jax-js: the ${device} device did not initialize (got ${got.join(', ') || 'none'})`);
  jax.defaultDevice(device);
  let gpuDevice: GPUDevice | undefined, adapter = device === 'wasm' ? 'CPU (WebAssembly)' : '?';
  if (device === 'webgpu') {
    gpuDevice = jax.getWebGPUDevice();
    const info = (gpuDevice as unknown as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    if (info) adapter = [info.vendor, info.architecture, info.device].filter(Boolean).join(' / ');
  }
  return { jax, device, jit, version: versionOf('@jax-js/jax'), adapter, gpuDevice };
}

/** Imports TF.js with its Wasm backend and selects it. */
export async function startTfjsWasm(): Promise<TfHandle> {
  const tf = (await import('@tensorflow/tfjs')) as unknown as TfHandle['tf'];
  await import('@tensorflow/tfjs-backend-wasm');
  const ok = await tf.setBackend('wasm');
  if (!ok || tf.getBackend() !== 'wasm') throw new Error('TF.js: the wasm backend did not initialize');
  await tf.ready();
  // Wasm kernels run synchronously: an op's result exists when the call returns.
  return { tf, device: undefined, adapter: 'CPU (WebAssembly, XNNPACK)', version: tf.version_core, backend: 'wasm', sync: async () => {} };
}

export type PeerHandle = { kind: 'jax'; h: JaxHandle } | { kind: 'tfjs'; h: TfHandle };

/** Starts the library of a peer (in the current process). */
export async function startPeer(id: PeerId): Promise<PeerHandle> {
  const d = PEER_DEFS[id];
  if (d.library === 'jax') return { kind: 'jax', h: await startJax(d.backend, !!d.jit) };
  return { kind: 'tfjs', h: d.backend === 'webgpu' ? await startTfjs() : await startTfjsWasm() };
}

/** What the report says about a peer's library. */
export function describePeer(p: PeerHandle): string {
  if (p.kind === 'jax') return `@jax-js/jax ${p.h.version} on ${p.h.device}${p.h.jit ? ', each row under jax.jit' : ', eager'}`;
  return `@tensorflow/tfjs ${p.h.version} on ${p.h.backend}`;
}

/**
 * Choosing and starting a backend. The core never imports Node modules: in the browser WebGPU comes
 * from `navigator.gpu`; in Node, `wgrad/node` passes Dawn's GPU object (the `webgpu` package).
 */
import type { AdapterReport, MemoryInfo } from './core/backend.js';
import { WgradError } from './core/backend.js';
import { CpuBackend } from './backends/cpu/backend.js';
import { WasmBackend } from './backends/wasm/backend.js';
import { requestWebGpuBackend } from './backends/webgpu/device.js';
import type { KernelDumpSink } from './backends/webgpu/kernel-dump.js';
import { backend, hasBackend, registerFloat64Backend, setBackend } from './tensor/engine.js';
import { liveTensorCount } from './tensor/lifetime.js';

/**
 * The part of WebGPU's `GPU` object (`navigator.gpu`) that `init` takes, declared here so that the
 * published types need no WebGPU type package: any real `GPU` object fits.
 */
export interface GpuEntryPoint {
  /** Requests a WebGPU adapter (navigator.gpu's method). */
  requestAdapter(options?: { powerPreference?: 'low-power' | 'high-performance'; forceFallbackAdapter?: boolean }): Promise<unknown>;
}

/** Options of `init`: the backend, the adapter and its power preference, the WebGPU entry point, fusion and the kernel dump. */
export interface InitOptions {
  /** 'webgpu' (default), 'cpu' (the plain-TypeScript reference backend), 'wasm' (WebAssembly
   *  SIMD kernels for the hot primitives, the CPU reference for the rest) or 'auto': WebGPU on a
   *  hardware adapter, wasm where there is none or the adapter is a CPU rasterizer (Mesa
   *  lavapipe/llvmpipe, SwiftShader, WARP), where wasm trains several times faster
   *  (docs/benchmarks.md). Env: WGRAD_BACKEND. */
  backend?: 'webgpu' | 'cpu' | 'wasm' | 'auto';
  /** Picks the adapter whose vendor/architecture/device/description contains this text. Env: WGRAD_ADAPTER. */
  adapter?: string;
  powerPreference?: 'low-power' | 'high-performance';
  /** The WebGPU entry point (default `navigator.gpu`; `wgrad/node` passes Dawn's). */
  gpu?: GpuEntryPoint;
  /** Fuse chains of elementwise ops into one kernel (default true). Env: WGRAD_FUSION=0 turns it off. */
  fusion?: boolean;
  /** WebGPU only: receives every newly compiled kernel's WGSL and every submitted batch's dispatch
   *  list (a debugging aid; in Node, `wgrad/node` also takes a directory name, or WGRAD_DUMP=dir). */
  dumpKernels?: KernelDumpSink;
}

// checkGrads runs on a float64 CPU backend; the front end names no backend, so it is registered here.
registerFloat64Backend(() => new CpuBackend({ float64: true }));

const env = (name: string): string | undefined =>
  (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name] || undefined;

/** Starts a backend (replacing any previous one) and reports what it got. */
export async function init(opts: InitOptions = {}): Promise<AdapterReport> {
  const kind = opts.backend ?? (env('WGRAD_BACKEND') as InitOptions['backend']) ?? 'webgpu';
  if (kind !== 'webgpu' && kind !== 'cpu' && kind !== 'wasm' && kind !== 'auto') {
    throw new WgradError('init', `unknown backend "${kind}": expected "webgpu", "cpu", "wasm" or "auto"`);
  }
  if (kind === 'auto') return initAuto(opts);
  if (opts.dumpKernels && kind !== 'webgpu') {
    throw new WgradError('init', `dumpKernels needs the WebGPU backend: the ${kind} backend compiles no WGSL kernels`);
  }
  if (hasBackend()) backend().destroy();
  const b = kind === 'cpu' ? new CpuBackend()
    : kind === 'wasm' ? new WasmBackend()
    : await requestWebGpuBackend({
      gpu: opts.gpu as GPU | undefined,
      adapter: opts.adapter ?? env('WGRAD_ADAPTER'),
      powerPreference: opts.powerPreference,
      fusion: opts.fusion ?? env('WGRAD_FUSION') !== '0',
      dump: opts.dumpKernels,
    });
  setBackend(b);
  return b.report;
}

/** A CPU rasterizer standing in for a GPU: WebGPU on it is slower than the wasm backend. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|microsoft basic render|\bwarp\b/i;

/** Whether an adapter is a software one (by its reported names). */
export function isSoftwareAdapter(r: Pick<AdapterReport, 'vendor' | 'architecture' | 'device' | 'description'>): boolean {
  return SOFTWARE_ADAPTER.test([r.vendor, r.architecture, r.device, r.description].join(' '));
}

/** The names an adapter reports, joined ('google swiftshader'). */
const adapterName = (r: AdapterReport): string => [r.vendor, r.architecture, r.device, r.description].filter(Boolean).join(' ') || 'an unnamed adapter';

/** backend 'auto': WebGPU on a hardware adapter; wasm where WebGPU is missing or runs on a CPU rasterizer. */
async function initAuto(opts: InitOptions): Promise<AdapterReport> {
  let gpu: AdapterReport | undefined, failure = '';
  try {
    gpu = await init({ ...opts, backend: 'webgpu' });
  } catch (e) {
    failure = (e as Error).message; // no WebGPU here: the wasm backend runs everywhere
  }
  if (gpu && !isSoftwareAdapter(gpu)) return { ...gpu, autoReason: `a hardware WebGPU adapter (${adapterName(gpu)})` };
  if (opts.dumpKernels) throw new WgradError('init', `dumpKernels needs the WebGPU backend, and backend 'auto' chose wasm (${gpu ? `the adapter is a CPU rasterizer: ${gpu.description || gpu.device}` : 'no WebGPU adapter'})`);
  const autoReason = gpu ? `the WebGPU adapter (${adapterName(gpu)}) is a CPU rasterizer, slower than wasm` : `no WebGPU here (${failure})`;
  return { ...(await init({ ...opts, backend: 'wasm' })), autoReason };
}

/** What the current backend is. */
export function backendInfo(): AdapterReport {
  return backend().report;
}

/** `memoryStats()`: live tensors, and the backend's live and pooled memory. */
export interface MemoryStats extends MemoryInfo {
  /** Tensors created and not yet disposed. */
  tensors: number;
}

/** Live tensors and device memory (live and pooled buffers), to find leaks. */
export function memoryStats(): MemoryStats {
  return { tensors: liveTensorCount(), ...backend().memory() };
}

/** Waits until the device has finished all submitted work (for timing). */
export async function sync(): Promise<void> {
  const b = backend();
  b.flush();
  await b.sync();
}

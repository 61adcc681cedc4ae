/**
 * Acquiring a WebGPU device and building the backend.
 *
 * `requestWebGpuBackend({ gpu })` uses `opts.gpu ?? navigator.gpu` (in Node pass `nodeGpu()` from
 * ./node-gpu.ts), picks an adapter (optionally by a substring of its vendor / architecture / device /
 * description), and requests a device with every feature wgrad can use (shader-f16, subgroups,
 * timestamp-query, when present) and the adapter's maximum limits for storage buffers per stage,
 * buffer and binding sizes, workgroup storage and invocations. Device loss is caught: afterwards
 * every operation throws a WgradError saying the device was lost and init() must be called again.
 */
import { WgradError, type AdapterReport } from '../../core/backend.js';
import { WebGpuBackend } from './backend.js';
import { WebGpuRuntime, type RuntimeOptions } from './runtime.js';
import { registerAdapter } from '../../kernels/tuning.js';

export interface WebGpuOptions extends RuntimeOptions {
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /** Case-insensitive substring of the adapter's vendor, architecture, device or description. */
  adapter?: string;
  forceFallbackAdapter?: boolean;
  /** Fuse chains of elementwise ops into one kernel (default true; see fusion.ts). */
  fusion?: boolean;
}

const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'];
const WANTED_LIMITS = [
  'maxStorageBuffersPerShaderStage',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxUniformBufferBindingSize',
  'maxBindingsPerBindGroup',
  'maxDynamicUniformBuffersPerPipelineLayout',
];

// Commands a package user can run (scripts/setup.sh is not in the package): Dawn needs Mesa >= 23.
const NO_ADAPTER_HELP =
  'no WebGPU adapter was found. Without a GPU driver, install the Mesa lavapipe software Vulkan driver: ' +
  'on Debian 12 `sudo apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1` ' +
  '(after adding `deb http://deb.debian.org/debian bookworm-backports main` to the apt sources), ' +
  'on Ubuntu 24.04 or Debian 13 `sudo apt-get install mesa-vulkan-drivers libvulkan1`; ' +
  "or use the CPU backend with init({ backend: 'cpu' })";

function describe(info: GPUAdapterInfo): string {
  return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ') || '(unnamed adapter)';
}

export function adapterReport(adapter: GPUAdapter, device: GPUDevice): AdapterReport {
  const info = adapter.info;
  const limits: Record<string, number> = {};
  const dl = device.limits as unknown as Record<string, number>;
  for (const k in dl) if (typeof dl[k] === 'number') limits[k] = dl[k];
  return {
    backend: 'webgpu',
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    features: [...(device.features as unknown as Iterable<string>)].sort(),
    limits,
  };
}

async function pickAdapter(gpu: GPU, opts: WebGpuOptions): Promise<GPUAdapter> {
  const first = await gpu.requestAdapter({
    powerPreference: opts.powerPreference,
    forceFallbackAdapter: opts.forceFallbackAdapter,
  });
  if (!first) throw new WgradError('init', NO_ADAPTER_HELP);
  if (!opts.adapter) return first;
  const want = opts.adapter.toLowerCase();
  const matches = (a: GPUAdapter) => describe(a.info).toLowerCase().includes(want);
  if (matches(first)) return first;
  // WebGPU exposes at most one adapter per request; try the other preferences too.
  const seen = [first];
  const tries: GPURequestAdapterOptions[] = [
    { powerPreference: 'high-performance' },
    { powerPreference: 'low-power' },
    { forceFallbackAdapter: true },
  ];
  for (const t of tries) {
    const a = await gpu.requestAdapter(t).catch(() => null);
    if (!a) continue;
    if (matches(a)) return a;
    seen.push(a);
  }
  const names = [...new Set(seen.map((a) => describe(a.info)))];
  throw new WgradError('init', `no WebGPU adapter matches "${opts.adapter}"; found: ${names.join('; ')}`);
}

export async function requestWebGpuBackend(opts: WebGpuOptions = {}): Promise<WebGpuBackend> {
  const gpu = opts.gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) {
    throw new WgradError('init', `WebGPU is not available (no navigator.gpu): in Node import wgrad from 'wgrad/node', which gets WebGPU from Dawn (the \`webgpu\` package); ${NO_ADAPTER_HELP}`);
  }
  const adapter = await pickAdapter(gpu, opts);
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  const al = adapter.limits as unknown as Record<string, number>;
  for (const k of WANTED_LIMITS) if (typeof al[k] === 'number') requiredLimits[k] = al[k];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'wgrad' });
  } catch (e) {
    throw new WgradError('init', `requesting a WebGPU device from ${describe(adapter.info)} failed: ${(e as Error).message}`);
  }
  // The memory-bound kernels pick their shapes by the kind of adapter (kernels/tuning.ts).
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  registerAdapter(device, {
    vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
    isFallbackAdapter: info.isFallbackAdapter, subgroupMinSize: info.subgroupMinSize, subgroupMaxSize: info.subgroupMaxSize,
  });
  const runtime = new WebGpuRuntime(device, opts);
  const report = adapterReport(adapter, device);
  device.lost.then((info) => {
    if (!runtime.isDestroyed) runtime.markLost(`${info.reason}: ${info.message}`);
  });
  // The backend keeps the GPU object and adapter alive: Dawn's instance must outlive the device.
  return new WebGpuBackend(runtime, report, { gpu, adapter }, { fusion: opts.fusion });
}

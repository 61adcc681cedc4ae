/**
 * Compute pipelines per kernel key, and bind groups per set of bound buffers.
 *
 * Why a unit of its own: compiling a pipeline is the most expensive thing the runtime does (on
 * lavapipe 0.3–0.8 s of LLVM per shader), so each KernelSpec.key is compiled once, on its first
 * dispatch, and reused. Layouts are explicit and shared between keys with the same binding
 * signature: binding 0 is a dynamic-offset uniform buffer when the kernel has uniforms, then
 * `readOnly` read-only storage buffers, then read-write ones. A compile error arrives later through
 * an error scope (device-errors.ts); it is reported with the kernel key and its WGSL, and the
 * invalid pipeline is evicted so a later dispatch recompiles instead of reusing it.
 *
 * Bind groups are cached too (creating one per dispatch costs more than the dispatch of a small
 * kernel), keyed by (layout, uniform size, buffer identities); the cache is cleared when it grows
 * past a bound — buffer ids are never reused, so stale entries are merely unreachable.
 */
import type { KernelSpec } from '../../kernels/runtime.js';
import type { GpuBufferHandle } from './buffer-pool.js';
import type { DeviceErrors } from './device-errors.js';

export interface PipelineEntry {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  layoutKey: string;
  hasUniforms: boolean;
  nBuffers: number;
}

const COMPUTE = 0x4; // GPUShaderStage.COMPUTE
const MAX_BIND_GROUPS = 4096;

export class PipelineCache {
  private readonly pipelines = new Map<string, PipelineEntry>();
  private readonly layouts = new Map<string, { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout }>();

  constructor(
    private readonly device: GPUDevice,
    private readonly errors: DeviceErrors,
    private readonly stats: { pipelinesCreated: number },
    /** Told each kernel compiled (its key and WGSL), for a dump (kernel-dump.ts). */
    private readonly onCompile?: (key: string, wgsl: string) => void,
  ) {}

  get size(): number {
    return this.pipelines.size;
  }

  /** The pipeline of `spec` binding `nBuffers` storage buffers, compiled on first use. */
  get(spec: KernelSpec, nBuffers: number): PipelineEntry {
    const cached = this.pipelines.get(spec.key);
    if (cached) return cached;
    const hasUniforms = spec.uniforms.byteLength > 0;
    const { bgl, pl, key: layoutKey } = this.layoutFor(hasUniforms, spec.readOnly, nBuffers);
    const key = spec.key;
    const code = spec.code();
    this.onCompile?.(key, code);
    const pipeline = this.errors.capture(
      ['validation', 'internal'],
      () => {
        const module = this.device.createShaderModule({ code, label: key });
        return this.device.createComputePipeline({ layout: pl, compute: { module, entryPoint: 'main' }, label: key });
      },
      (err) => {
        // Evict the invalid pipeline so a later call recompiles (and reports) instead of reusing it.
        if (this.pipelines.get(key) === entry) this.pipelines.delete(key);
        this.errors.record(key, `${err.message}\n--- WGSL ---\n${code}`);
      },
    );
    this.errors.recompiling(key);
    this.stats.pipelinesCreated++;
    const entry: PipelineEntry = { pipeline, layout: bgl, layoutKey, hasUniforms, nBuffers };
    this.pipelines.set(key, entry);
    return entry;
  }

  private layoutFor(hasUniforms: boolean, readOnly: number, nBuffers: number) {
    const key = `${hasUniforms ? 'u' : ''}${readOnly}/${nBuffers}`;
    let l = this.layouts.get(key);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [];
      if (hasUniforms) entries.push({ binding: 0, visibility: COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } });
      for (let i = 0; i < nBuffers; i++) {
        entries.push({ binding: i + 1, visibility: COMPUTE, buffer: { type: i < readOnly ? 'read-only-storage' : 'storage' } });
      }
      const bgl = this.device.createBindGroupLayout({ entries });
      const pl = this.device.createPipelineLayout({ bindGroupLayouts: [bgl] });
      l = { bgl, pl };
      this.layouts.set(key, l);
    }
    return { ...l, key };
  }
}

export class BindGroupCache {
  private groups = new Map<string, GPUBindGroup>();

  constructor(
    private readonly device: GPUDevice,
    private readonly stats: { bindGroupsCreated: number },
  ) {}

  /**
   * The bind group of `entry` over `buffers`; with uniforms, binding 0 is `uniformBuffer` at offset 0
   * and `uniformBytes` long (the dispatch supplies its dynamic offset).
   */
  get(entry: PipelineEntry, uniformBuffer: GPUBuffer, uniformBytes: number, buffers: readonly GpuBufferHandle[]): GPUBindGroup {
    let key = `${entry.layoutKey}|${uniformBytes}`;
    for (const b of buffers) key += `,${b.slot.id}`;
    let bg = this.groups.get(key);
    if (!bg) {
      const entries: GPUBindGroupEntry[] = [];
      if (entry.hasUniforms) entries.push({ binding: 0, resource: { buffer: uniformBuffer, offset: 0, size: uniformBytes } });
      buffers.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: b.buffer } }));
      bg = this.device.createBindGroup({ layout: entry.layout, entries });
      this.stats.bindGroupsCreated++;
      if (this.groups.size >= MAX_BIND_GROUPS) this.groups = new Map();
      this.groups.set(key, bg);
    }
    return bg;
  }

  clear(): void {
    this.groups.clear();
  }
}

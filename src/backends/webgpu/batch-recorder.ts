/**
 * Records dispatches into batches: one command encoder and one compute pass per batch.
 *
 * Why a unit of its own: a submit per dispatch would cost more than most kernels, so dispatches
 * accumulate in ONE command encoder and compute pass, and the batch is submitted only when a result
 * is read back, `flush()` is called, or the batch holds `maxBatch` dispatches or its uniform arena
 * (uniform-arena.ts) is full. This class owns the open encoder, its pass, the batch's uniforms, and
 * what each batch wrote: a batch that fails is not executed at all, so when its error arrives every
 * storage it wrote is marked (batch-failures.ts) and throws when read or bound.
 * With a profiler attached (profiler.ts), every dispatch gets a timed pass of its own.
 */
import { BatchFailures, type Poisonable } from './batch-failures.js';
import type { DeviceErrors } from './device-errors.js';
import type { PipelineEntry } from './pipeline-cache.js';
import type { KernelProfiler } from './profiler.js';
import { UniformArena } from './uniform-arena.js';

/** One dispatch to record. */
export interface RecordedDispatch {
  key: string;
  entry: PipelineEntry;
  bindGroup: GPUBindGroup;
  /** The uniform block (ignored when the pipeline has none) and its padded size. */
  uniforms: ArrayBuffer;
  uniformBytes: number;
  workgroups: readonly [number, number, number];
  /** Storages the dispatch binds, and those it writes (for batch-failures.ts). */
  reads: readonly Poisonable[];
  writes: readonly Poisonable[];
}

export class BatchRecorder {
  /** Id of the batch being recorded (increases with every submit). */
  batchId = 1;
  readonly uniforms: UniformArena;
  /** When set, every dispatch gets a timed pass of its own (profiler.ts). */
  profiler: KernelProfiler | null = null;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatches = 0;
  private batchKeys: string[] = [];
  private lastPipeline: GPUComputePipeline | null = null;
  /** What each unresolved batch wrote, to mark it when the batch fails. */
  private readonly failures = new BatchFailures();

  constructor(
    private readonly device: GPUDevice,
    private readonly errors: DeviceErrors,
    private readonly maxBatch: number,
    uniformAlign: number,
    private readonly stats: { dispatches: number; submits: number },
  ) {
    this.uniforms = new UniformArena(device, uniformAlign);
  }

  /** Whether a batch is being recorded (some command awaits a submit). */
  get open(): boolean {
    return this.encoder !== null;
  }

  /** Kernel keys of the batch being recorded (errors name them). */
  get keys(): readonly string[] {
    return this.batchKeys;
  }

  /** Whether the open batch must be submitted before a dispatch with `uniformBytes` of uniforms. */
  isFull(uniformBytes: number): boolean {
    if (!this.encoder) return false;
    return this.dispatches >= this.maxBatch || !this.uniforms.fits(uniformBytes) || (this.profiler?.full ?? false);
  }

  record(d: RecordedDispatch): void {
    const pass = this.ensurePass(d.key);
    const offset = d.entry.hasUniforms ? this.uniforms.push(d.uniforms, d.uniformBytes) : 0;
    if (this.lastPipeline !== d.entry.pipeline) {
      pass.setPipeline(d.entry.pipeline);
      this.lastPipeline = d.entry.pipeline;
    }
    if (d.entry.hasUniforms) pass.setBindGroup(0, d.bindGroup, [offset]);
    else pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(...d.workgroups);
    this.dispatches++;
    this.batchKeys.push(d.key);
    this.failures.record(this.batchId, d.reads, d.writes);
    this.stats.dispatches++;
  }

  /** The open command encoder with no compute pass open (for copies). */
  copyEncoder(): GPUCommandEncoder {
    const encoder = this.ensureEncoder();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return encoder;
  }

  /**
   * Submits the open batch. Its errors (validation, out of memory) arrive later: they name its
   * kernels, mark what it wrote, and are thrown at the next flush or read; the runtime goes on.
   */
  submit(): void {
    const encoder = this.encoder;
    if (!encoder) return;
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    this.profiler?.resolve(encoder);
    const keys = this.batchKeys;
    const batch = this.batchId;
    this.errors.capture(
      ['out-of-memory', 'validation'],
      () => {
        const cmd = encoder.finish();
        this.uniforms.upload(this.device.queue);
        this.device.queue.submit([cmd]);
      },
      (err) => this.failures.fail(batch, this.errors.batchError(err, keys)),
      () => this.failures.settle(batch),
    );
    this.stats.submits++;
    this.encoder = null;
    this.batchId++;
  }

  /** Drops the open batch unsubmitted (the device was lost). */
  abandon(): void {
    this.encoder = null;
    this.pass = null;
  }

  destroy(): void {
    this.failures.clear();
    this.uniforms.destroy();
  }

  private ensureEncoder(): GPUCommandEncoder {
    if (!this.encoder) {
      this.encoder = this.device.createCommandEncoder();
      this.dispatches = 0;
      this.batchKeys = [];
    }
    return this.encoder;
  }

  private ensurePass(key: string): GPUComputePassEncoder {
    const encoder = this.ensureEncoder();
    if (this.profiler) {
      this.pass?.end();
      this.pass = this.profiler.beginPass(encoder, key);
      this.lastPipeline = null;
    }
    if (!this.pass) {
      this.pass = encoder.beginComputePass();
      this.lastPipeline = null;
    }
    return this.pass;
  }
}

/**
 * The WebGPU runtime: implements the GpuRuntime contract of src/kernels/runtime.ts.
 *
 * Why this file: kernels and the backend see one object; it ties together the units that do the
 * work and owns what spans them — the device's state (lost, destroyed), the checks on every bound
 * storage, and `attempt` (a failed op releases what it allocated):
 *  - buffer-pool.ts: pooled storage buffers and the handles given to tensors (memory ownership);
 *  - pipeline-cache.ts: one compute pipeline per KernelSpec.key, bind groups per buffer set;
 *  - batch-recorder.ts (+ uniform-arena.ts, batch-failures.ts): dispatches recorded into one
 *    command encoder per batch, submitted on a read, a flush or when the batch is full;
 *  - device-errors.ts: asynchronous WebGPU errors, thrown with the op or kernel at the next flush
 *    or read.
 */
import type { KernelProfiler } from './profiler.js';
import { BatchRecorder } from './batch-recorder.js';
import { BufferPool, GpuBufferHandle } from './buffer-pool.js';
import { DeviceErrors } from './device-errors.js';
import { CommandLog, type KernelDumpSink } from './kernel-dump.js';
import { BindGroupCache, PipelineCache } from './pipeline-cache.js';
import { ARENA_BYTES } from './uniform-arena.js';
import type { PlannedDispatch, WorkLog } from './work-log.js';
import { WgradError } from '../../core/backend.js';
import type { GpuRuntime, GpuStorage, KernelSpec } from '../../kernels/runtime.js';

export { bucketBytes, GpuBufferHandle } from './buffer-pool.js';

/** Counters since creation; each unit advances its own in this one object (tests and bench read them). */
export interface RuntimeStats {
  buffersCreated: number;
  buffersDestroyed: number;
  pipelinesCreated: number;
  dispatches: number;
  submits: number;
  bindGroupsCreated: number;
}

export interface RuntimeOptions {
  /** Dispatches per batch before an automatic submit (default 256). */
  maxBatch?: number;
  /** Bytes of free buffers kept in the pool before extra ones are destroyed (default 1 GiB). */
  maxPooledBytes?: number;
  /** Limits the kernels see, lowered below the device's (tests use a tiny
   *  maxComputeWorkgroupsPerDimension to exercise 2-D grids); dispatches are still validated
   *  against the device. */
  limitOverrides?: Partial<Record<'maxComputeWorkgroupsPerDimension' | 'maxComputeWorkgroupStorageSize', number>>;
  /** Receives every newly compiled kernel's WGSL and every submitted batch's commands (kernel-dump.ts). */
  dump?: KernelDumpSink;
}

const USAGE_STAGING = 0x01 | 0x08; // MAP_READ | COPY_DST

/** The device's limits, each lowered to its override (when given). */
function effectiveLimits(device: GPUDevice, overrides: RuntimeOptions['limitOverrides']): GPUSupportedLimits {
  if (!overrides || !Object.keys(overrides).length) return device.limits;
  const copy: Record<string, number> = {};
  const dl = device.limits as unknown as Record<string, number>;
  for (const k in dl) if (typeof dl[k] === 'number') copy[k] = dl[k];
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) copy[k] = Math.min(copy[k] ?? v, v);
  return copy as unknown as GPUSupportedLimits;
}

export class WebGpuRuntime implements GpuRuntime {
  readonly limits: GPUSupportedLimits;
  readonly features: ReadonlySet<string>;
  readonly stats: RuntimeStats = {
    buffersCreated: 0, buffersDestroyed: 0, pipelinesCreated: 0, dispatches: 0, submits: 0, bindGroupsCreated: 0,
  };
  /** The largest storage buffer a kernel may bind (every tensor's storage must fit). */
  readonly maxBindingBytes: number;
  /** The op being recorded (set by the backend), named by asynchronous allocation errors. */
  activeOp = 'webgpu';
  /** While jit traces a function: the log of its allocations, dispatches and releases (work-log.ts). */
  recording: WorkLog | null = null;

  private readonly errors: DeviceErrors;
  private readonly pool: BufferPool;
  private readonly pipelines: PipelineCache;
  private readonly bindGroups: BindGroupCache;
  private readonly recorder: BatchRecorder;
  /** The open batch's commands, for the dump sink (null without one). */
  private readonly log: CommandLog | null;
  /** Buffers allocated inside the innermost `attempt` (released when it fails). */
  private allocLog: GpuBufferHandle[] | null = null;
  private lostMessage: string | null = null;
  private destroyed = false;

  constructor(
    readonly device: GPUDevice,
    opts: RuntimeOptions = {},
  ) {
    this.limits = effectiveLimits(device, opts.limitOverrides);
    this.features = new Set(device.features as unknown as Iterable<string>);
    this.maxBindingBytes = Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
    this.errors = new DeviceErrors(device, (id) => this.pool.markInvalid(id));
    const maxPooledBytes = opts.maxPooledBytes ?? 2 ** 30;
    this.pool = new BufferPool(device, this.errors, { maxPooledBytes, maxBindingBytes: this.maxBindingBytes }, this.stats);
    const dump = opts.dump;
    this.log = dump ? new CommandLog(dump) : null;
    this.pipelines = new PipelineCache(device, this.errors, this.stats, dump && ((key, wgsl) => dump.kernel(key, wgsl)));
    this.bindGroups = new BindGroupCache(device, this.stats);
    const uniformAlign = Math.max(16, this.limits.minUniformBufferOffsetAlignment);
    this.recorder = new BatchRecorder(device, this.errors, opts.maxBatch ?? 256, uniformAlign, this.stats);
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.errors.batchError(ev.error, this.recorder.keys, 'uncaptured ');
    };
  }

  /** When set, every dispatch gets a timed pass of its own (profiler.ts). */
  get profiler(): KernelProfiler | null {
    return this.recorder.profiler;
  }

  set profiler(p: KernelProfiler | null) {
    this.recorder.profiler = p;
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }

  // ---------------------------------------------------------------- state checks and errors

  /** Marks the device lost: afterwards every operation throws. */
  markLost(message: string): void {
    this.lostMessage = message;
    this.recorder.abandon();
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  get isLost(): boolean {
    return this.lostMessage !== null;
  }

  /** Throws when the device was lost or the backend destroyed. */
  check(op: string): void {
    if (this.lostMessage !== null) {
      throw new WgradError(op, `the WebGPU device was lost (${this.lostMessage}); call init() again to create a new backend`);
    }
    if (this.destroyed) throw new WgradError(op, 'the WebGPU backend was destroyed; call init() again to create a new backend');
  }

  /** Reports `error` at the next flush or read: an error found while recording something else. */
  deferError(error: WgradError): void {
    this.errors.defer(error);
  }

  /** Drops `error` if it is still waiting to be reported (it was just thrown another way). */
  forgetError(error: unknown): void {
    this.errors.forget(error);
  }

  /**
   * Throws the first recorded asynchronous error, if any. When `canWait` is false (synchronous
   * callers) an "invalid pipeline" error is held back while that pipeline's own compile error may
   * still arrive; the asynchronous callers wait for it first.
   */
  throwPendingError(canWait = true): void {
    this.errors.throwPending(canWait);
  }

  /** Throws when `h` was written by a failed batch (its contents are garbage). */
  private checkNotFailed(h: GpuBufferHandle, op: string): void {
    const err = h.failedBy;
    if (!err) return;
    this.errors.forget(err); // reported here; not again at an unrelated later read
    throw new WgradError(op, `a value it uses was computed by a GPU batch that failed, so it holds no valid data (${err.message})`);
  }

  // ---------------------------------------------------------------- buffers

  /**
   * Runs `fn` (which records kernels); when it throws, every buffer it allocated and did not
   * release is released, so a failed kernel leaks no memory. Not nested.
   */
  attempt<T>(fn: () => T): T {
    const saved = this.allocLog;
    const log: GpuBufferHandle[] = [];
    this.allocLog = log;
    try {
      return fn();
    } catch (e) {
      for (const h of log) if (!h.released) this.release(h);
      throw e;
    } finally {
      this.allocLog = saved;
    }
  }

  /**
   * A buffer for a dispatch output: may reuse buffers released earlier in the current batch; the
   * pooled buffer `preferSlot` (a slot id) when it is free.
   */
  alloc(size: number, preferSlot?: number): GpuBufferHandle {
    this.check('alloc');
    const h = this.logged(this.pool.forOutput(size, this.activeOp, preferSlot));
    this.recording?.alloc(h);
    return h;
  }

  /** A buffer safe to fill with `queue.writeBuffer` (not referenced by the unsubmitted batch). */
  allocForUpload(size: number): GpuBufferHandle {
    this.check('upload');
    const h = this.logged(this.pool.forUpload(size, this.activeOp));
    this.recording?.upload(h);
    return h;
  }

  private logged(h: GpuBufferHandle): GpuBufferHandle {
    this.allocLog?.push(h);
    return h;
  }

  /** `storage` as a handle of this runtime, or a WgradError of `op`. */
  own(storage: GpuStorage, op: string): GpuBufferHandle {
    return this.pool.own(storage, op);
  }

  release(storage: GpuStorage): void {
    const h = this.pool.own(storage, 'release');
    this.recording?.release(h);
    const inOpenBatch = this.recorder.open && h.slot.lastBatch === this.recorder.batchId;
    this.pool.release(h, inOpenBatch, this.destroyed || this.lostMessage !== null);
  }

  /** Uploads `data` into a fresh buffer of `size` elements. */
  upload(data: ArrayBufferView, size: number): GpuBufferHandle {
    const h = this.allocForUpload(size);
    if (data.byteLength > 0) this.device.queue.writeBuffer(h.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return h;
  }

  memory() {
    return this.pool.memory();
  }

  /** Destroys every pooled (free) buffer. */
  trimPool(): void {
    this.flush(false);
    this.pool.trim();
    this.bindGroups.clear();
  }

  // ---------------------------------------------------------------- recording

  dispatch(spec: KernelSpec, buffers: GpuStorage[]): void {
    this.check(spec.key);
    const [x, y, z] = spec.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxDim || y > maxDim || z > maxDim) {
      throw new WgradError(`kernel ${spec.key}`, `workgroup grid [${x}, ${y}, ${z}] exceeds maxComputeWorkgroupsPerDimension ${maxDim}`);
    }
    const handles = buffers as GpuBufferHandle[];
    for (const h of handles) this.checkBindable(h, `kernel ${spec.key}`);
    const entry = this.pipelines.get(spec, handles.length);
    const ubytes = spec.uniforms.byteLength;
    const usize = Math.ceil(ubytes / 16) * 16;
    if (usize > ARENA_BYTES) throw new WgradError(`kernel ${spec.key}`, `uniform block of ${ubytes} bytes is too large`);
    const planned: PlannedDispatch = { key: spec.key, entry, uniforms: spec.uniforms, uniformBytes: usize, workgroups: [x, y, z], readOnly: spec.readOnly };
    this.recording?.dispatch(planned, handles);
    this.record(planned, handles);
  }

  /**
   * A dispatch whose pipeline and uniforms are known (a jit replay's, work-log.ts): checked only
   * for what can change between replays — the buffers it binds.
   */
  dispatchPlanned(d: PlannedDispatch, handles: GpuBufferHandle[], bindGroup?: GPUBindGroup): GPUBindGroup {
    this.check(d.key);
    for (const h of handles) this.checkBindable(h, `kernel ${d.key}`);
    return this.record(d, handles, bindGroup);
  }

  /** Records `d` on `handles` (with `bindGroup`, a bind group of them, or the cache's); returns the bind group. */
  private record(d: PlannedDispatch, handles: GpuBufferHandle[], bindGroup?: GPUBindGroup): GPUBindGroup {
    if (this.recorder.isFull(d.uniformBytes)) this.flush(false);
    bindGroup ??= this.bindGroups.get(d.entry, this.recorder.uniforms.buffer, d.uniformBytes, handles);
    this.recorder.record({
      key: d.key, entry: d.entry, bindGroup, uniforms: d.uniforms, uniformBytes: d.uniformBytes, workgroups: d.workgroups,
      reads: handles, writes: handles.slice(d.readOnly),
    });
    this.log?.record({
      kind: 'dispatch', key: d.key, workgroups: d.workgroups, bindings: handles.map((h) => h.size * 4), readOnly: d.readOnly, uniformBytes: d.uniforms.byteLength,
    });
    for (const h of handles) h.slot.lastBatch = this.recorder.batchId;
    return bindGroup;
  }

  /** Throws (as `op`) unless `h` is a live, valid storage of this runtime. */
  private checkBindable(h: GpuBufferHandle, op: string): void {
    if (h.owner !== this.pool) throw new WgradError(op, 'a bound storage belongs to another backend (mixing tensors of two backends?)');
    if (h.released) throw new WgradError(op, 'a bound storage buffer was already released');
    if (h.slot.invalid) throw new WgradError(op, `a bound storage buffer (${h.slot.bytes} bytes) could not be allocated (out of device memory?)`);
    this.checkNotFailed(h, op);
  }

  /** Submits the recorded batch (if any). Throws a pending asynchronous error when `throwErrors`. */
  flush(throwErrors = true): void {
    if (this.recorder.open && this.lostMessage === null) {
      this.recorder.submit();
      this.pool.batchSubmitted();
      this.log?.submitted();
    }
    if (throwErrors) this.errors.throwPending(false);
  }

  /**
   * Reads `count` elements starting at element `offset` of `storage`: records a copy into a staging
   * buffer, submits the batch and maps the staging buffer.
   */
  async readRange(storage: GpuStorage, offset: number, count: number): Promise<ArrayBuffer> {
    this.check('read');
    const h = this.pool.own(storage, 'read');
    if (h.released) throw new WgradError('read', 'storage was already released');
    const bytes = count * 4;
    if (bytes === 0) return new ArrayBuffer(0);
    const staging = this.device.createBuffer({ size: bytes, usage: USAGE_STAGING });
    try {
      this.recorder.copyEncoder().copyBufferToBuffer(h.buffer, offset * 4, staging, 0, bytes);
      this.log?.record({ kind: 'readback', bytes });
      h.slot.lastBatch = this.recorder.batchId;
      this.flush();
      try {
        await staging.mapAsync(1 /* GPUMapMode.READ */);
      } catch (e) {
        this.check('read');
        this.errors.throwPending();
        throw new WgradError('read', `mapping the readback buffer failed: ${(e as Error).message}`);
      }
      if (this.errors.waiting) await this.errors.settled();
      this.errors.throwPending();
      this.checkNotFailed(h, 'read');
      return staging.getMappedRange().slice(0);
    } finally {
      if (staging.mapState === 'mapped') staging.unmap();
      staging.destroy();
    }
  }

  async sync(): Promise<void> {
    this.check('sync');
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    if (this.errors.waiting) await this.errors.settled();
    this.check('sync');
    this.errors.throwPending();
  }

  destroy(): void {
    if (this.destroyed) return;
    if (this.lostMessage === null) {
      try {
        this.flush(false);
      } catch {
        /* ignore */
      }
    }
    this.destroyed = true;
    this.recorder.destroy();
    this.pool.destroy();
    this.bindGroups.clear();
  }
}

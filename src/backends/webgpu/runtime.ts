/**
 * The WebGPU runtime: implements the GpuRuntime contract of src/kernels/runtime.ts.
 *
 * Pipelines. One compute pipeline per KernelSpec.key, created (synchronously) on the first dispatch
 * of that key with an explicit bind group layout: binding 0 is a dynamic-offset uniform buffer when
 * the kernel has uniforms, then `readOnly` read-only storage buffers, then read-write ones. Layouts
 * are shared between keys with the same binding signature. Shader compilation / pipeline errors are
 * caught with an error scope and reported with the kernel key at the next flush or read.
 *
 * Batching. Every dispatch is recorded into ONE command encoder and one compute pass. The batch is
 * submitted only when (a) a result is read back, (b) `flush()` is called, or (c) the batch holds
 * `maxBatch` dispatches or its uniform arena is full. Uniforms of a batch live in one CPU-side arena
 * that is uploaded with a single `writeBuffer` right before the submit; each dispatch binds the
 * arena with its own dynamic offset. (Queue order makes reusing the one arena buffer across batches
 * safe: the write of batch n+1 executes after the submit of batch n.) A batch that fails is not
 * executed at all: every storage it wrote is marked (batch-failures.ts) and throws when read or bound.
 *
 * Buffers. Storage buffers (STORAGE | COPY_SRC | COPY_DST) are pooled by size bucket (powers of two
 * split in 4 steps, so at most 25 % slack). A released buffer that the unsubmitted batch still
 * references goes to a pending-free list: dispatch outputs may reuse it at once (dispatches of one
 * pass are ordered), but uploads may not, because `queue.writeBuffer` executes before the pending
 * encoder. Pending-free buffers join the pool when the batch is submitted. Every `alloc` returns a
 * fresh `GpuStorage` handle around a pooled buffer, so a stale handle cannot alias a reused buffer;
 * releasing a handle twice throws.
 *
 * Bind groups are cached by (layout, buffer identities, uniform size); the cache is cleared when it
 * grows past a bound (buffer ids are never reused, so stale entries are merely unreachable).
 */
import type { KernelProfiler } from './profiler.js';
import { BatchFailures, type Poisonable } from './batch-failures.js';
import { WgradError } from '../../core/backend.js';
import type { GpuRuntime, GpuStorage, KernelSpec } from '../../kernels/runtime.js';

/** One pooled GPU buffer. */
interface Slot {
  readonly id: number;
  readonly buffer: GPUBuffer;
  readonly bytes: number;
  /** Id of the last batch that recorded a command touching this buffer. */
  lastBatch: number;
  /** Set when creating the buffer failed (out of memory, validation): it is destroyed, never pooled. */
  invalid: boolean;
}

/** The handle given to tensors and kernels. */
export class GpuBufferHandle implements GpuStorage, Poisonable {
  released = false;
  /** Set when the batch that wrote this storage failed: its contents are garbage (batch-failures.ts). */
  failedBy: WgradError | null = null;
  constructor(
    readonly slot: Slot,
    readonly size: number,
    readonly owner: WebGpuRuntime,
  ) {}
  get buffer(): GPUBuffer {
    return this.slot.buffer;
  }
}

interface PipelineEntry {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  layoutKey: string;
  hasUniforms: boolean;
  nBuffers: number;
}

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
}

const USAGE_STORAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST
const USAGE_UNIFORM = 0x40 | 0x08; // UNIFORM | COPY_DST
const USAGE_STAGING = 0x01 | 0x08; // MAP_READ | COPY_DST
const MIN_BUCKET = 256;
const ARENA_BYTES = 65536;

/** Rounds a byte size up to its pool bucket: 2^k · {1, 1.25, 1.5, 1.75}, at least 256 bytes. */
export function bucketBytes(bytes: number): number {
  if (bytes <= MIN_BUCKET) return MIN_BUCKET;
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = p / 4;
  return Math.ceil(bytes / step) * step;
}

export class WebGpuRuntime implements GpuRuntime {
  readonly limits: GPUSupportedLimits;
  readonly features: ReadonlySet<string>;
  readonly stats: RuntimeStats = {
    buffersCreated: 0, buffersDestroyed: 0, pipelinesCreated: 0, dispatches: 0, submits: 0, bindGroupsCreated: 0,
  };

  private readonly maxBatch: number;
  private readonly maxPooledBytes: number;
  private readonly uniformAlign: number;
  /** The largest storage buffer a kernel may bind (every tensor's storage must fit). */
  readonly maxBindingBytes: number;
  /** The op being recorded (set by the backend), named by asynchronous allocation errors. */
  activeOp = 'webgpu';
  /** Buffers allocated inside the innermost `attempt` (released when it fails). */
  private allocLog: GpuBufferHandle[] | null = null;

  private readonly pipelines = new Map<string, PipelineEntry>();
  private readonly layouts = new Map<string, { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout }>();
  private bindGroups = new Map<string, GPUBindGroup>();

  /** Free buffers by bucket: `ready` may be used by anything, `pending` only by dispatch outputs. */
  private readonly ready = new Map<number, Slot[]>();
  private pending: Slot[] = [];
  private readonly pendingByBucket = new Map<number, Slot[]>();
  private nextSlotId = 1;
  /** Every slot not yet destroyed, by id (its buffer's label is `wgrad#id`, as errors print it). */
  private readonly slots = new Map<number, Slot>();

  private liveBuffers = 0;
  private liveBytes = 0;
  private pooledBuffers = 0;
  private pooledBytes = 0;

  // Current batch.
  private batchId = 1;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private batchDispatches = 0;
  private batchKeys: string[] = [];
  private lastPipeline: GPUComputePipeline | null = null;
  private readonly arena: GPUBuffer;
  private readonly arenaMirror = new Uint8Array(ARENA_BYTES);
  private arenaUsed = 0;
  /** When set, every dispatch gets a timed pass of its own (profiler.ts). */
  profiler: KernelProfiler | null = null;

  /** Error scopes of recently created pipelines that have not resolved yet. */
  private readonly pendingScopes = new Set<Promise<unknown>>();
  /** First asynchronous error not yet reported; thrown at the next flush or read. */
  private pendingError: { error: WgradError; key: string; derived: boolean } | null = null;
  /** Keys whose compile error was already reported (their follow-up errors are not repeated). */
  private readonly failedKeys = new Set<string>();
  /** What each unresolved batch wrote, to mark it when the batch fails. */
  private readonly failures = new BatchFailures();
  private lostMessage: string | null = null;
  private destroyed = false;

  constructor(
    readonly device: GPUDevice,
    opts: RuntimeOptions = {},
  ) {
    if (opts.limitOverrides && Object.keys(opts.limitOverrides).length) {
      const copy: Record<string, number> = {};
      const dl = device.limits as unknown as Record<string, number>;
      for (const k in dl) if (typeof dl[k] === 'number') copy[k] = dl[k];
      for (const [k, v] of Object.entries(opts.limitOverrides)) if (v !== undefined) copy[k] = Math.min(copy[k] ?? v, v);
      this.limits = copy as unknown as GPUSupportedLimits;
    } else {
      this.limits = device.limits;
    }
    this.features = new Set(device.features as unknown as Iterable<string>);
    this.maxBatch = opts.maxBatch ?? 256;
    this.maxPooledBytes = opts.maxPooledBytes ?? 2 ** 30;
    this.uniformAlign = Math.max(16, this.limits.minUniformBufferOffsetAlignment);
    this.maxBindingBytes = Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
    this.arena = device.createBuffer({ size: ARENA_BYTES, usage: USAGE_UNIFORM });
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.batchError(ev.error, this.batchKeys, 'uncaptured ');
    };
  }

  /** Records an error of a batch whose kernels were `keys` (so the message says what ran). */
  private batchError(error: GPUError, keys: readonly string[], how = ''): WgradError {
    const msg = error.message;
    // An invalid pipeline's own compile error arrives later through its error scope; this one
    // only says "invalid due to a previous error" and is replaced by it when it arrives.
    // Likewise a buffer whose creation failed (out of memory): its allocation error names the op.
    const m = /ComputePipeline "([^"]+)"\] is invalid due to a previous error/.exec(msg);
    const derived = m !== null || /\[Invalid Buffer[^\]]*\] is invalid due to a previous error/.test(msg);
    const names = keys.length ? ` (batch kernels: ${[...new Set(keys)].slice(0, 8).join(', ')})` : '';
    // Buffers the error names (invalid, destroyed, ...) are never pooled or reused.
    for (const [, id] of msg.matchAll(/Buffer "wgrad#(\d+)"/g)) {
      const slot = this.slots.get(Number(id));
      if (slot) slot.invalid = true;
    }
    return this.recordError(m ? m[1] : 'webgpu', `${how}${error.constructor?.name ?? 'error'}: ${msg}${names}`, derived);
  }

  /** Waits for `scopes` (error-scope promises) before the next read reports errors. */
  private track(scopes: Promise<unknown>): void {
    this.pendingScopes.add(scopes);
    void scopes.then(() => this.pendingScopes.delete(scopes));
  }

  // ---------------------------------------------------------------- state checks and errors

  /** Marks the device lost: afterwards every operation throws. */
  markLost(message: string): void {
    this.lostMessage = message;
    this.encoder = null;
    this.pass = null;
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

  /**
   * Keeps the first error until it is thrown; a derived one ("invalid due to a previous error")
   * gives way to the error it derives from when that arrives later.
   */
  private recordError(key: string, message: string, derived = false, op = `kernel ${key}`): WgradError {
    const error = new WgradError(op, message);
    if (derived && this.failedKeys.has(key)) return error;
    const p = this.pendingError;
    if (!p || (p.derived && !derived)) this.pendingError = { error, key, derived };
    return error;
  }

  /** Throws when `h` was written by a failed batch (its contents are garbage). */
  private checkNotFailed(h: GpuBufferHandle, op: string): void {
    const err = h.failedBy;
    if (!err) return;
    this.forgetError(err); // reported here; not again at an unrelated later read
    throw new WgradError(op, `a value it uses was computed by a GPU batch that failed, so it holds no valid data (${err.message})`);
  }

  /** Reports `error` at the next flush or read: an error found while recording something else. */
  deferError(error: WgradError): void {
    if (!this.pendingError) this.pendingError = { error, key: 'deferred', derived: false };
  }

  /** Drops `error` if it is still waiting to be reported (it was just thrown another way). */
  forgetError(error: unknown): void {
    if (this.pendingError?.error === error) this.pendingError = null;
  }

  /**
   * Throws the first recorded asynchronous error, if any. When `canWait` is false (synchronous
   * callers) an "invalid pipeline" error is held back while that pipeline's own compile error may
   * still arrive; the asynchronous callers wait for it first.
   */
  throwPendingError(canWait = true): void {
    const p = this.pendingError;
    if (!p) return;
    if (!canWait && p.derived && this.pendingScopes.size > 0) return;
    this.pendingError = null;
    this.failedKeys.add(p.key);
    throw p.error;
  }

  // ---------------------------------------------------------------- buffers

  private createSlot(bytes: number): Slot {
    // Out of memory (or any other failure) gives an invalid buffer and an error only later: the
    // slot is marked then, so it is destroyed on release instead of poisoning the pool, and the
    // error (naming the op) is thrown once, at the next flush or read.
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    const id = this.nextSlotId++;
    const buffer = this.device.createBuffer({ size: bytes, usage: USAGE_STORAGE, label: `wgrad#${id}` });
    const slot: Slot = { id, buffer, bytes, lastBatch: 0, invalid: false };
    this.slots.set(id, slot);
    const op = this.activeOp;
    const report = (err: GPUError | null) => {
      if (!err) return;
      slot.invalid = true;
      this.recordError(`alloc ${slot.id}`, `allocating a GPU buffer of ${bytes} bytes failed (${err.constructor?.name ?? 'error'}: ${err.message.trim()}); the tensor it was for is unusable, later ops are not affected`, false, op);
    };
    this.track(Promise.all([this.device.popErrorScope().then(report, () => {}), this.device.popErrorScope().then(report, () => {})]));
    this.stats.buffersCreated++;
    return slot;
  }

  /** A free slot of `bucket` bytes from `list`; invalid ones found on the way are destroyed. */
  private take(list: Map<number, Slot[]>, bucket: number): Slot | undefined {
    const l = list.get(bucket);
    while (l && l.length) {
      const slot = l.pop()!;
      if (!slot.invalid) return slot;
      if (list === this.pendingByBucket) this.pending.splice(this.pending.indexOf(slot), 1);
      this.pooledBuffers--;
      this.pooledBytes -= slot.bytes;
      this.destroySlot(slot);
    }
    return undefined;
  }

  private destroySlot(slot: Slot, count = true): void {
    slot.buffer.destroy();
    this.slots.delete(slot.id);
    if (count) this.stats.buffersDestroyed++;
  }

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

  private bucketFor(size: number, op: string): number {
    const bytes = Math.max(size, 1) * 4;
    if (bytes > this.maxBindingBytes) {
      throw new WgradError(op, `a buffer of ${size} elements (${bytes} bytes) exceeds the device's maximum storage buffer binding size of ${this.maxBindingBytes} bytes`);
    }
    return Math.min(bucketBytes(bytes), this.maxBindingBytes - (this.maxBindingBytes % 4));
  }

  private wrap(slot: Slot, size: number): GpuBufferHandle {
    this.liveBuffers++;
    this.liveBytes += slot.bytes;
    const h = new GpuBufferHandle(slot, size, this);
    this.allocLog?.push(h);
    return h;
  }

  /** A buffer for a dispatch output: may reuse buffers released earlier in the current batch. */
  alloc(size: number): GpuStorage {
    this.check('alloc');
    const bucket = this.bucketFor(size, 'alloc');
    const pendingSlot = this.take(this.pendingByBucket, bucket);
    if (pendingSlot) this.pending.splice(this.pending.indexOf(pendingSlot), 1);
    return this.wrap(this.pooledOrNew(bucket, pendingSlot), size);
  }

  /** A buffer safe to fill with `queue.writeBuffer` (not referenced by the unsubmitted batch). */
  allocForUpload(size: number): GpuBufferHandle {
    this.check('upload');
    return this.wrap(this.pooledOrNew(this.bucketFor(size, 'upload')), size);
  }

  /** `found` (a pooled buffer), else a free pooled buffer of `bucket` bytes, else a new one. */
  private pooledOrNew(bucket: number, found?: Slot): Slot {
    const slot = found ?? this.take(this.ready, bucket);
    if (!slot) return this.createSlot(bucket);
    this.pooledBuffers--;
    this.pooledBytes -= slot.bytes;
    return slot;
  }

  release(storage: GpuStorage): void {
    const h = storage as GpuBufferHandle;
    if (!(h instanceof GpuBufferHandle) || h.owner !== this) throw new WgradError('release', 'not a WebGPU storage of this backend');
    if (h.released) throw new WgradError('release', 'storage released twice');
    h.released = true;
    this.liveBuffers--;
    this.liveBytes -= h.slot.bytes;
    const slot = h.slot;
    if (this.destroyed || this.lostMessage !== null || slot.invalid) {
      this.destroySlot(slot, slot.invalid);
      return;
    }
    if (this.encoder && slot.lastBatch === this.batchId) {
      this.pending.push(slot);
      let l = this.pendingByBucket.get(slot.bytes);
      if (!l) this.pendingByBucket.set(slot.bytes, (l = []));
      l.push(slot);
      this.pooledBuffers++;
      this.pooledBytes += slot.bytes;
    } else {
      this.toPool(slot);
    }
  }

  private toPool(slot: Slot): void {
    if (slot.invalid || this.pooledBytes + slot.bytes > this.maxPooledBytes) {
      this.destroySlot(slot);
      return;
    }
    let l = this.ready.get(slot.bytes);
    if (!l) this.ready.set(slot.bytes, (l = []));
    l.push(slot);
    this.pooledBuffers++;
    this.pooledBytes += slot.bytes;
  }

  /** Uploads `data` into a fresh buffer of `size` elements. */
  upload(data: ArrayBufferView, size: number): GpuBufferHandle {
    const h = this.allocForUpload(size);
    if (data.byteLength > 0) this.device.queue.writeBuffer(h.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return h;
  }

  memory() {
    return {
      liveBuffers: this.liveBuffers,
      liveBytes: this.liveBytes,
      pooledBuffers: this.pooledBuffers,
      pooledBytes: this.pooledBytes,
    };
  }

  /** Destroys every pooled (free) buffer. */
  trimPool(): void {
    this.flush(false);
    for (const l of this.ready.values()) for (const s of l) this.destroySlot(s);
    this.ready.clear();
    this.pooledBuffers = 0;
    this.pooledBytes = 0;
    this.bindGroups.clear();
  }

  // ---------------------------------------------------------------- pipelines

  private layoutFor(hasUniforms: boolean, readOnly: number, nBuffers: number) {
    const key = `${hasUniforms ? 'u' : ''}${readOnly}/${nBuffers}`;
    let l = this.layouts.get(key);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [];
      const COMPUTE = 0x4;
      if (hasUniforms) entries.push({ binding: 0, visibility: COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } });
      for (let i = 0; i < nBuffers; i++) {
        entries.push({
          binding: i + 1,
          visibility: COMPUTE,
          buffer: { type: i < readOnly ? 'read-only-storage' : 'storage' },
        });
      }
      const bgl = this.device.createBindGroupLayout({ entries });
      const pl = this.device.createPipelineLayout({ bindGroupLayouts: [bgl] });
      l = { bgl, pl };
      this.layouts.set(key, l);
    }
    return { ...l, key };
  }

  private pipelineFor(spec: KernelSpec, nBuffers: number): PipelineEntry {
    let e = this.pipelines.get(spec.key);
    if (e) return e;
    const hasUniforms = spec.uniforms.byteLength > 0;
    const { bgl, pl, key: layoutKey } = this.layoutFor(hasUniforms, spec.readOnly, nBuffers);
    const code = spec.code();
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('internal');
    const module = this.device.createShaderModule({ code, label: spec.key });
    const pipeline = this.device.createComputePipeline({ layout: pl, compute: { module, entryPoint: 'main' }, label: spec.key });
    const key = spec.key;
    this.failedKeys.delete(spec.key);
    const report = (err: GPUError | null) => {
      if (!err) return;
      // Evict the invalid pipeline so a later call recompiles (and reports) instead of reusing it.
      if (this.pipelines.get(key) === e) this.pipelines.delete(key);
      this.recordError(key, `${err.message}\n--- WGSL ---\n${code}`);
    };
    this.track(Promise.all([this.device.popErrorScope().then(report, () => {}), this.device.popErrorScope().then(report, () => {})]));
    this.stats.pipelinesCreated++;
    e = { pipeline, layout: bgl, layoutKey, hasUniforms, nBuffers };
    this.pipelines.set(spec.key, e);
    return e;
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }

  // ---------------------------------------------------------------- recording

  private ensurePass(key: string): GPUComputePassEncoder {
    if (!this.encoder) {
      this.encoder = this.device.createCommandEncoder();
      this.batchDispatches = 0;
      this.batchKeys = [];
    }
    if (this.profiler) {
      this.pass?.end();
      this.pass = this.profiler.beginPass(this.encoder, key);
      this.lastPipeline = null;
    }
    if (!this.pass) {
      this.pass = this.encoder.beginComputePass();
      this.lastPipeline = null;
    }
    return this.pass;
  }

  /** The open command encoder with no compute pass open (for copies). */
  private copyEncoder(): GPUCommandEncoder {
    if (!this.encoder) {
      this.encoder = this.device.createCommandEncoder();
      this.batchDispatches = 0;
      this.batchKeys = [];
    }
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.encoder;
  }

  dispatch(spec: KernelSpec, buffers: GpuStorage[]): void {
    this.check(spec.key);
    const [x, y, z] = spec.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxDim || y > maxDim || z > maxDim) {
      throw new WgradError(`kernel ${spec.key}`, `workgroup grid [${x}, ${y}, ${z}] exceeds maxComputeWorkgroupsPerDimension ${maxDim}`);
    }
    for (const b of buffers) {
      const h = b as GpuBufferHandle;
      if (h.owner !== this) throw new WgradError(`kernel ${spec.key}`, 'a bound storage belongs to another backend (mixing tensors of two backends?)');
      if (h.released) throw new WgradError(`kernel ${spec.key}`, 'a bound storage buffer was already released');
      if (h.slot.invalid) throw new WgradError(`kernel ${spec.key}`, `a bound storage buffer (${h.slot.bytes} bytes) could not be allocated (out of device memory?)`);
      this.checkNotFailed(h, `kernel ${spec.key}`);
    }
    const entry = this.pipelineFor(spec, buffers.length);
    const ubytes = spec.uniforms.byteLength;
    const usize = Math.ceil(ubytes / 16) * 16;
    if (usize > ARENA_BYTES) throw new WgradError(`kernel ${spec.key}`, `uniform block of ${ubytes} bytes is too large`);
    if (this.encoder && (this.batchDispatches >= this.maxBatch || this.arenaUsed + usize > ARENA_BYTES || this.profiler?.full)) this.flush(false);

    const pass = this.ensurePass(spec.key);
    let offset = 0;
    if (entry.hasUniforms) {
      offset = this.arenaUsed;
      this.arenaMirror.set(new Uint8Array(spec.uniforms), offset);
      this.arenaUsed = Math.ceil((offset + usize) / this.uniformAlign) * this.uniformAlign;
    }

    let bgKey = `${entry.layoutKey}|${usize}`;
    for (const b of buffers) bgKey += `,${(b as GpuBufferHandle).slot.id}`;
    let bg = this.bindGroups.get(bgKey);
    if (!bg) {
      const entries: GPUBindGroupEntry[] = [];
      if (entry.hasUniforms) entries.push({ binding: 0, resource: { buffer: this.arena, offset: 0, size: usize } });
      buffers.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: b.buffer } }));
      bg = this.device.createBindGroup({ layout: entry.layout, entries });
      this.stats.bindGroupsCreated++;
      if (this.bindGroups.size >= 4096) this.bindGroups = new Map();
      this.bindGroups.set(bgKey, bg);
    }
    if (this.lastPipeline !== entry.pipeline) {
      pass.setPipeline(entry.pipeline);
      this.lastPipeline = entry.pipeline;
    }
    if (entry.hasUniforms) pass.setBindGroup(0, bg, [offset]);
    else pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(x, y, z);
    for (const b of buffers) (b as GpuBufferHandle).slot.lastBatch = this.batchId;
    this.batchDispatches++;
    this.batchKeys.push(spec.key);
    this.failures.record(this.batchId, buffers as GpuBufferHandle[], buffers.slice(spec.readOnly) as GpuBufferHandle[]);
    this.stats.dispatches++;
  }

  /** Submits the recorded batch (if any). Throws a pending asynchronous error when `throwErrors`. */
  flush(throwErrors = true): void {
    if (this.encoder && this.lostMessage === null) {
      if (this.pass) {
        this.pass.end();
        this.pass = null;
      }
      this.profiler?.resolve(this.encoder);
      // Errors of this batch (validation, out of memory) name its kernels; the runtime goes on.
      const keys = this.batchKeys;
      const batch = this.batchId;
      const report = (err: GPUError | null) => {
        if (err) this.failures.fail(batch, this.batchError(err, keys));
      };
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('validation');
      const cmd = this.encoder.finish();
      if (this.arenaUsed > 0) this.device.queue.writeBuffer(this.arena, 0, this.arenaMirror.buffer, 0, this.arenaUsed);
      this.device.queue.submit([cmd]);
      const scopes = Promise.all([this.device.popErrorScope().then(report, () => {}), this.device.popErrorScope().then(report, () => {})]);
      this.track(scopes.then(() => this.failures.settle(batch)));
      this.stats.submits++;
      this.encoder = null;
      this.arenaUsed = 0;
      this.batchId++;
      // Buffers released during the batch may now be given to uploads too.
      for (const s of this.pending) {
        this.pooledBuffers--;
        this.pooledBytes -= s.bytes;
        this.toPool(s);
      }
      this.pending = [];
      this.pendingByBucket.clear();
    }
    if (throwErrors) this.throwPendingError(false);
  }

  /**
   * Reads `count` elements starting at element `offset` of `storage`: records a copy into a staging
   * buffer, submits the batch and maps the staging buffer.
   */
  async readRange(storage: GpuStorage, offset: number, count: number): Promise<ArrayBuffer> {
    this.check('read');
    const h = storage as GpuBufferHandle;
    if (!(h instanceof GpuBufferHandle) || h.owner !== this) throw new WgradError('read', 'not a WebGPU storage of this backend');
    if (h.released) throw new WgradError('read', 'storage was already released');
    const bytes = count * 4;
    if (bytes === 0) return new ArrayBuffer(0);
    const staging = this.device.createBuffer({ size: bytes, usage: USAGE_STAGING });
    try {
      const enc = this.copyEncoder();
      enc.copyBufferToBuffer(h.buffer, offset * 4, staging, 0, bytes);
      h.slot.lastBatch = this.batchId;
      this.flush();
      try {
        await staging.mapAsync(1 /* GPUMapMode.READ */);
      } catch (e) {
        this.check('read');
        this.throwPendingError();
        throw new WgradError('read', `mapping the readback buffer failed: ${(e as Error).message}`);
      }
      if (this.pendingScopes.size) await Promise.all(this.pendingScopes);
      this.throwPendingError();
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
    if (this.pendingScopes.size) await Promise.all(this.pendingScopes);
    this.check('sync');
    this.throwPendingError();
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
    this.failures.clear();
    for (const l of this.ready.values()) for (const s of l) this.destroySlot(s, false);
    for (const s of this.pending) this.destroySlot(s, false);
    this.ready.clear();
    this.pending = [];
    this.pendingByBucket.clear();
    this.pooledBuffers = 0;
    this.pooledBytes = 0;
    this.bindGroups.clear();
    this.arena.destroy();
  }
}

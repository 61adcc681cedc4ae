/**
 * The pool of GPU storage buffers behind every tensor.
 *
 * Why a unit of its own: creating a GPU buffer is slow and a training step frees and allocates the
 * same sizes over and over, so released buffers are kept and reused. Who may reuse what is subtle
 * and is the whole job of this class:
 *  - Buffers are pooled by size bucket (powers of two split in 4 steps, so at most 25 % slack).
 *  - A buffer released while the unsubmitted batch still references it goes to a pending-free list:
 *    dispatch outputs may reuse it at once (dispatches of one pass are ordered), but uploads may
 *    not, because `queue.writeBuffer` executes before the pending encoder. Pending-free buffers join
 *    the pool when the batch is submitted (`batchSubmitted`).
 *  - Every allocation returns a fresh `GpuBufferHandle` around a pooled buffer, so a stale handle
 *    cannot alias a reused buffer; releasing a handle twice throws.
 *  - A buffer whose creation failed (out of memory) is marked invalid when its error arrives and is
 *    destroyed on release instead of poisoning the pool.
 * Ownership stays explicit: the pool counts live and pooled buffers (`memory()`); it never frees a
 * live handle by itself.
 */
import { WgradError } from '../../core/backend.js';
import type { GpuStorage } from '../../kernels/runtime.js';
import type { Poisonable } from './batch-failures.js';
import type { DeviceErrors } from './device-errors.js';

/** One pooled GPU buffer. */
export interface Slot {
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
    readonly owner: BufferPool,
  ) {}
  get buffer(): GPUBuffer {
    return this.slot.buffer;
  }
}

/** The counters of runtime stats this pool advances. */
export interface PoolCounters {
  buffersCreated: number;
  buffersDestroyed: number;
}

export interface PoolLimits {
  /** Bytes of free buffers kept before extra ones are destroyed. */
  maxPooledBytes: number;
  /** The largest storage buffer a kernel may bind. */
  maxBindingBytes: number;
}

const USAGE_STORAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST
const MIN_BUCKET = 256;

/** Rounds a byte size up to its pool bucket: 2^k · {1, 1.25, 1.5, 1.75}, at least 256 bytes. */
export function bucketBytes(bytes: number): number {
  if (bytes <= MIN_BUCKET) return MIN_BUCKET;
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = p / 4;
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
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

  constructor(
    private readonly device: GPUDevice,
    private readonly errors: DeviceErrors,
    private readonly limits: PoolLimits,
    private readonly stats: PoolCounters,
  ) {}

  /**
   * A buffer of `size` elements for a dispatch output: may reuse buffers released earlier in the
   * current batch. `activeOp` is named if creating the buffer fails later.
   */
  forOutput(size: number, activeOp: string, prefer?: number): GpuBufferHandle {
    const bucket = this.bucketFor(size, 'alloc');
    const preferred = prefer === undefined ? undefined : this.takeById(bucket, prefer);
    if (preferred) return this.wrap(preferred, size);
    const pendingSlot = this.take(this.pendingByBucket, bucket);
    if (pendingSlot) this.pending.splice(this.pending.indexOf(pendingSlot), 1);
    return this.wrap(this.pooledOrNew(bucket, activeOp, pendingSlot), size);
  }

  /** A buffer safe to fill with `queue.writeBuffer` (not referenced by the unsubmitted batch). */
  forUpload(size: number, activeOp: string): GpuBufferHandle {
    return this.wrap(this.pooledOrNew(this.bucketFor(size, 'upload'), activeOp), size);
  }

  /** `storage` as a handle of this pool, or a WgradError of `op`. */
  own(storage: GpuStorage, op: string): GpuBufferHandle {
    const h = storage as GpuBufferHandle;
    if (!(h instanceof GpuBufferHandle) || h.owner !== this) throw new WgradError(op, 'not a WebGPU storage of this backend');
    return h;
  }

  /**
   * Gives `h`'s buffer back. `inOpenBatch`: the unsubmitted batch references it (only outputs may
   * reuse it until the submit); `deviceGone`: the device was lost or the runtime destroyed.
   */
  release(h: GpuBufferHandle, inOpenBatch: boolean, deviceGone: boolean): void {
    if (h.released) throw new WgradError('release', 'storage released twice');
    h.released = true;
    this.liveBuffers--;
    this.liveBytes -= h.slot.bytes;
    const slot = h.slot;
    if (deviceGone || slot.invalid) {
      this.destroySlot(slot, slot.invalid);
      return;
    }
    if (inOpenBatch) {
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

  /** The batch was submitted: buffers released during it may now be given to uploads too. */
  batchSubmitted(): void {
    for (const s of this.pending) {
      this.pooledBuffers--;
      this.pooledBytes -= s.bytes;
      this.toPool(s);
    }
    this.pending = [];
    this.pendingByBucket.clear();
  }

  /** An error named buffer `id`: it is never pooled or reused. */
  markInvalid(id: number): void {
    const slot = this.slots.get(id);
    if (slot) slot.invalid = true;
  }

  memory() {
    return {
      liveBuffers: this.liveBuffers,
      liveBytes: this.liveBytes,
      pooledBuffers: this.pooledBuffers,
      pooledBytes: this.pooledBytes,
    };
  }

  /** Destroys every free buffer that uploads could use (call right after a submit). */
  trim(): void {
    for (const l of this.ready.values()) for (const s of l) this.destroySlot(s);
    this.ready.clear();
    this.pooledBuffers = 0;
    this.pooledBytes = 0;
  }

  /** Destroys every free buffer, pending ones too (the runtime is being destroyed). */
  destroy(): void {
    for (const l of this.ready.values()) for (const s of l) this.destroySlot(s, false);
    for (const s of this.pending) this.destroySlot(s, false);
    this.ready.clear();
    this.pending = [];
    this.pendingByBucket.clear();
    this.pooledBuffers = 0;
    this.pooledBytes = 0;
  }

  private bucketFor(size: number, op: string): number {
    const max = this.limits.maxBindingBytes;
    const bytes = Math.max(size, 1) * 4;
    if (bytes > max) {
      throw new WgradError(op, `a buffer of ${size} elements (${bytes} bytes) exceeds the device's maximum storage buffer binding size of ${max} bytes`);
    }
    return Math.min(bucketBytes(bytes), max - (max % 4));
  }

  private wrap(slot: Slot, size: number): GpuBufferHandle {
    this.liveBuffers++;
    this.liveBytes += slot.bytes;
    return new GpuBufferHandle(slot, size, this);
  }

  /** `found` (a pooled buffer), else a free pooled buffer of `bucket` bytes, else a new one. */
  private pooledOrNew(bucket: number, activeOp: string, found?: Slot): Slot {
    const slot = found ?? this.take(this.ready, bucket);
    if (!slot) return this.createSlot(bucket, activeOp);
    this.pooledBuffers--;
    this.pooledBytes -= slot.bytes;
    return slot;
  }

  private createSlot(bytes: number, op: string): Slot {
    // Out of memory (or any other failure) gives an invalid buffer and an error only later: the
    // slot is marked then, so it is destroyed on release instead of poisoning the pool, and the
    // error (naming the op) is thrown once, at the next flush or read.
    const id = this.nextSlotId++;
    const buffer = this.errors.capture(
      ['out-of-memory', 'validation'],
      () => this.device.createBuffer({ size: bytes, usage: USAGE_STORAGE, label: `wgrad#${id}` }),
      (err) => {
        this.markInvalid(id);
        const why = `${err.constructor?.name ?? 'error'}: ${err.message.trim()}`;
        this.errors.record(`alloc ${id}`, `allocating a GPU buffer of ${bytes} bytes failed (${why}); the tensor it was for is unusable, later ops are not affected`, false, op);
      },
    );
    const slot: Slot = { id, buffer, bytes, lastBatch: 0, invalid: false };
    this.slots.set(id, slot);
    this.stats.buffersCreated++;
    return slot;
  }

  /**
   * The free slot `id` of `bucket` bytes, if it is free (a jit replay asks for the buffers its
   * outputs had before, so that the bind groups of the dispatches binding them are found again).
   */
  private takeById(bucket: number, id: number): Slot | undefined {
    for (const list of [this.pendingByBucket, this.ready]) {
      const l = list.get(bucket) ?? [];
      const i = l.findIndex((slot) => slot.id === id);
      if (i < 0 || l[i].invalid) continue;
      const [slot] = l.splice(i, 1);
      if (list === this.pendingByBucket) this.pending.splice(this.pending.indexOf(slot), 1);
      this.pooledBuffers--;
      this.pooledBytes -= slot.bytes;
      return slot;
    }
    return undefined;
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

  private toPool(slot: Slot): void {
    if (slot.invalid || this.pooledBytes + slot.bytes > this.limits.maxPooledBytes) {
      this.destroySlot(slot);
      return;
    }
    let l = this.ready.get(slot.bytes);
    if (!l) this.ready.set(slot.bytes, (l = []));
    l.push(slot);
    this.pooledBuffers++;
    this.pooledBytes += slot.bytes;
  }

  private destroySlot(slot: Slot, count = true): void {
    slot.buffer.destroy();
    this.slots.delete(slot.id);
    if (count) this.stats.buffersDestroyed++;
  }
}

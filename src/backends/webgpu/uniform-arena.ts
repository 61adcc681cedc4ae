/**
 * The uniforms of one batch of dispatches, uploaded with one write.
 *
 * Why a unit of its own: a `queue.writeBuffer` per dispatch costs more than many small kernels, so
 * the uniform blocks of a whole batch are packed into one CPU-side mirror (each at an offset aligned
 * to the device's minUniformBufferOffsetAlignment) and uploaded with a single `writeBuffer` right
 * before the submit; each dispatch binds the one arena buffer at its own dynamic offset. Queue order
 * makes reusing the buffer across batches safe: the write of batch n+1 executes after the submit
 * of batch n.
 */
/** Capacity of the arena; a batch whose uniforms would overflow it is submitted first. */
export const ARENA_BYTES = 65536;

const USAGE_UNIFORM = 0x40 | 0x08; // UNIFORM | COPY_DST

export class UniformArena {
  readonly buffer: GPUBuffer;
  private readonly mirror = new Uint8Array(ARENA_BYTES);
  private used = 0;

  constructor(
    device: GPUDevice,
    private readonly align: number,
  ) {
    this.buffer = device.createBuffer({ size: ARENA_BYTES, usage: USAGE_UNIFORM });
  }

  /** Whether a block of `bytes` (padded) still fits. */
  fits(bytes: number): boolean {
    return this.used + bytes <= ARENA_BYTES;
  }

  /** Copies `block` in (taking `bytes`, its padded size); returns its offset for the dispatch. */
  push(block: ArrayBuffer, bytes: number): number {
    const offset = this.used;
    this.mirror.set(new Uint8Array(block), offset);
    this.used = Math.ceil((offset + bytes) / this.align) * this.align;
    return offset;
  }

  /** Queues the upload of everything pushed since the last upload, and starts over. */
  upload(queue: GPUQueue): void {
    if (this.used > 0) queue.writeBuffer(this.buffer, 0, this.mirror.buffer, 0, this.used);
    this.used = 0;
  }

  destroy(): void {
    this.buffer.destroy();
  }
}

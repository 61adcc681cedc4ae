/**
 * The scratch arena: the Wasm memory a kernel call packs its operands into, as a bump allocator
 * reset at the start of every call. It grows to the largest call seen and never shrinks, so a
 * training loop that repeats the same shapes holds it flat.
 */
import { WgradError } from '../../core/errors.js';

const PAGE = 65536;
/** Wasm32's limit: 65536 pages of 64 KiB. */
const MAX_BYTES = 4 * 1024 * 1024 * 1024;

export class Arena {
  private top = 0;
  private view: Float32Array;
  /** Counts resets: what was allocated under one generation is intact while it lasts. */
  generation = 0;

  constructor(readonly memory: WebAssembly.Memory) {
    this.view = new Float32Array(memory.buffer);
  }

  /** Frees everything allocated since the last reset (call at the start of each kernel call). */
  reset(): void {
    this.top = 0;
    this.generation++;
  }

  /** The allocation mark: `rewind(mark)` frees what was allocated after it. */
  get mark(): number {
    return this.top;
  }

  rewind(mark: number): void {
    this.top = mark;
  }

  /** Reserves `floats` float32 slots, 16-byte aligned; returns their byte offset. `op` names the
   *  caller in the error raised when the Wasm memory cannot hold them. */
  alloc(op: string, floats: number): number {
    const at = this.top;
    const end = at + Math.ceil(floats / 4) * 16;
    if (end > MAX_BYTES) {
      throw new WgradError(op, `needs ${end} bytes of Wasm scratch memory, more than wasm32's 4 GiB; split the operation`);
    }
    if (end > this.memory.buffer.byteLength) {
      this.memory.grow(Math.ceil((end - this.memory.buffer.byteLength) / PAGE));
    }
    this.top = end;
    return at;
  }

  /** The memory as float32 (a fresh view after the memory grew). */
  get f32(): Float32Array {
    if (this.view.buffer !== this.memory.buffer) this.view = new Float32Array(this.memory.buffer);
    return this.view;
  }

  get bytes(): number {
    return this.memory.buffer.byteLength;
  }
}

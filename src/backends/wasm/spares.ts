/**
 * Spare arrays: the typed arrays of released tensors, kept for reuse as the storage of later
 * results of the same type and length.
 *
 * Why: every Wasm kernel and fused program result is copied out of the arena into a fresh array.
 * A fresh large array costs more than the copy itself — the engine zeroes it and the OS maps its
 * pages in on first touch — and a training step makes the same result shapes every step, so the
 * arrays the previous step released fit this step's results exactly. Small arrays are left to the
 * garbage collector (allocating them is cheap). The pool holds at most `maxBytes`, dropping the
 * oldest arrays first, and reports itself as pooled memory.
 */
import type { CpuData } from '../cpu/types.js';

/** Arrays shorter than this are not kept. */
const MIN_LENGTH = 4096;
/** Bytes the pool holds at most, by default. */
const MAX_BYTES = 256 * 1024 * 1024;

const keyOf = (data: CpuData) => `${data.constructor.name}:${data.length}`;

export class Spares {
  /** Arrays by type and length; `order` has them all, oldest first. */
  private readonly byKey = new Map<string, CpuData[]>();
  private readonly order: CpuData[] = [];
  private held = 0;

  constructor(private readonly maxBytes = MAX_BYTES) {}

  /** Keeps `data` (an array no live storage holds any more) for reuse. */
  put(data: CpuData): void {
    if (data.length < MIN_LENGTH || data.byteLength > this.maxBytes) return;
    const key = keyOf(data);
    const list = this.byKey.get(key);
    if (list) list.push(data);
    else this.byKey.set(key, [data]);
    this.order.push(data);
    this.held += data.byteLength;
    while (this.held > this.maxBytes) this.evictOldest();
  }

  /** A kept array of the type and length of `like`, or null. */
  take(like: { constructor: unknown; length: number }): CpuData | null {
    const list = this.byKey.get(keyOf(like as CpuData));
    const data = list?.pop();
    if (!data) return null;
    this.order.splice(this.order.indexOf(data), 1);
    this.held -= data.byteLength;
    return data;
  }

  private evictOldest(): void {
    const data = this.order.shift()!;
    const list = this.byKey.get(keyOf(data))!;
    list.splice(list.indexOf(data), 1);
    this.held -= data.byteLength;
  }

  get count(): number {
    return this.order.length;
  }

  get bytes(): number {
    return this.held;
  }
}

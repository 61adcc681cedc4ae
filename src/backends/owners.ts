/**
 * Shared ownership of backend storage, for the lazy values of the WebGPU and wasm fusion
 * (src/backends/webgpu/fusion.ts, src/backends/wasm/fusion.ts): the front end owns each storage it
 * gets once; a pending value owns one more reference to each storage its expression reads. The
 * storage is freed when its last owner lets go. Counts are kept only for storage with more than
 * one owner, so the common case (no pending reader) costs a map miss.
 */
export class Owners<S> {
  private readonly counts = new Map<S, number>();

  constructor(private readonly free: (s: S) => void) {}

  /** One more owner of `s`. */
  retain(s: S): void {
    this.counts.set(s, (this.counts.get(s) ?? 1) + 1);
  }

  /** One owner of `s` lets go; the last one frees it. */
  drop(s: S): void {
    const c = this.counts.get(s);
    if (c === undefined) this.free(s);
    else if (c === 2) this.counts.delete(s);
    else this.counts.set(s, c - 1);
  }
}

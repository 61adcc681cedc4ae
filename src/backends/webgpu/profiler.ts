/**
 * Per-kernel GPU time from timestamp queries (adapters with `timestamp-query`).
 *
 * While a profiler is attached to the runtime, every dispatch runs in a compute pass of its own
 * whose beginning and end write timestamps into a query set (two per dispatch). Before each submit
 * the batch's stamps are resolved into a buffer and copied to a staging buffer; `report()` maps
 * those and sums end − begin per kernel key. One pass per dispatch costs a little extra, so
 * profiled runs are for finding where time goes, not for headline timings.
 */
const MAX_PASSES = 512;

export interface KernelTime {
  key: string;
  count: number;
  ms: number;
}

export class KernelProfiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private keys: string[] = [];
  private readonly pendingReads: Promise<void>[] = [];
  private readonly totals = new Map<string, { count: number; ns: number }>();

  constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * MAX_PASSES });
    this.resolveBuffer = device.createBuffer({ size: 16 * MAX_PASSES, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  }

  /** Whether the current batch has room for another profiled pass (else the runtime submits first). */
  get full(): boolean {
    return this.keys.length >= MAX_PASSES;
  }

  /** A compute pass for one dispatch of kernel `key`, with its timestamps. */
  beginPass(encoder: GPUCommandEncoder, key: string): GPUComputePassEncoder {
    const k = this.keys.push(key) - 1;
    return encoder.beginComputePass({ timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * k, endOfPassWriteIndex: 2 * k + 1 } });
  }

  /** Records the resolve of this batch's stamps into `encoder` (call right before finishing it). */
  resolve(encoder: GPUCommandEncoder): void {
    const n = this.keys.length;
    if (n === 0) return;
    const staging = this.device.createBuffer({ size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, staging, 0, 16 * n);
    const keys = this.keys;
    this.keys = [];
    // Mapped after the submit that follows; the promise settles once the GPU has run the batch.
    this.pendingReads.push(
      Promise.resolve().then(async () => {
        await staging.mapAsync(GPUMapMode.READ);
        const stamps = new BigUint64Array(staging.getMappedRange().slice(0));
        staging.destroy();
        keys.forEach((key, k) => {
          const t = this.totals.get(key) ?? { count: 0, ns: 0 };
          t.count++;
          t.ns += Number(stamps[2 * k + 1] - stamps[2 * k]);
          this.totals.set(key, t);
        });
      }),
    );
  }

  /** Time per kernel key since the profiler was attached, largest first. */
  async report(): Promise<KernelTime[]> {
    await Promise.all(this.pendingReads.splice(0));
    return [...this.totals].map(([key, t]) => ({ key, count: t.count, ms: t.ns / 1e6 })).sort((a, b) => b.ms - a.ms);
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
  }
}

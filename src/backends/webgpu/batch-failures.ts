/**
 * Failed batches poison what they wrote. WebGPU does not execute a command buffer that fails
 * validation (or runs out of memory), so every storage its dispatches wrote holds garbage. The
 * batch recorder (batch-recorder.ts) records, per batch not yet known good, which storages each
 * dispatch read and wrote; when the batch's error arrives, its outputs are marked, and so are the
 * outputs of later recorded dispatches that read a marked storage (they were submitted before the
 * error was known). A marked storage throws when it is read or bound as a dispatch input instead
 * of yielding garbage.
 */
import type { WgradError } from '../../core/backend.js';

/** A storage that can be marked as written by a failed batch. */
export interface Poisonable {
  failedBy: WgradError | null;
}

interface DispatchRecord {
  readonly reads: readonly Poisonable[];
  readonly writes: readonly Poisonable[];
}

export class BatchFailures {
  /** Dispatches of every batch whose error scopes have not resolved yet, by batch id (ascending). */
  private readonly batches = new Map<number, DispatchRecord[]>();

  /** Records one dispatch of batch `batchId`. */
  record(batchId: number, reads: readonly Poisonable[], writes: readonly Poisonable[]): void {
    let list = this.batches.get(batchId);
    if (!list) this.batches.set(batchId, (list = []));
    list.push({ reads, writes });
  }

  /** Batch `batchId` failed with `error`: marks its outputs and whatever later batches computed from them. */
  fail(batchId: number, error: WgradError): void {
    for (const d of this.batches.get(batchId) ?? []) for (const w of d.writes) w.failedBy ??= error;
    for (const [id, list] of this.batches) {
      if (id <= batchId) continue;
      for (const d of list) {
        const bad = d.reads.find((r) => r.failedBy)?.failedBy;
        if (bad) for (const w of d.writes) w.failedBy ??= bad;
      }
    }
  }

  /** Batch `batchId`'s errors (if any) have all been reported: its record is no longer needed. */
  settle(batchId: number): void {
    this.batches.delete(batchId);
  }

  clear(): void {
    this.batches.clear();
  }
}

/**
 * A run's metrics.jsonl: one line per training step ({event: 'step', phase, epoch, step, loss})
 * and one per finished epoch ({event: 'epoch', ...EpochRecord}), appended as training goes.
 *
 * The order of writes in an epoch is: its step lines, then the checkpoint, then its epoch line. A
 * process killed anywhere in between leaves metrics that `reconcileMetrics` makes consistent with
 * the checkpoint on --resume: lines of epochs after the checkpoint are dropped (they are trained
 * again), a torn last line is dropped, and an epoch line missing after its checkpoint (a kill between
 * the two) is restored from the checkpoint's loss history, which holds the same record. Writing the
 * epoch line before the checkpoint instead would leave a line for an epoch that may never have been
 * saved; the checkpoint is the truth, and the metrics follow it.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { WgradError } from '../core/backend.js';
import { writeFileAtomic } from '../io/node.js';
import { displayPath } from './paths.js';
import { readJsonLines } from './run-dir.js';
import type { EpochRecord, RunCheckpoint } from './run-config.js';

export interface StepLine { event: 'step'; phase: EpochRecord['phase']; epoch: number; step: number; loss: number }
type Line = StepLine | ({ event: 'epoch' } & EpochRecord) | { event?: string; phase?: string; epoch?: number };

/**
 * Appends the step lines of `losses` (steps firstStep + 1, …). A loss that is not finite ends the run:
 * the lines before it are written, then a WgradError names the step, the epoch and the phase (the
 * caller has not saved this epoch, so the checkpoint keeps the last finite one).
 */
export async function appendStepLines(path: string, phase: EpochRecord['phase'], epoch: number, firstStep: number, losses: number[]): Promise<void> {
  const bad = losses.findIndex((l) => !Number.isFinite(l));
  const good = bad < 0 ? losses : losses.slice(0, bad);
  await fsp.appendFile(path, good.map((loss, i) => `${JSON.stringify({ event: 'step', phase, epoch, step: firstStep + i + 1, loss } satisfies StepLine)}\n`).join(''));
  if (bad >= 0) {
    const where = `step ${firstStep + bad + 1} of ${phase === 'vae' ? 'VAE ' : ''}epoch ${epoch}`;
    throw new WgradError('train', `the loss is ${losses[bad]} at ${where}: training diverged and stopped. Nothing of epoch ${epoch} was saved; the checkpoint keeps the epochs before it. Lower --lr${phase === 'vae' ? ' (--vae-lr)' : ''} or check the data`);
  }
}

export async function appendEpochLine(path: string, rec: EpochRecord): Promise<void> {
  await fsp.appendFile(path, `${JSON.stringify({ event: 'epoch', ...rec })}\n`);
}

/** The epochs of `phase` the checkpoint holds. */
const epochsDone = (run: RunCheckpoint, phase: string | undefined) => (phase === 'vae' ? run.vaeEpochsDone : run.epochsDone);

/**
 * Makes metrics.jsonl agree with the checkpoint `run` (see the module comment), saying what it
 * mended through `log`; rewritten atomically.
 */
export async function reconcileMetrics(path: string, run: RunCheckpoint, log: (line: string) => void): Promise<void> {
  const name = displayPath(path);
  const read = existsSync(path) ? readJsonLines<Line>(path, (l) => log(`note: ${name}: dropped a torn last line (a write cut short): ${JSON.stringify(l.slice(0, 60))}`)) : [];
  const lines = read.filter((l) => l.epoch === undefined || l.epoch <= epochsDone(run, l.phase));
  for (const rec of run.history) {
    if (lines.some((l) => l.event === 'epoch' && l.phase === rec.phase && l.epoch === rec.epoch)) continue;
    // After the last line of the same epoch (its step lines), else at the end.
    const at = lines.findLastIndex((l) => l.phase === rec.phase && l.epoch === rec.epoch);
    lines.splice(at < 0 ? lines.length : at + 1, 0, { event: 'epoch', ...rec });
    log(`note: ${name}: restored the record of ${rec.phase === 'vae' ? 'VAE ' : ''}epoch ${rec.epoch} from the checkpoint (the run stopped before writing it)`);
  }
  await writeFileAtomic(path, lines.map((l) => `${JSON.stringify(l)}\n`).join(''), 'metrics');
}

/** The step lines of a run's metrics (a torn last line is skipped: it belongs to no saved epoch). */
export function readStepLines(path: string): StepLine[] {
  if (!existsSync(path)) return [];
  return readJsonLines<Line>(path).filter((l): l is StepLine => l.event === 'step');
}

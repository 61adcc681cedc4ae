/**
 * `compare --resume` reuses the evaluation of a finished run (RUN/eval.json) only when everything
 * that produced it is the same: the evaluation settings (attack, steps, ε list, limits, probe and
 * kNN settings, seed), the data (a digest of the examples and labels as loaded, so limits and
 * preprocessing count) and the checkpoint (a digest of its file; for a row without one, such as
 * the raw inputs, a description of what is evaluated). Otherwise it evaluates again and says why.
 * eval.json is written atomically; an unreadable one is evaluated again.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/node.js';
import type { HostDataset } from './data.js';
import { evaluateRun, type EvalResult, type EvalSettings } from './evaluate.js';
import { displayPath } from './paths.js';
import { CHECKPOINT_FILE, type RunCheckpoint } from './run.js';

export const EVAL_FILE = 'eval.json';

/** What an evaluation depends on, as plain JSON. */
type Provenance = Record<string, unknown>;

function digest(parts: (string | ArrayBufferView)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(typeof p === 'string' ? p : new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  return h.digest('hex');
}

/** A digest of the data as the evaluation sees it. */
export function dataDigest(ds: HostDataset): string {
  return digest([JSON.stringify({ domain: ds.domain, shape: ds.shape, classes: ds.classes }), ds.train.x, ds.train.labels, ds.test.x, ds.test.labels]);
}

/** What is evaluated: the checkpoint's digest, or (no checkpoint) a description of the encoder. */
export type EvalSource = { checkpoint: string } | { encoder: string };

function provenance(source: EvalSource, ds: HostDataset, s: EvalSettings): Provenance {
  const settings = Object.fromEntries(Object.entries(s).filter(([, v]) => typeof v !== 'function' && v !== undefined));
  return { ...settings, data: dataDigest(ds), ...source };
}

/** Why a stored evaluation does not apply (undefined: it does). */
function mismatch(stored: unknown, want: Provenance): string | undefined {
  const have = (stored as { provenance?: Provenance } | undefined)?.provenance;
  if (!have || typeof have !== 'object') return 'it does not record the settings that produced it';
  const keys = [...new Set([...Object.keys(want), ...Object.keys(have)])];
  const k = keys.find((key) => JSON.stringify(have[key]) !== JSON.stringify(want[key]));
  if (k === undefined) return undefined;
  if (k === 'data' || k === 'checkpoint' || k === 'encoder') return `its ${k} differs from this one`;
  return `it was made with ${k} = ${JSON.stringify(have[k])}, not ${JSON.stringify(want[k])}`;
}

function readStored(path: string): { value?: unknown; problem?: string } {
  try {
    return { value: JSON.parse(readFileSync(path, 'utf8')) };
  } catch (e) {
    return { problem: `it is unreadable (${(e as Error).message})` };
  }
}

/**
 * The evaluation of the trained run in `dir` under settings `s`: reused from dir/eval.json when
 * `resume` and it matches (see the module comment), else computed and stored there.
 */
export async function runEvaluation(run: RunCheckpoint, dir: string, ds: HostDataset, s: EvalSettings, resume: boolean): Promise<EvalResult> {
  const source = { checkpoint: digest([readFileSync(join(dir, CHECKPOINT_FILE))]) };
  return cachedEvaluation(dir, ds, s, resume, source, run.epochsDone, async () => (await evaluateRun(run, ds, s)).result);
}

/** The evaluation `evaluate` makes of `source`, reused from dir/eval.json when `resume` and it matches, else computed and stored there. */
export async function cachedEvaluation(dir: string, ds: HostDataset, s: EvalSettings, resume: boolean, source: EvalSource, epochs: number, evaluate: () => Promise<EvalResult>): Promise<EvalResult> {
  const path = join(dir, EVAL_FILE);
  const want = provenance(source, ds, s);
  if (resume && existsSync(path)) {
    const { value, problem } = readStored(path);
    const why = problem ?? mismatch(value, want);
    if (!why) {
      s.log(`(evaluation reused from ${displayPath(path)})`);
      return (value as { result: EvalResult }).result;
    }
    s.log(`(not reusing ${displayPath(path)}: ${why}; evaluating again)`);
  }
  const result = await evaluate();
  await writeFileAtomic(path, `${JSON.stringify({ epochs, provenance: want, result }, null, 2)}\n`, 'compare');
  return result;
}

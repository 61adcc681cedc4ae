/**
 * Checks of a training run that keep bad state from going further: a checkpoint read from disk
 * (`checkRunTree`: its configuration, counters, tensor dtypes and finite values, checked at load
 * instead of failing deep inside a step), a run about to be saved (`refuseNonFinite`: a diverged
 * step never overwrites the last good checkpoint), and data that does not fit a run (`checkBatch`,
 * `checkInputShape`), refused before anything is created.
 */
import { WgradError } from '../core/backend.js';
import * as ssl from '../ssl/index.js';
import { treeLeaves } from '../tensor/tree.js';
import { UsageError } from './args.js';
import type { HostDataset } from './data.js';
import { normalizeDataSpec } from './paths.js';
import type { RunCheckpoint, RunConfig } from './run-config.js';

/** The allowed values of the named settings (the methods when asked: registerMethod adds to them). */
const choices = (): Partial<Record<keyof RunConfig, readonly string[]>> => ({
  method: ssl.methodNames(), encoder: ['cnn', 'resnet', 'mlp'], optimizer: ['lars', 'sgd', 'adam'],
});
/** Positive integers (batch: at least 2, as the flag), and the seed. */
const COUNTS: Partial<Record<keyof RunConfig, number>> = { epochs: 1, batch: 2, seed: 0 };

/** The problems of a stored run configuration, as phrases. */
function configProblems(cfg: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [k, allowed] of Object.entries(choices())) {
    if (!allowed!.includes(cfg[k] as string)) out.push(`config.${k} is ${JSON.stringify(cfg[k])}, expected one of ${allowed!.join(', ')}`);
  }
  for (const [k, min] of Object.entries(COUNTS)) {
    if (!(Number.isInteger(cfg[k]) && (cfg[k] as number) >= min!)) out.push(`config.${k} is ${JSON.stringify(cfg[k])}, expected an integer ≥ ${min}`);
  }
  if (typeof cfg.data !== 'string' || !cfg.data) out.push(`config.data is ${JSON.stringify(cfg.data)}, expected the data's path or name`);
  if (!(typeof cfg.lr === 'number' && cfg.lr > 0)) out.push(`config.lr is ${JSON.stringify(cfg.lr)}, expected a number > 0`);
  for (const [k, v] of Object.entries(cfg)) if (typeof v === 'number' && !Number.isFinite(v)) out.push(`config.${k} is ${v}`);
  return out;
}

/** An optimizer's step count (src/optim/device-count.ts): an int32 scalar named `count`. */
const isStepCount = (path: string, t: { dtype: string; rank: number }) => t.dtype === 'int32' && t.rank === 0 && /(^|\.)count$/.test(path);

/** The problems of a run's counters and trees (every stored tensor is float32, but optimizers' step counts). */
function runProblems(run: RunCheckpoint): string[] {
  const out: string[] = [];
  for (const k of ['epochsDone', 'vaeEpochsDone'] as const) if (!(Number.isInteger(run[k]) && run[k] >= 0)) out.push(`${k} is ${JSON.stringify(run[k])}, expected an integer ≥ 0`);
  if (!Array.isArray(run.history)) out.push('history (the loss record of each epoch) is missing');
  if (typeof run.modelConfig !== 'object' || run.modelConfig === null) out.push('modelConfig is missing');
  if (!treeLeaves(run.params).length) out.push('params holds no tensors');
  for (const [path, t] of treeLeaves({ params: run.params, state: run.state, vae: run.vae })) {
    if (t.dtype !== 'float32' && !isStepCount(path, t)) out.push(`${path} is ${t.dtype} [${t.shape.join(', ')}], expected float32`);
  }
  return out;
}

/** The first non-finite value among the float32 tensors of `tree`, by path. */
async function firstNonFinite(tree: unknown): Promise<{ path: string; index: number; value: number } | undefined> {
  for (const [path, t] of treeLeaves(tree)) {
    if (t.dtype !== 'float32') continue;
    const d = await t.data();
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return { path, index: i, value: d[i] };
  }
  return undefined;
}

/** The tensors of a run that training changes. */
const trainedTrees = (run: RunCheckpoint) => ({ params: run.params, state: run.state, vae: run.vae });

/**
 * Checks a run read from `path` (after its format tag): a WgradError lists what is wrong. Also
 * normalizes its data spec (runs written before `normalizeDataSpec` kept "DIR/" as given).
 */
export async function checkRunTree(run: RunCheckpoint, path: string): Promise<void> {
  const cfg = run.config as unknown;
  const problems = typeof cfg === 'object' && cfg !== null ? configProblems(cfg as Record<string, unknown>) : ['config is missing'];
  problems.push(...runProblems(run));
  if (problems.length) throw new WgradError('checkpoint', `${path} is not a usable training run: ${problems.slice(0, 6).join('; ')}${problems.length > 6 ? `; and ${problems.length - 6} more` : ''}`);
  const bad = await firstNonFinite(trainedTrees(run));
  if (bad) throw new WgradError('checkpoint', `${path}: ${bad.path} holds ${bad.value} (at flat index ${bad.index}): the run diverged; refusing to use non-finite parameters`);
  run.config.data = normalizeDataSpec(run.config.data);
}

/** Before a checkpoint is written: a WgradError if a parameter or state tensor is not finite (the last good checkpoint stays). */
export async function refuseNonFinite(run: RunCheckpoint, where: string): Promise<void> {
  const bad = await firstNonFinite(trainedTrees(run));
  if (bad) throw new WgradError('train', `${bad.path} holds ${bad.value} (at flat index ${bad.index}) after ${where}: training diverged and stopped. The checkpoint keeps the epochs before it. Lower --lr or check the data`);
}

/** The batch must fit the training set (the last partial batch is dropped): a UsageError naming both numbers. */
export function checkBatch(batch: number, ds: HostDataset, command: string): void {
  if (batch > ds.train.n) throw new UsageError(`--batch ${batch} is larger than the training set (${ds.train.n} examples${ds.train.n > 1 ? `; use --batch ${ds.train.n} or less` : ''})`, command);
}

/** The example shape the run's encoder takes (runs before inputShape was stored: [C, side, side]). */
function modelInputShape(run: RunCheckpoint): readonly number[] {
  const m = run.modelConfig;
  return m.inputShape ?? [m.inChannels ?? 1, m.imageSize ?? 28, m.imageSize ?? 28];
}

/** Data for a run's encoder must have its example shape: a UsageError naming both (before the data meets a matmul). */
export function checkInputShape(run: RunCheckpoint, ds: HostDataset, dir: string, command: string): void {
  const want = modelInputShape(run);
  if (want.length !== ds.shape.length || want.some((d, i) => d !== ds.shape[i])) {
    throw new UsageError(`--data: ${ds.description} has examples of shape [${ds.shape.join(', ')}], but the encoder in ${dir} takes [${want.join(', ')}]`, command);
  }
}

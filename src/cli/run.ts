/**
 * One training run of a self-supervised method, as `wgrad train` and `wgrad compare` drive it: the
 * data order, keys, optimizer, progress, metrics, checkpoints and resume.
 *
 * Determinism (what makes --resume continue bit for bit): every random choice is derived from the
 * seed by folding in counters — the model init from split(key(seed))[0], the data order of epoch e
 * from permutationIndices(foldIn(kData, e), n), the key of step s of epoch e from
 * foldIn(foldIn(kTrain, e), s). A model the method trains first (IDAA's VAE) is trained once per data
 * set, key and training options and cached beside the run directory (./vae-cache.ts); the run keeps
 * a copy, its epochs in the history and metrics. A checkpoint holds everything else
 * that changes: params, BN statistics, optimizer state (whose step count drives the schedule), APLR's
 * generator with its own optimizer state and step count, the completed epochs of each phase and the
 * loss history. It is written atomically after every epoch
 * (io.saveCheckpoint: temporary file + rename), so an interrupted run resumes from its last epoch.
 */
import { existsSync, mkdirSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { WgradError } from '../core/backend.js';
import { loadCheckpoint, saveCheckpoint } from '../io/node.js';
import { foldIn, key as prngKey, split, type Key } from '../random/random.js';
import { permutationIndices } from '../data/batching.js';
import { dispose } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { sync } from '../init.js';
import * as ssl from '../ssl/index.js';
import { batchTensors, type HostDataset } from './data.js';
import { Progress } from './progress.js';
import { appendEpochLine, appendStepLines, reconcileMetrics } from './metrics.js';
import { checkRunTree, refuseNonFinite } from './run-check.js';
import { type EpochRecord, methodContext, modelConfigFor, resumeProblem, type RunCheckpoint, runKeys, RUN_VERSION, type RunConfig, upgradeConfig } from './run-config.js';
import { makeOptimizer } from '../optim/spec.js';
import { loadOrTrainVae, vaeCacheDir } from './vae-cache.js';

export { domainBox, modelConfigFor, type EpochRecord, type RunCheckpoint, type RunConfig } from './run-config.js';

export interface RunHooks {
  /** Progress and status lines (default stderr). */
  log?: (line: string) => void;
  /** Stop after this many epochs (VAE and encoder together) in this invocation (tests, split runs). */
  stopAfter?: number;
  progressStream?: ConstructorParameters<typeof Progress>[2] extends infer O ? O extends { stream?: infer S } ? S : never : never;
}

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const METRICS_FILE = 'metrics.jsonl';

export function stepsPerEpoch(n: number, batch: number): number {
  const s = Math.floor(n / batch);
  if (s < 1) throw new WgradError('train', `--batch ${batch} is larger than the training set (${n} images)`);
  return s;
}

/** A fresh run's state (untrained). */
export function freshRun(cfg: RunConfig, ds: HostDataset): RunCheckpoint {
  const keys = runKeys(cfg.seed);
  const modelConfig = modelConfigFor(cfg, ds);
  const { params, state } = ssl.model.init(keys.init, modelConfig);
  const ctx = methodContext(cfg, modelConfig, stepsPerEpoch(ds.train.n, cfg.batch));
  const initial = ssl.methodInitState(cfg.method, cfg.options, params, state, keys.methodInit, ctx);
  return { format: 'wgrad-ssl-run', version: RUN_VERSION, config: cfg, modelConfig, vaeEpochsDone: 0, epochsDone: 0, params, state: initial, history: [], preprocessing: ds.preprocessing };
}

export async function loadRun(dir: string): Promise<RunCheckpoint> {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) throw new WgradError('checkpoint', `no checkpoint in ${dir} (expected ${CHECKPOINT_FILE})`);
  const { tree } = await loadCheckpoint<RunCheckpoint>(path);
  if (tree?.format !== 'wgrad-ssl-run') throw new WgradError('checkpoint', `${path} is not a wgrad training run (format ${JSON.stringify(tree?.format)})`);
  try {
    await checkRunTree(tree, path);
    tree.config = upgradeConfig(tree.config, tree.version);
  } catch (e) {
    dispose(tree);
    throw e;
  }
  return tree;
}

async function save(dir: string, run: RunCheckpoint): Promise<void> {
  await saveCheckpoint(join(dir, CHECKPOINT_FILE), run, { metadata: { method: run.config.method } });
}

/** Reads a batch of losses (and parts) back, adds them to `sums`, frees them; returns the losses. */
async function drain(pending: { loss: Tensor; parts: Record<string, Tensor> }[], sums: Record<string, number>): Promise<number[]> {
  const out: number[] = [];
  for (const p of pending.splice(0)) {
    const l = await p.loss.item();
    out.push(l);
    sums.loss = (sums.loss ?? 0) + l;
    for (const [k, t] of Object.entries(p.parts)) sums[k] = (sums[k] ?? 0) + (await t.item());
    dispose([p.loss, p.parts]);
  }
  return out;
}

interface EpochLoop {
  phase: string;
  epoch: number;
  epochs: number;
  steps: number;
  order: Int32Array;
  /** The step on a batch x with its labels y (a supervised record's step reads them). */
  step: (x: Tensor, k: Key, y: Tensor) => { loss: Tensor; parts: Record<string, Tensor> };
  stepKey: (s: number) => Key;
}

/** Runs one epoch; returns its record. */
async function runEpoch(loop: EpochLoop, ds: HostDataset, batch: number, hooks: RunHooks, onLosses: (first: number, losses: number[]) => Promise<void>): Promise<EpochRecord> {
  const label = `${(loop.phase === 'encoder' ? 'epoch' : loop.phase).padEnd(5)} ${loop.epoch}/${loop.epochs}`;
  const bar = new Progress(label, loop.steps, { imagesPerStep: batch, stream: hooks.progressStream });
  const t0 = performance.now();
  const sums: Record<string, number> = {};
  const pending: { loss: Tensor; parts: Record<string, Tensor> }[] = [];
  let done = 0;
  bar.update(0);
  for (let s = 0; s < loop.steps; s++) {
    const { x, y } = batchTensors(ds.train, ds.shape, loop.order.subarray(s * batch, (s + 1) * batch));
    try {
      pending.push(loop.step(x, loop.stepKey(s), y));
    } finally {
      dispose([x, y]);
    }
    // Read losses back a few steps late, so the device is not idle while the host waits.
    if (pending.length >= 2 || s === loop.steps - 1) {
      const first = done;
      done += pending.length;
      await onLosses(first, await drain(pending, sums));
      bar.update(done, { loss: sums.loss / done });
    }
  }
  await sync();
  const seconds = (performance.now() - t0) / 1000;
  const parts = Object.fromEntries(Object.entries(sums).filter(([k]) => k !== 'loss').map(([k, v]) => [k, v / loop.steps]));
  return { phase: loop.phase, epoch: loop.epoch, loss: sums.loss / loop.steps, parts, seconds, imagesPerSec: (loop.steps * batch) / seconds };
}

/** The run in `dir`: resumed from its checkpoint (settings checked) or fresh. */
async function openRun(cfg: RunConfig, ds: HostDataset, dir: string, resume: boolean, log: (l: string) => void): Promise<RunCheckpoint> {
  mkdirSync(dir, { recursive: true });
  const ckptPath = join(dir, CHECKPOINT_FILE);
  if (!resume || !existsSync(ckptPath)) {
    if (existsSync(ckptPath)) throw new WgradError('train', `${ckptPath} exists: pass --resume to continue it, or choose another --out`);
    await fsp.writeFile(join(dir, METRICS_FILE), '');
    return freshRun(cfg, ds);
  }
  const run = await loadRun(dir);
  const problem = resumeProblem(run.config, cfg);
  if (problem) {
    dispose(run);
    throw new WgradError('train', `--resume: the checkpoint in ${dir} was trained with ${problem}`);
  }
  await reconcileMetrics(join(dir, METRICS_FILE), run, log);
  const pre = ssl.methodRecord(cfg.method).pretrain;
  const first = pre ? `its ${pre.phase} ${run.vae ? `trained (${run.vaeEpochsDone} epochs)` : 'not trained yet'} and ` : '';
  log(`resuming ${dir}: ${first}${run.epochsDone}/${cfg.epochs} epochs done`);
  return run;
}

/**
 * The model the run's method trains first (its record's pretrain: IDAA's VAE), from the cache beside
 * `dir` or trained into it (./vae-cache.ts); its epochs join the run's history and metrics.
 */
async function pretrain(run: RunCheckpoint, pre: ssl.Pretrain<object>, ds: HostDataset, dir: string, key: Key, log: (l: string) => void): Promise<void> {
  const { training: t } = await loadOrTrainVae(vaeCacheDir(dir), ds, key, pre.options(run.config.options), { log });
  run.vae = { params: t.params, state: { model: t.state, opt: t.opt } };
  run.vaeEpochsDone = t.epochsDone;
  const records: EpochRecord[] = t.history.map((r) => ({
    phase: pre.phase, epoch: r.epoch, loss: r.loss, parts: { mse: r.mse, kl: r.kl, heldOutMse: r.heldOutMse, heldOutRms: r.heldOutRms }, seconds: r.seconds, imagesPerSec: r.imagesPerSec,
  }));
  run.history.push(...records);
  await save(dir, run);
  for (const rec of records) await appendEpochLine(join(dir, METRICS_FILE), rec);
}

/**
 * Trains (or resumes) the run in `dir`: the model the method trains first (its record's pretrain:
 * IDAA's VAE; one unit of `stopAfter`), then the encoder's epochs. Returns the final checkpoint tree
 * (the caller owns its tensors).
 */
export async function train(cfg: RunConfig, ds: HostDataset, dir: string, resume: boolean, hooks: RunHooks = {}): Promise<RunCheckpoint> {
  const log = hooks.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const run = await openRun(cfg, ds, dir, resume, log);
  const metricsPath = join(dir, METRICS_FILE);
  const keys = runKeys(cfg.seed);
  const perEpoch = stepsPerEpoch(ds.train.n, cfg.batch);
  let budget = hooks.stopAfter ?? Infinity;
  /** Epochs first..last of a phase, each saved and logged when done; false when stopped early. */
  const phase = async (name: EpochRecord['phase'], first: number, last: number, epochLoop: (e: number) => Omit<EpochLoop, 'phase' | 'epoch' | 'epochs' | 'steps'>, done: (e: number) => void) => {
    for (let e = first; e <= last; e++) {
      if (budget-- <= 0) return false;
      const stepLines = (firstStep: number, losses: number[]) => appendStepLines(metricsPath, name, e, firstStep, losses);
      const rec = await runEpoch({ phase: name, epoch: e, epochs: last, steps: perEpoch, ...epochLoop(e) }, ds, cfg.batch, hooks, stepLines);
      done(e);
      run.history.push(rec);
      await refuseNonFinite(run, `${name === 'vae' ? 'VAE ' : ''}epoch ${e}`);
      await save(dir, run);
      await appendEpochLine(metricsPath, rec);
    }
    return true;
  };
  const pre = ssl.methodRecord(cfg.method).pretrain;
  if (pre && !run.vae) {
    if (budget-- <= 0) return run;
    await pretrain(run, pre, ds, dir, keys.pretrain, log);
  }
  const step = ssl.methodStep(cfg.method, cfg.options, methodContext(cfg, run.modelConfig, perEpoch, run.vae));
  await phase('encoder', run.epochsDone + 1, cfg.epochs, (e) => ({
    order: permutationIndices(foldIn(keys.data, e), ds.train.n),
    stepKey: (s) => foldIn(foldIn(keys.train, e), s),
    step: (x, k, y) => {
      const r = step(run.params, run.state, x, k, ssl.methodRecord(cfg.method).supervised ? y : undefined);
      dispose([run.params, run.state]);
      run.params = r.params;
      run.state = r.state;
      return { loss: r.loss, parts: r.parts };
    },
  }), (e) => { run.epochsDone = e; });
  return run;
}

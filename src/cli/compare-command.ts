/**
 * `wgrad compare`: every method on one dataset with one encoder, one budget (epochs, batch,
 * augmentation) and one evaluation, for one seed or several (--seeds). The default rows are the
 * domain's: images: the untrained encoder, SimCLR and APLR; tables and audio: the untrained
 * encoder, the noise and masking baselines and APLR; a row may be a variant of a method with options
 * set ("aplr:perturbation=zero", ./study-rows.ts). Each row × seed lives in its own run directory
 * (OUT/runs/<row>/seed-<s>; OUT/runs/<row> without --seeds) with its checkpoints, its evaluation
 * (eval.json) and its record (row.json), so an interrupted comparison continues with --resume
 * (finished runs are not retrained; their evaluation is reused when it was made under the same
 * settings, data and checkpoint: eval-cache.ts) and `wgrad report` rebuilds the table from the
 * directories. Writes OUT/results.md (rows × metrics, mean ± sd over seeds, and the pre-registered
 * hypotheses the table decides: ./study.ts), OUT/results.json and the charts (./study-report.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { saveCheckpoint, writeFileAtomic } from '../io/node.js';
import { dispose } from '../tensor/scope.js';
import { reshape } from '../tensor/ops/movement.js';
import type { Tensor } from '../tensor/tensor.js';
import * as ssl from '../ssl/index.js';
import { type Flags, type Parsed, UsageError } from './args.js';
import { BACKEND_FLAG, startBackend } from './backend.js';
import { type Domain, type HostDataset, loadDataset } from './data.js';
import { EVAL_SETTING_FLAGS, evalSettings } from './eval-command.js';
import { cachedEvaluation, runEvaluation } from './eval-cache.js';
import { evaluateEncoder, type EvalSettings } from './evaluate.js';
import { CHECKPOINT_FILE, freshRun, METRICS_FILE, type RunCheckpoint, type RunConfig, train } from './run.js';
import { methodFlags, methodSources, RUN_FLAGS, runConfig } from './train-command.js';
import { refuseUnused } from './record-flags.js';
import { REGULARIZER_SOURCE } from './run-config.js';
import { checkBatch } from './run-check.js';
import { checkOutDir, openOutDir } from './run-dir.js';
import { applyRow, parseRow, rowLabel, runDir, type RowSpec, seedList, sharedOptions, UNTRAINED_ROWS } from './study-rows.js';
import { metricsTable, type StoredRun, type TableMeta, writeTable } from './study-report.js';
import { writeRunRecord } from './report-command.js';

/** The method whose model the "random" baseline evaluates untrained: the domain's first default (a plain encoder). */
const baselineMethod = (domain: Domain): string =>
  (ssl.methods().find((m) => m.compare?.includes(domain)) ?? ssl.methods().find((m) => m.domains.includes(domain)))!.name;

/** The runs of a comparison when --methods is not given: the untrained encoder and the methods whose records name the domain. */
export function defaultRuns(domain: Domain): string[] {
  return ['random', ...ssl.methods().filter((m) => m.compare?.includes(domain)).map((m) => m.name)];
}

export function compareFlags(): Flags {
  const defaults = ssl.DATA_DOMAINS.map((d) => `${d} ${defaultRuns(d).join(',')}`).join('; ');
  const own: Flags = {
    methods: {
      kind: 'list', value: 'M1,M2',
      help: `the rows (default by the data's domain: ${defaults}): a method, "M+reg" (with the robustness regularizer), "random" (the untrained encoder, a baseline), "raw" (the probe, kNN and attacks on the inputs themselves), or a variant "M:option=value[:option=value]" (an option's key or flag, e.g. aplr:perturbation=zero, simclr+reg:reg-perturbation=random); each method's data: the methods list below`,
    },
    'method-options': { kind: 'list', value: 'M:option=value,…', help: 'options set on every row of a method without renaming the rows (which the hypotheses name), e.g. aplr:eps=0.05 for aplr and its ablations; "M+reg:option=value" sets the regularizer\'s on the M+reg rows' },
    seeds: { kind: 'string', value: 'N|S1,S2', help: 'run every row with N seeds from --seed on, or with the seeds listed; each row × seed in OUT/runs/<row>/seed-<s> (default: --seed alone, in OUT/runs/<row>)' },
    regularizer: { kind: 'number', above: 0, default: 1, value: 'β', help: 'β of the "+reg" runs' },
    'robust-rows': { kind: 'list', value: 'R1,R2', help: 'the rows whose robust accuracy (and robust linear evaluation) is measured, named as in --methods (rows of other runs on the same --out too: keep one list per table); the others get the clean probe and kNN only (default: every row)' },
    out: { kind: 'string', default: 'results/compare', value: 'DIR', help: 'output directory' },
    resume: { kind: 'boolean', help: 'continue unfinished runs in OUT/runs and reuse finished ones' },
  };
  const { methods, 'method-options': methodOptions, seeds, regularizer, 'robust-rows': robustRows, ...rest } = own;
  return { methods, 'method-options': methodOptions, seeds, regularizer, 'robust-rows': robustRows, ...RUN_FLAGS, ...EVAL_SETTING_FLAGS, ...methodFlags({ ...RUN_FLAGS, ...EVAL_SETTING_FLAGS, ...own }), ...rest, backend: BACKEND_FLAG };
}

export async function compareCommand(a: Parsed): Promise<void> {
  const out = a.out as string;
  checkOutDir(out, '--out', 'compare');
  const given = a.methods as string[] | undefined;
  if (given && new Set(given).size !== given.length) throw new UsageError(`--methods lists a run twice: ${given.join(',')}`, 'compare');
  given?.forEach((r) => parseRow(r)); // a row that names no method or a bad option fails before any work
  if (given) sharedOptions(a['method-options'] as string[] | undefined, given.map((r) => parseRow(r)));
  const seeds = seedList(a.seeds as string | undefined, a.seed as number);
  const robustRows = robustRowList(a['robust-rows'] as string[] | undefined);
  const s = evalSettings('compare', a, a.seed as number);
  const report = await startBackend(a.backend as string); // before the data: audio features are computed on the device
  const ds = await loadDataset(a.data as string, { trainLimit: a['train-limit'] as number | undefined, testLimit: a['test-limit'] as number | undefined });
  const rows = (given ?? defaultRuns(ds.domain)).map((r) => parseRow(r));
  const shared = sharedOptions(a['method-options'] as string[] | undefined, rows);
  // Every run's configuration first, so a method that does not fit the data, or a flag no run takes, fails before any training.
  const plan = seeds.flatMap((seed) => rows.map((row, index) => {
    const method = UNTRAINED_ROWS.includes(row.base) ? baselineMethod(ds.domain) : row.base;
    return { row, index, seed, cfg: applyRow(runConfig({ ...a, seed }, ssl.methodRecord(method), row.reg ? a.regularizer as number : 0, ds, 'compare'), row, shared(row)) };
  }));
  const users = plan.flatMap(({ row, cfg }) => (UNTRAINED_ROWS.includes(row.base) ? [] : [ssl.methodRecord(cfg.method), ...(cfg.regularizer > 0 ? [REGULARIZER_SOURCE] : [])]));
  refuseUnused('compare', a, methodSources(), users, `the runs ${rows.map((r) => r.name).join(', ')}`);
  checkBatch(a.batch as number, ds, 'compare');
  const log = s.log;
  log(`wgrad compare: ${rows.map((r) => r.name).join(', ')}${seeds.length > 1 ? `, seeds ${seeds.join(', ')}` : ''} on ${report}`);
  log(`data: ${ds.description}`);
  const release = openOutDir(out, '--out', 'compare', log); // locked while this process writes there (each run's directory too)
  try {
    const meta: TableMeta = { data: ds.description, domain: ds.domain, encoder: encoderLabel(plan[0].cfg), epochs: a.epochs as number, batch: a.batch as number, ...(robustRows && { robustRows }) };
    const runs: StoredRun[] = [];
    for (const p of plan) {
      const dir = runDir(out, p.row.name, p.seed, a.seeds !== undefined);
      const robust = !robustRows || robustRows.includes(p.row.name);
      runs.push(await compareRun(a, { ...p, dir, meta }, ds, robust ? { ...s, seed: p.seed } : cleanOnly({ ...s, seed: p.seed })));
      writeTable(out, { meta, runs }); // after every run, so an interrupted comparison leaves its table so far
    }
    process.stdout.write(`${metricsTable(runs)}\n`);
    log(`wrote ${join(out, 'results.md')}, results.json, accuracy-vs-eps.svg, metrics.svg and loss.svg`);
  } finally {
    release();
  }
}

/**
 * --robust-rows, each a valid row name (a typo would silently skip a row's attacks). A name may be a
 * row of another invocation on the same --out (a table run in parts keeps one list: report checks it).
 */
function robustRowList(given: string[] | undefined): string[] | undefined {
  if (!given) return undefined;
  given.forEach((g) => parseRow(g, '--robust-rows'));
  if (new Set(given).size !== given.length) throw new UsageError(`--robust-rows lists a row twice: ${given.join(',')}`, 'compare');
  return given;
}

/** A row outside --robust-rows: no radii, no robust linear evaluation (evaluate.ts skips the attacks). */
const cleanOnly = (s: EvalSettings): EvalSettings => ({ ...s, eps: [], robustLinearEpochs: 0 });

const encoderLabel = (cfg: RunConfig) => (cfg.encoder === 'mlp' ? `mlp encoder, hidden ${cfg.hidden?.join(',')}` : `${cfg.encoder} encoder, width ${cfg.width}`);

/** What a run trained on: the image augmentation with its crop scale (AUGMENT_GROUP's option), or none. */
function views(cfg: RunConfig): string {
  const scale = cfg.options['cropScale' satisfies keyof ssl.AugmentSettings];
  return scale === undefined ? 'no augmentation' : `augmentation (crop scale [${scale}, 1])`;
}

interface PlannedRun { row: RowSpec; index: number; seed: number; cfg: RunConfig; dir: string; meta: TableMeta }

/**
 * One row × seed in its own directory (locked while it runs): trained (or, for the untrained
 * encoder, initialized and saved) unless finished, evaluated unless its eval.json applies, and
 * recorded in row.json, so that `wgrad report` can rebuild the table from the directories.
 */
async function compareRun(a: Parsed, p: PlannedRun, ds: HostDataset, s: EvalSettings): Promise<StoredRun> {
  if (p.row.base === 'raw') return rawRun(a, p, ds, s);
  const { row, cfg, dir } = p;
  const untrained = row.base === 'random';
  s.log(`\n=== ${row.name}, seed ${p.seed} (${untrained ? `the untrained ${encoderLabel(cfg)}: a baseline for the evaluation` : `${encoderLabel(cfg)}, ${cfg.optimizer} lr ${cfg.lr}, ${cfg.epochs} epochs, batch ${cfg.batch}`}) → ${dir}`);
  if (!a.resume && existsSync(join(dir, CHECKPOINT_FILE))) {
    throw new UsageError(`${join(dir, CHECKPOINT_FILE)} exists: pass --resume to continue or reuse it, or choose another --out`, 'compare');
  }
  const tTrain = performance.now();
  const releaseRun = openOutDir(dir, '--out', 'compare', s.log);
  try {
    const run = untrained ? await untrainedRun(cfg, ds, dir) : await train(cfg, ds, dir, !!a.resume);
    try {
      const trainSeconds = untrained ? 0 : run.history.reduce((acc, h) => acc + h.seconds, 0) || (performance.now() - tTrain) / 1000;
      const result = await runEvaluation(run, dir, ds, s, !!a.resume);
      const stored: StoredRun = {
        row: row.name, label: rowLabel(row, a.regularizer as number), index: p.index, seed: p.seed, trainSeconds, eval: result,
        method: untrained ? 'none' : cfg.method, regularizer: cfg.regularizer, views: untrained ? undefined : views(cfg), dir,
      };
      await writeRunRecord(dir, p.meta, stored);
      return stored;
    } finally {
      dispose(run);
    }
  } finally {
    releaseRun();
  }
}

/** The row "raw": the probe and kNN on the inputs themselves (flattened), evaluated as any encoder's features, in its own directory. */
async function rawRun(a: Parsed, p: PlannedRun, ds: HostDataset, s: EvalSettings): Promise<StoredRun> {
  s.log(`\n=== raw, seed ${p.seed} (the inputs themselves: the probe, kNN and attacks on them) → ${p.dir}`);
  const release = openOutDir(p.dir, '--out', 'compare', s.log);
  try {
    const flat = (x: Tensor) => reshape(x, [x.shape[0], -1]);
    const result = await cachedEvaluation(p.dir, ds, s, !!a.resume, { encoder: 'raw inputs, flattened' }, 0, async () => (await evaluateEncoder(flat, ds, s)).result);
    const stored: StoredRun = { row: p.row.name, label: rowLabel(p.row, a.regularizer as number), index: p.index, seed: p.seed, trainSeconds: 0, eval: result, method: 'raw', regularizer: 0, dir: p.dir };
    await writeRunRecord(p.dir, p.meta, stored);
    return stored;
  } finally {
    release();
  }
}

/**
 * The untrained encoder of a row "random": saved in its directory with its (empty) metrics, a run
 * directory like the others, so that its evaluation is cached as any run's.
 */
async function untrainedRun(cfg: RunConfig, ds: HostDataset, dir: string): Promise<RunCheckpoint> {
  const run = freshRun(cfg, ds);
  if (!existsSync(join(dir, CHECKPOINT_FILE))) {
    await writeFileAtomic(join(dir, METRICS_FILE), '', 'compare');
    await saveCheckpoint(join(dir, CHECKPOINT_FILE), run, { metadata: { method: 'none' } });
  }
  return run;
}

/**
 * `wgrad compare`: every method on one dataset with one encoder, one budget (epochs, batch,
 * augmentation, seed) and one evaluation. The default methods are the domain's: images: the
 * untrained encoder, SimCLR and APLR; tables and audio: the untrained encoder, the noise and
 * masking baselines and APLR. Each run lives in OUT/runs/<name> with its checkpoints,
 * so an interrupted comparison continues with --resume (finished runs are not retrained; their
 * evaluation is reused from OUT/runs/<name>/eval.json when it was made under the same settings, data
 * and checkpoint: eval-cache.ts). Writes OUT/results.md (the table),
 * OUT/results.json, OUT/accuracy-vs-eps.svg and OUT/loss.svg.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChart, PALETTE } from '../eval/svg.js';
import { dispose } from '../tensor/scope.js';
import * as ssl from '../ssl/index.js';
import { type Flags, type Parsed, UsageError } from './args.js';
import { BACKEND_FLAG, startBackend } from './backend.js';
import { compareLossChart } from './charts.js';
import { type Domain, type HostDataset, loadDataset } from './data.js';
import { EVAL_SETTING_FLAGS, evalSettings } from './eval-command.js';
import { runEvaluation } from './eval-cache.js';
import { evaluateRun, type EvalResult, type EvalSettings } from './evaluate.js';
import { CHECKPOINT_FILE, type EpochRecord, freshRun, type RunConfig, train } from './run.js';
import { methodFlags, methodSources, RUN_FLAGS, runConfig } from './train-command.js';
import { refuseUnused } from './record-flags.js';
import { REGULARIZER_SOURCE } from './run-config.js';
import { checkBatch } from './run-check.js';
import { checkOutDir, openOutDir } from './run-dir.js';

/** The method whose model the "random" baseline evaluates untrained: the domain's first default (a plain encoder). */
const baselineMethod = (domain: Domain): string =>
  (ssl.methods().find((m) => m.compare?.includes(domain)) ?? ssl.methods().find((m) => m.domains.includes(domain)))!.name;

/** The runs of a comparison when --methods is not given: the untrained encoder and the methods whose records name the domain. */
export function defaultRuns(domain: Domain): string[] {
  return ['random', ...ssl.methods().filter((m) => m.compare?.includes(domain)).map((m) => m.name)];
}

export function compareFlags(): Flags {
  const names = ssl.methodNames();
  const defaults = ssl.DATA_DOMAINS.map((d) => `${d} ${defaultRuns(d).join(',')}`).join('; ');
  const own: Flags = {
    methods: {
      kind: 'list', choices: ['random', ...names, ...names.map((m) => `${m}+reg`)], value: 'M1,M2',
      help: `the runs (default by the data's domain: ${defaults}); "+reg" adds the robustness regularizer; "random" evaluates the untrained encoder (a baseline); each method's data: the methods list below`,
    },
    regularizer: { kind: 'number', above: 0, default: 1, value: 'β', help: 'β of the "+reg" runs' },
    out: { kind: 'string', default: 'results/compare', value: 'DIR', help: 'output directory' },
    resume: { kind: 'boolean', help: 'continue unfinished runs in OUT/runs and reuse finished ones' },
  };
  const { methods, regularizer, ...rest } = own;
  return { methods, regularizer, ...RUN_FLAGS, ...EVAL_SETTING_FLAGS, ...methodFlags({ ...RUN_FLAGS, ...EVAL_SETTING_FLAGS, ...own }), ...rest, backend: BACKEND_FLAG };
}

interface Row {
  name: string;
  method: string;
  regularizer: number;
  trainSeconds: number;
  eval: EvalResult;
  history: EpochRecord[];
  dir: string;
}

const pct = (v: number) => `${(100 * v).toFixed(2)} %`;
const minutes = (s: number) => (s >= 600 ? `${(s / 60).toFixed(0)} min` : s >= 60 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(0)} s`);

export function markdownTable(rows: Row[], epsList: number[]): string {
  const attack = rows[0]?.eval.attack ?? 'PGD-20';
  const rl = rows.find((r) => r.eval.robustLinear)?.eval.robustLinear;
  const rlHead = rl ? [`robust linear head: clean`, `robust linear head: ${attack} ε = ${rl.eps}`] : [];
  const head = ['method', 'linear probe', 'kNN', ...epsList.map((e) => `${attack} ε = ${e}`), ...rlHead, 'train time', 'eval time'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  const cell = (v: number | undefined) => (v === undefined ? '–' : pct(v));
  for (const r of rows) {
    const robust = epsList.map((e) => r.eval.robust.find((x) => x.eps === e)?.accuracy);
    const rlCells = rl ? [cell(r.eval.robustLinear?.clean), cell(r.eval.robustLinear?.robust)] : [];
    lines.push(`| ${[r.name, pct(r.eval.linearAccuracy), pct(r.eval.knnAccuracy), ...robust.map(cell), ...rlCells, minutes(r.trainSeconds), minutes(r.eval.seconds)].join(' | ')} |`);
  }
  return lines.join('\n');
}

export async function compareCommand(a: Parsed): Promise<void> {
  const out = a.out as string;
  checkOutDir(out, '--out', 'compare');
  const given = a.methods as string[] | undefined;
  if (given && new Set(given).size !== given.length) throw new UsageError(`--methods lists a run twice: ${given.join(',')}`, 'compare');
  const beta = a.regularizer as number;
  const s = evalSettings('compare', a, a.seed as number);
  const report = await startBackend(a.backend as string); // before the data: audio features are computed on the device
  const ds = await loadDataset(a.data as string, { trainLimit: a['train-limit'] as number | undefined, testLimit: a['test-limit'] as number | undefined });
  const names = given ?? defaultRuns(ds.domain);
  // Every run's configuration first, so a method that does not fit the data, or a flag no run takes, fails before any training.
  const configs = names.map((name) => {
    const [method, reg] = name === 'random' ? [baselineMethod(ds.domain)] : name.split('+');
    return { name, method, cfg: runConfig(a, ssl.methodRecord(method), reg ? beta : 0, ds, 'compare') };
  });
  const users = configs.flatMap(({ name, cfg }) => (name === 'random' ? [] : [ssl.methodRecord(cfg.method), ...(cfg.regularizer > 0 ? [REGULARIZER_SOURCE] : [])]));
  refuseUnused('compare', a, methodSources(), users, `the runs ${names.join(', ')}`);
  checkBatch(a.batch as number, ds, 'compare');
  const log = s.log;
  log(`wgrad compare: ${names.join(', ')} on ${report}`);
  log(`data: ${ds.description}`);
  const release = openOutDir(out, '--out', 'compare', log); // locked while this process writes there (each run's directory too)
  try {
    await compareRuns(a, out, configs, ds, s);
  } finally {
    release();
  }
}

async function compareRuns(a: Parsed, out: string, configs: { name: string; method: string; cfg: RunConfig }[], ds: HostDataset, s: EvalSettings): Promise<void> {
  const { log } = s;
  const beta = a.regularizer as number;
  const rows: Row[] = [];
  const t0 = performance.now();
  for (const { name, method, cfg } of configs) {
    if (name === 'random') {
      log(`\n=== the untrained encoder (${encoderLabel(cfg)}, seed ${cfg.seed}): a baseline for the evaluation`);
      const run = freshRun(cfg, ds);
      try {
        rows.push({ name: 'untrained encoder (baseline)', method: 'none', regularizer: 0, trainSeconds: 0, eval: (await evaluateRun(run, ds, s)).result, history: [], dir: '' });
      } finally {
        dispose(run);
      }
      writeResults(out, rows, s.eps, ds.description, ds.domain, configs, a, (performance.now() - t0) / 1000);
      continue;
    }
    const dir = join(out, 'runs', name.replace('+', '-'));
    log(`\n=== ${name} (${encoderLabel(cfg)}, ${cfg.optimizer} lr ${cfg.lr}, ${cfg.epochs} epochs, batch ${cfg.batch}) → ${dir}`);
    if (!a.resume && existsSync(join(dir, CHECKPOINT_FILE))) {
      throw new UsageError(`${join(dir, CHECKPOINT_FILE)} exists: pass --resume to continue or reuse it, or choose another --out`, 'compare');
    }
    const tTrain = performance.now();
    const releaseRun = openOutDir(dir, '--out', 'compare', log);
    const run = await train(cfg, ds, dir, !!a.resume).catch((e) => { releaseRun(); throw e; });
    try {
      const trainSeconds = run.history.reduce((acc, h) => acc + h.seconds, 0) || (performance.now() - tTrain) / 1000;
      const result = await runEvaluation(run, dir, ds, s, !!a.resume);
      rows.push({ name: name.replace('+reg', ` + regularizer (β = ${beta})`), method, regularizer: cfg.regularizer, trainSeconds, eval: result, history: run.history, dir });
    } finally {
      dispose(run);
      releaseRun();
    }
    writeResults(out, rows, s.eps, ds.description, ds.domain, configs, a, (performance.now() - t0) / 1000);
  }
  process.stdout.write(`${markdownTable(rows, s.eps)}\n`);
  log(`wrote ${join(out, 'results.md')}, results.json, accuracy-vs-eps.svg and loss.svg`);
}

const encoderLabel = (cfg: RunConfig) => (cfg.encoder === 'mlp' ? `mlp encoder, hidden ${cfg.hidden?.join(',')}` : `${cfg.encoder} encoder, width ${cfg.width}`);

/** What each run trained on, runs grouped: the image augmentation with its crop scale (AUGMENT_GROUP's option), or none. */
function viewsLine(configs: readonly { name: string; cfg: RunConfig }[]): string {
  const key: keyof ssl.AugmentSettings = 'cropScale';
  const groups = new Map<string, string[]>();
  for (const { name, cfg } of configs.filter((c) => c.name !== 'random')) {
    const scale = cfg.options[key];
    const text = scale === undefined ? 'no augmentation' : `augmentation (crop scale [${scale}, 1])`;
    groups.set(text, [...(groups.get(text) ?? []), name]);
  }
  return [...groups].map(([text, names]) => `${names.join(', ')}: ${text}`).join('; ');
}

/** Writes results.md, results.json and the two charts of a comparison (after every run, so an interrupted one leaves its table so far). */
function writeResults(out: string, rows: Row[], epsList: number[], data: string, domain: Domain, configs: readonly { name: string; cfg: RunConfig }[], a: Parsed, seconds: number): void {
  const settings = Object.fromEntries(Object.entries(a).filter(([k]) => k !== 'help'));
  const image = domain === 'image';
  const cfg = configs[0].cfg;
  const units = image ? 'L∞, pixels in [0, 1]' : 'L∞ in standard deviations of the standardized features, no box';
  const md = [
    `# wgrad compare`, '',
    `Data: ${data}. The same ${encoderLabel(cfg)}, ${a.epochs} epochs, batch ${a.batch} and seed ${a.seed} for every run. Views: ${viewsLine(configs)}.`,
    `Robust accuracy: encoder + linear head under ${rows[0]?.eval.attack ?? ''} (${units}) on the first ${rows[0]?.eval.robustTotal ?? ''} test examples (white box, random start).`,
    `Total wall time ${minutes(seconds)}.`, '',
    markdownTable(rows, epsList), '',
  ].join('\n');
  writeFileSync(join(out, 'results.md'), md);
  writeFileSync(join(out, 'results.json'), `${JSON.stringify({ data, domain, settings, seconds, rows }, null, 2)}\n`);
  const eps = [0, ...epsList.filter((e) => e > 0)];
  writeFileSync(join(out, 'accuracy-vs-eps.svg'), lineChart({
    title: `Robust accuracy of encoder + linear head (${rows[0]?.eval.attack ?? ''})`, subtitle: data.split(':')[0],
    xLabel: image ? 'ε (L∞)' : 'ε (L∞, standardized units)', yLabel: 'accuracy (%)', yRange: [0, 100],
    series: rows.map((r, i) => ({ name: r.name, color: PALETTE[i % PALETTE.length], x: eps, y: eps.map((e) => 100 * (r.eval.robust.find((x) => x.eps === e)?.accuracy ?? Number.NaN)) })),
  }));
  writeFileSync(join(out, 'loss.svg'), compareLossChart(rows.flatMap((r, i) => (r.dir ? [{ name: r.name, dir: r.dir, color: PALETTE[i % PALETTE.length] }] : [])), 'Training loss per step'));
}

/**
 * `wgrad eval --checkpoint DIR`: linear probe, kNN, robust accuracy of encoder + linear head and
 * the accuracy-versus-ε chart of a run written by `wgrad train`. Writes DIR/eval/eval.json and
 * DIR/eval/accuracy-vs-eps.svg (or under --out), and prints a summary.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../io/node.js';
import { sweepChart } from '../eval/sweep.js';
import { dispose } from '../tensor/scope.js';
import { type Flags, type Parsed, UsageError } from './args.js';
import { ATTACK_FLAGS, attackSettings, robustAttackList } from './attack-flags.js';
import { BACKEND_FLAG, startBackend } from './backend.js';
import { loadDataset } from './data.js';
import { evaluateRun, type EvalSettings, type ProbeScaling } from './evaluate.js';
import { loadRun } from './run.js';
import { checkInputShape } from './run-check.js';
import { checkOutDir, openOutDir } from './run-dir.js';

/** Flags shared by `eval` and `compare` (how an encoder is evaluated). */
export const EVAL_SETTING_FLAGS: Flags = {
  ...ATTACK_FLAGS,
  'eval-eps': { kind: 'numbers', min: 0, default: '0.05,0.1', value: 'E1,E2', help: 'L∞ radii of the robust accuracy and the accuracy-vs-ε chart: pixels in [0, 1] on images (box [0, 1]); standard deviations of the standardized features on tables and log-mels (no box)' },
  'robust-attacks': { kind: 'list', value: 'A:STEPS,…', help: 'robust accuracy as the per-example worst case of these attacks, each one\'s numbers beside it (the study\'s: pgd:20,apgd:100); replaces --attack there (--steps stays the robust linear evaluation\'s PGD)' },
  'robust-cascade': { kind: 'boolean', help: 'with --robust-attacks: run each attack only on the examples the ones before it did not break (AutoAttack\'s order; the study\'s): the same worst case at the survivors\' cost, each attack\'s column then the accuracy after it and those before it' },
  'robust-limit': { kind: 'int', min: 1, default: 500, help: 'robust accuracy on the first N test examples' },
  'probe-epochs': { kind: 'int', min: 1, default: 30, help: 'linear-head training epochs (SGD, step decay)' },
  'probe-scaling': { kind: 'string', choices: ['global', 'per-feature', 'none'], default: 'global', help: 'feature scaling before the linear head, folded into it: centre + one σ, per-feature σ, or none (RoCL\'s protocol)' },
  'probe-select': { kind: 'string', choices: ['default', 'val'], help: 'the linear probe\'s lr and weight decay: its defaults, or chosen on a held-out stratified tenth of the training set from a 3 × 3 grid, then refitted on all of it (the study\'s)' },
  'knn-k': { kind: 'int', min: 1, help: 'neighbours of the weighted kNN (T = 0.5); default min(200, round(√N)) for a bank of N training examples (docs/methods.md#weighted-knn)' },
  'robust-linear': { kind: 'int', min: 0, default: 0, value: 'EPOCHS', help: 'also RoCL\'s robust linear evaluation: a head trained this many epochs on PGD-10 examples at the largest ε (0: off; costly)' },
};

export const EVAL_FLAGS: Flags = {
  checkpoint: { kind: 'string', value: 'DIR', help: 'run directory written by wgrad train (required)' },
  ...EVAL_SETTING_FLAGS,
  eps: { kind: 'numbers', min: 0, aliasOf: 'eval-eps', value: 'E1,E2', help: 'another name of --eval-eps (give one of them)' },
  data: { kind: 'string', value: 'subset|fashion-mnist|DIR|FILE.csv', help: 'evaluation data (default: the run\'s; must be of the run\'s domain and example shape)' },
  'train-limit': { kind: 'int', min: 1, help: 'N training examples for the probes, chosen as train\'s --train-limit (default: the run\'s)' },
  'test-limit': { kind: 'int', min: 1, help: 'N test examples, chosen as train\'s --test-limit (default: the run\'s)' },
  out: { kind: 'string', value: 'DIR', help: 'where to write eval.json and the chart (default <checkpoint>/eval)' },
  backend: BACKEND_FLAG,
};

/** `eval`'s flags (a function, as the other commands'). */
export const evalFlags = (): Flags => EVAL_FLAGS;

/** --robust-cascade: only beside --robust-attacks (one attack has nothing to cascade into); undefined when off, so older evaluations stay reusable. */
function cascadeFlag(command: string, a: Parsed): true | undefined {
  if (!a['robust-cascade']) return undefined;
  if (!a['robust-attacks']) throw new UsageError('--robust-cascade orders the attacks of --robust-attacks: give --robust-attacks too (e.g. pgd:20,apgd:100)', command);
  return true;
}

export function evalSettings(command: string, a: Parsed, seed: number): EvalSettings {
  return {
    ...attackSettings(command, a), attacks: robustAttackList(command, a['robust-attacks'] as string[] | undefined), robustCascade: cascadeFlag(command, a), eps: a['eval-eps'] as number[], robustLimit: a['robust-limit'] as number,
    probeEpochs: a['probe-epochs'] as number, probeScaling: a['probe-scaling'] as ProbeScaling, probeSelect: a['probe-select'] === 'val' ? 'val' : undefined, knnK: a['knn-k'] as number | undefined, robustLinearEpochs: a['robust-linear'] as number, seed, log: (l) => process.stderr.write(`${l}\n`),
  };
}

export async function evalCommand(a: Parsed): Promise<void> {
  if (a.checkpoint === undefined) throw new UsageError('--checkpoint DIR is required (a run directory written by wgrad train)', 'eval');
  const dir = a.checkpoint as string;
  const out = (a.out as string | undefined) ?? join(dir, 'eval');
  const outFlag = a.out === undefined ? '--out (default <checkpoint>/eval)' : '--out';
  checkOutDir(out, outFlag, 'eval'); // before any work: an evaluation that cannot be written is lost
  attackSettings('eval', a); // the attack's flags too
  const report = await startBackend(a.backend as string);
  const run = await loadRun(dir);
  let release: (() => void) | undefined;
  try {
    const cfg = run.config;
    const s = evalSettings('eval', a, cfg.seed);
    const ds = await loadDataset((a.data as string | undefined) ?? cfg.data, {
      trainLimit: (a['train-limit'] as number | undefined) ?? cfg.trainLimit, testLimit: (a['test-limit'] as number | undefined) ?? cfg.testLimit,
      preprocessing: run.preprocessing, // training's standardization and band statistics, not refitted on this data
    });
    const want = cfg.domain ?? 'image';
    if (ds.domain !== want) throw new UsageError(`--data ${a.data as string} is a ${ds.domain} dataset, but the run in ${dir} was trained on ${want} data (${cfg.data})`, 'eval');
    checkInputShape(run, ds, dir, 'eval');
    release = openOutDir(out, outFlag, 'eval', s.log);
    s.log(`wgrad eval ${dir} (${cfg.method}${cfg.regularizer > 0 ? ` + regularizer β = ${cfg.regularizer}` : ''}, ${run.epochsDone} epochs) on ${report}`);
    s.log(`data: ${ds.description}`);
    const { result, sweep } = await evaluateRun(run, ds, s);
    const name = `${cfg.method}${cfg.regularizer > 0 ? ' + reg' : ''}`;
    await writeFileAtomic(join(out, 'eval.json'), `${JSON.stringify({ checkpoint: dir, method: cfg.method, regularizer: cfg.regularizer, epochs: run.epochsDone, data: ds.description, ...result }, null, 2)}\n`);
    await writeFileAtomic(join(out, 'accuracy-vs-eps.svg'), sweepChart({ ...sweep, series: sweep.series.map((x) => ({ ...x, name })) }, {
      title: `${name}: encoder + linear head under ${result.attack}`, subtitle: `first ${result.robustTotal} test images; ${ds.description.split(':')[0]}`,
    }), 'eval');
    const lines = [
      `| metric | value |`, `|---|---|`,
      `| linear probe (clean) | ${(100 * result.linearAccuracy).toFixed(2)} % |`,
      `| kNN (k = ${result.knnK}) | ${(100 * result.knnAccuracy).toFixed(2)} % |`,
      ...(result.knnProjectionAccuracy !== undefined ? [`| kNN on the normalized projection (k = ${result.knnK}) | ${(100 * result.knnProjectionAccuracy).toFixed(2)} % |`] : []),
      ...result.robust.map((r) => `| ${r.eps === 0 ? 'clean, same examples' : `${result.attack}, ε = ${r.eps}`} (first ${result.robustTotal}) | ${(100 * r.accuracy).toFixed(2)} % |`),
      ...(result.robustLinear ? [
        `| robust linear head (PGD-10 training, ε = ${result.robustLinear.eps}): clean | ${(100 * result.robustLinear.clean).toFixed(2)} % |`,
        `| robust linear head: ${result.attack}, ε = ${result.robustLinear.eps} (first ${result.robustLinear.total}) | ${(100 * result.robustLinear.robust).toFixed(2)} % |`,
      ] : []),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    s.log(`wrote ${join(out, 'eval.json')} and ${join(out, 'accuracy-vs-eps.svg')} (${result.seconds.toFixed(0)} s)`);
  } finally {
    dispose(run);
    release?.();
  }
}

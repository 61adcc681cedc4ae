/**
 * Evaluation of a trained encoder, as `wgrad eval` and `wgrad compare` run it (src/eval does the
 * work): features of the frozen encoder (eval mode; IDAA's clean BN branch) → a linear head trained
 * on the training features (src/eval's default: SGD, step decay) → clean test accuracy; weighted kNN
 * on the features (k = 200, T = 0.5); robust accuracy of encoder + linear head under a white-box
 * attack at each ε (PGD-20, random start, α = ε/10 by default, as RoCL's evaluation), on the first
 * `robustLimit` test images; the accuracy-versus-ε curve is that same sweep, with ε = 0 added.
 * The pre-registered study's settings (docs/results.md): `attacks` makes the robust accuracy the
 * per-image worst case of several attacks (PGD-20 and APGD-CE-100), each one's numbers kept beside
 * it; `probeSelect: 'val'` chooses the probe's learning rate and weight decay on a held-out tenth of
 * the training set, then refits on all of it.
 * The reported numbers are the last epoch's (IDAA's code reports the best test epoch; this does not).
 */
import { WgradError } from '../core/backend.js';
import * as evaluation from '../eval/index.js';
import * as linear from '../nn/linear.js';
import { foldIn, key as prngKey } from '../random/random.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import * as ssl from '../ssl/index.js';
import { batchTensors, type HostDataset, type HostSplit } from './data.js';

export type ProbeScaling = NonNullable<evaluation.LinearHeadOptions['standardize']>;
import { domainBox, type RunCheckpoint } from './run.js';

/** An attack record's name (src/eval/attacks.ts: pgd, apgd, fgsm). */
export type AttackName = string;

export interface EvalSettings {
  attack: AttackName;
  /** Radii of the robust accuracy (ε = 0 is the clean accuracy on the same examples); empty: no robust accuracy at all. */
  eps: number[];
  /** Attack iterations (PGD, APGD; default 20). */
  steps: number;
  /** Robust accuracy as the per-example worst case of these attacks (e.g. PGD-20 and APGD-CE-100) instead of `attack` alone. */
  attacks?: { attack: AttackName; steps: number }[];
  /** With `attacks`: each attack only on the examples the ones before it did not break (src/eval worstCaseVsEps's cascade). */
  robustCascade?: boolean;
  /** Robust accuracy on the first N test images. */
  robustLimit: number;
  /** Linear-head training epochs. */
  probeEpochs: number;
  /** Feature scaling of the linear probe (evaluation.trainLinearHead's `standardize`). */
  probeScaling?: ProbeScaling;
  /** 'val': the probe's lr and weight decay chosen on a held-out tenth of the training set (src/eval/probe-select.ts); default: the probe's defaults. */
  probeSelect?: 'default' | 'val';
  /** kNN neighbours (default: the library's rule, min(200, round(√N)) for N training examples). */
  knnK?: number;
  /** Also RoCL's robust linear evaluation: a head trained on PGD-10 examples (ε = the largest ε), this many epochs (0: off). */
  robustLinearEpochs: number;
  seed: number;
  log: (line: string) => void;
}

export interface EvalResult {
  linearAccuracy: number;
  linearTrainAccuracy: number;
  knnAccuracy: number;
  /** The k the kNN used. */
  knnK: number;
  /** kNN on the normalized projection z = g(f(x)) (IDAA's protocol), for runs with a projection head. */
  knnProjectionAccuracy?: number;
  attack: string;
  robustTotal: number;
  /** ε → accuracy of encoder + linear head on the first robustTotal test images (under several attacks: the per-image worst case). */
  robust: { eps: number; accuracy: number }[];
  /** Under several attacks (EvalSettings.attacks): each attack's own accuracy at each ε, on the same images. */
  robustAttacks?: { label: string; robust: { eps: number; accuracy: number }[] }[];
  /** A supervised reference's own classifier (its projection head) on the full test set. */
  classifierAccuracy?: number;
  /** The probe's hyperparameters chosen on the validation split (probeSelect 'val'). */
  probeSelection?: evaluation.ProbeSelection;
  /** RoCL's robust linear evaluation, when asked for. */
  robustLinear?: { eps: number; clean: number; robust: number; total: number };
  seconds: number;
}

/** A host split as a BatchSource for src/eval (batches uploaded on demand). */
export function batchSource(split: HostSplit, shape: HostDataset['shape']): evaluation.BatchSource {
  return {
    size: split.n,
    batch: (start, stop) => {
      const { x, y } = batchTensors(split, shape, Int32Array.from({ length: stop - start }, (_, i) => start + i));
      return { images: x, labels: y };
    },
  };
}

/** The frozen encoder of a run: x → features (eval mode; the clean branch for IDAA). */
export function frozenEncoder(run: RunCheckpoint): (x: Tensor) => Tensor {
  const branch = run.modelConfig.bnBranches ? 'clean' : undefined;
  return ssl.evalFeatures(run.params, run.state.model, branch);
}

/** The attack record called `name` (src/eval/attacks.ts). */
function attackNamed(name: AttackName): evaluation.AttackRecord {
  const r = evaluation.attackRecord(name);
  if (!r) throw new WgradError('eval', `unknown attack ${JSON.stringify(name)}; expected one of ${evaluation.ATTACKS.map((a) => a.name).join(', ')}`);
  return r;
}

/** The attack at radius ε, inside `box` ([0, 1] for images; null: none, for standardized tables and log-mels). */
export function attackFor(name: AttackName, model: (x: Tensor) => Tensor, steps: number, box: readonly [number, number] | null = [0, 1]) {
  return attackNamed(name).at(model, { steps }, box);
}

export const attackLabel = (name: AttackName, steps: number) => attackNamed(name).label({ steps });

export async function evaluateRun(run: RunCheckpoint, ds: HostDataset, s: EvalSettings): Promise<{ result: EvalResult; sweep: evaluation.SweepResult }> {
  const supervised = ssl.findMethod(run.config.method)?.supervised;
  // An SSL run's kNN also runs on its normalized projection (IDAA's protocol; the head has no BN).
  const projection = supervised ? undefined : (h: Tensor) => ssl.model.project(run.params, h);
  const r = await evaluateEncoder(frozenEncoder(run), ds, s, projection);
  if (!supervised) return r;
  // A supervised reference's own classifier (encoder + its head, eval mode) on the full test set, beside the probe.
  const classifier = (await evaluation.accuracy(ssl.evalEmbedding(run.params, run.state.model), batchSource(ds.test, ds.shape))).accuracy;
  s.log(`the trained classifier: ${(100 * classifier).toFixed(2)} %`);
  return { ...r, result: { ...r.result, classifierAccuracy: classifier } };
}

/** The evaluation of a frozen encoder x → features (see the module comment). */
export async function evaluateEncoder(encoder: (x: Tensor) => Tensor, ds: HostDataset, s: EvalSettings, projection?: (features: Tensor) => Tensor): Promise<{ result: EvalResult; sweep: evaluation.SweepResult }> {
  const t0 = performance.now();
  const train = batchSource(ds.train, ds.shape), test = batchSource(ds.test, ds.shape);
  const progress = { log: s.log, every: 15 };
  s.log(`features of ${ds.train.n} training and ${ds.test.n} test examples`);
  const tr = await evaluation.extractFeatures(encoder, train, { progress: { ...progress, label: 'features (train)' } });
  const te = await evaluation.extractFeatures(encoder, test, { progress: { ...progress, label: 'features (test)' } });
  let head: linear.LinearParams | undefined;
  try {
    const classes = Math.max(ds.classes, 2);
    const probe = await fitProbe(tr, classes, s);
    head = probe.head;
    const h = head;
    const onFeatures = (x: Tensor) => linear.apply(h, x);
    const linearTrainAccuracy = (await evaluation.accuracy(onFeatures, { images: tr.features, labels: tr.labels })).accuracy;
    const linearAccuracy = (await evaluation.accuracy(onFeatures, { images: te.features, labels: te.labels })).accuracy;
    const knn = await evaluation.knnAccuracy(tr, te, { classes, k: s.knnK, temperature: 0.5 });
    const knnProjection = projection && (await evaluation.knnAccuracy(tr, te, { classes, k: s.knnK, temperature: 0.5, features: 'projection', projection })).accuracy;
    s.log(`linear probe ${(100 * linearAccuracy).toFixed(2)} % (train ${(100 * linearTrainAccuracy).toFixed(2)} %), kNN (k = ${knn.k}) ${(100 * knn.accuracy).toFixed(2)} %${knnProjection === undefined ? '' : `, on the projection ${(100 * knnProjection).toFixed(2)} %`}`);
    dispose([tr, te]);
    const model = (x: Tensor) => tidy(() => linear.apply(h, encoder(x)));
    const box = domainBox(ds.domain);
    // No radii (a compare row outside --robust-rows): the clean metrics only.
    const robust = s.eps.length ? await robustAccuracy(model, test, s, box) : { result: { attack: 'none', robustTotal: 0, robust: [] }, sweep: { eps: [], total: 0, series: [] } };
    const result: EvalResult = {
      linearAccuracy, linearTrainAccuracy, knnAccuracy: knn.accuracy, knnK: knn.k, ...(knnProjection !== undefined && { knnProjectionAccuracy: knnProjection }), ...robust.result, ...(probe.selection && { probeSelection: probe.selection }),
      robustLinear: s.robustLinearEpochs > 0 ? await robustLinear(encoder, train, test, classes, s, box) : undefined,
      seconds: (performance.now() - t0) / 1000,
    };
    return { result, sweep: robust.sweep };
  } finally {
    dispose([tr, te, head]);
  }
}

/** The linear probe's head: the default schedule, or (probeSelect 'val') lr and weight decay chosen on a held-out tenth of the training set. */
async function fitProbe(tr: { features: Tensor; labels: Tensor }, classes: number, s: EvalSettings): Promise<{ head: linear.LinearParams; selection?: evaluation.ProbeSelection }> {
  const o = { classes, epochs: s.probeEpochs, standardize: s.probeScaling, key: prngKey(s.seed), progress: { log: s.log, every: 15, label: 'linear head' } };
  if (s.probeSelect !== 'val') return { head: await evaluation.trainLinearHead(tr.features, tr.labels, o) };
  const r = await evaluation.selectLinearHead(tr.features, tr.labels, { ...o, progress: undefined, splitKey: foldIn(prngKey(s.seed), 3) });
  s.log(`linear probe chosen on ${r.selection.valSize} held-out training examples: lr ${r.selection.lr}, weight decay ${r.selection.weightDecay} (validation ${(100 * r.selection.valAccuracy).toFixed(2)} %)`);
  return r;
}

type RobustPart = Pick<EvalResult, 'attack' | 'robustTotal' | 'robust' | 'robustAttacks'>;

/**
 * Robust accuracy of encoder + head on the first robustLimit test examples at each ε (ε = 0: clean,
 * the same examples): under s.attack, or (s.attacks) the per-example worst case of several attacks
 * with each one's numbers beside it. The attacks' randomness comes from the seed.
 */
async function robustAccuracy(model: (x: Tensor) => Tensor, test: evaluation.BatchSource, s: EvalSettings, box: readonly [number, number] | null): Promise<{ result: RobustPart; sweep: evaluation.SweepResult }> {
  const eps = [0, ...s.eps.filter((e) => e > 0)];
  const opts = { limit: s.robustLimit, key: prngKey(s.seed + 1), progress: { log: s.log, every: 15 }, onPoint: (n: string, e: number, acc: number) => s.log(`  ${n}, ε = ${e}: ${(100 * acc).toFixed(2)} %`) };
  if (!s.attacks?.length) {
    const label = attackLabel(s.attack, s.steps);
    const sweep = await evaluation.accuracyVsEps([{ name: label, model, attack: attackFor(s.attack, model, s.steps, box) }], test, eps, opts);
    return { result: { attack: label, robustTotal: sweep.total, robust: sweep.eps.map((e, i) => ({ eps: e, accuracy: sweep.series[0].accuracy[i] })) }, sweep };
  }
  const attacks = s.attacks.map((a) => ({ name: attackLabel(a.attack, a.steps), attack: attackFor(a.attack, model, a.steps, box) }));
  const names = attacks.map((a) => a.name);
  const label = s.robustCascade ? `worst of ${names.join(' then ')} (cascade)` : `worst of ${names.join(' and ')}`;
  const w = await evaluation.worstCaseVsEps(model, attacks, test, eps, { ...opts, cascade: s.robustCascade });
  // In a cascade each attack's number is the accuracy after it and the ones before it: its label says so.
  if (s.robustCascade) w.attacks.forEach((a, j) => { a.name = `after ${names.slice(0, j + 1).join(' then ')}`; });
  s.log(`  ${label}: ${w.eps.map((e, i) => `ε = ${e}: ${(100 * w.worst[i]).toFixed(2)} %`).join(', ')}`);
  const byEps = (acc: number[]) => w.eps.map((e, i) => ({ eps: e, accuracy: acc[i] }));
  return {
    result: { attack: label, robustTotal: w.total, robust: byEps(w.worst), robustAttacks: w.attacks.map((a) => ({ label: a.name, robust: byEps(a.accuracy) })) },
    sweep: { eps: w.eps, total: w.total, series: [{ name: label, accuracy: w.worst, seconds: [] }, ...w.attacks.map((a) => ({ name: a.name, accuracy: a.accuracy, seconds: [] }))] },
  };
}

/** RoCL's robust linear evaluation (src/eval): the head trained on PGD-10 examples at the largest ε. */
async function robustLinear(encoder: (x: Tensor) => Tensor, train: evaluation.BatchSource, test: evaluation.BatchSource, classes: number, s: EvalSettings, box: readonly [number, number] | null) {
  const eps = Math.max(...s.eps);
  const r = await evaluation.robustLinearEval(encoder, train, test, {
    classes, epochs: s.robustLinearEpochs, key: prngKey(s.seed + 2), evalLimit: s.robustLimit,
    trainAttack: { eps, alpha: eps / 4, steps: 10, box }, evalAttack: { eps, alpha: eps / 10, steps: s.steps, box },
    progress: { log: s.log, every: 15, label: 'robust linear head' },
  });
  dispose(r.head);
  s.log(`robust linear evaluation (ε = ${eps}): clean ${(100 * r.clean.accuracy).toFixed(2)} %, PGD-${s.steps} ${(100 * r.robust.accuracy).toFixed(2)} %`);
  return { eps, clean: r.clean.accuracy, robust: r.robust.accuracy, total: r.robust.total };
}

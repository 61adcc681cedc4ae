/**
 * wgrad.evaluation: clean and robust accuracy over a dataset (with a progress line), feature
 * extraction, linear probes (plain and robust), weighted kNN, accuracy-versus-ε sweeps and a small
 * SVG line-chart writer. Every evaluation refuses non-finite inputs, features and logits, and labels
 * outside [0, classes) (./finite.ts); `checkFiniteTree` refuses non-finite parameters.
 *
 *   const model = (x) => wg.nn.smallCnn.apply(params, x);
 *   const clean = await evaluation.accuracy(model, test, { progress: true });
 *   const pgd20 = (x, y, k) => attacks.pgd(attacks.crossEntropy(model, y), x, k, { eps: 0.1, alpha: 0.01, steps: 20 });
 *   const robust = await evaluation.robustAccuracy(model, test, pgd20);
 */
export {
  type Batch, type BatchSource, type LabeledData, type ProgressOptions, type ProgressSetting,
  datasetSize, progressLine, progressReporter,
} from './data.js';
export {
  accuracy, robustAccuracy, extractFeatures,
  type Model, type Attack, type AccuracyOptions, type AccuracyResult, type ExtractOptions,
} from './accuracy.js';
export {
  trainLinearHead, linearProbe, robustLinearEval,
  type LinearHeadOptions, type LinearProbeOptions, type RobustLinearOptions, type RobustLinearResult,
} from './linear.js';
export { selectLinearHead, PROBE_GRID, type ProbeGridPoint, type ProbeSelection, type ProbeSelectOptions } from './probe-select.js';
export { knnPredict, knnAccuracy, knnDefaultK, type KnnOptions, type KnnFeatures, type FeatureSet } from './knn.js';
export { checkFiniteTree } from './finite.js';
export { accuracyVsEps, worstCaseVsEps, sweepChart, type SweepEntry, type SweepResult, type SweepOptions, type NamedAttack, type WorstCaseResult, type WorstCaseOptions } from './sweep.js';
export { lineChart, barChart, niceTicks, escapeXml, type Series, type LineChartOptions, type BarChartOptions, type BarGroup } from './svg.js';
export { ATTACKS, PGD, APGD, FGSM, attackRecord, type AttackRecord } from './attacks.js';

/**
 * Loss closures for the attacks (the contract is in ./common.ts), and running a BatchNorm model in
 * eval mode inside one.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { softmaxCrossEntropy } from '../losses/classification.js';
import { tensor } from '../tensor/ops/creation.js';
import { notEqual } from '../tensor/ops/elementwise.js';
import { argmax, sum } from '../tensor/ops/reduce.js';
import { dispose } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import type { LossFn } from './common.js';

/** A classifier: inputs [N, ...] → logits [N, C]. */
export type Classifier = (x: Tensor) => Tensor;

/** Labels: an int32 tensor [N], or host integers (checked against the class count on every call). */
export type Labels = Tensor | Int32Array | readonly number[];

/**
 * The cross-entropy of `model` at labels `y`, as an attack loss: `loss` is the sum over the batch
 * (so each example's gradient is its own, unscaled), `perExample` the per-example cross-entropy and
 * `success` the misclassified examples. Labels given on the host are range-checked here; an int32
 * tensor's values cannot be read without a device round trip, so only its dtype and shape are
 * (evaluation's `accuracy` checks their range when it reads its counts back).
 */
export function crossEntropy(model: Classifier, labels: Labels): LossFn {
  const host = labels instanceof Tensor ? undefined : Int32Array.from(labels as ArrayLike<number>);
  if (labels instanceof Tensor && (labels.dtype !== 'int32' || labels.rank !== 1)) {
    throw new WgradError('crossEntropy', `labels must be int32 [N], got ${labels.dtype} ${fmtShape(labels.shape)}`);
  }
  if (host && Array.from(labels as ArrayLike<number>).some((v) => !Number.isInteger(v))) {
    throw new WgradError('crossEntropy', 'labels must be integers');
  }
  return (x: Tensor) => {
    const logits = model(x);
    if (!(logits instanceof Tensor) || logits.rank !== 2 || logits.shape[0] !== x.shape[0]) {
      throw new WgradError('crossEntropy', `the model must map x ${fmtShape(x.shape)} to logits [${x.shape[0]}, C], got ${logits instanceof Tensor ? fmtShape(logits.shape) : typeof logits}`);
    }
    const c = logits.shape[1];
    const y = host ? tensor(checkHostLabels('crossEntropy', host, c, x.shape[0]), { shape: [host.length] }) : (labels as Tensor);
    if (y.shape[0] !== x.shape[0]) throw new WgradError('crossEntropy', `${y.shape[0]} labels for a batch of ${x.shape[0]}`);
    const perExample = softmaxCrossEntropy(logits, y, { reduction: 'none' });
    const success = notEqual(argmax(logits, -1), y);
    const out = { loss: sum(perExample), perExample, success };
    if (host) dispose(y);
    return out;
  };
}

/** Checks host labels: n of them, each in [0, classes). Returns them. */
export function checkHostLabels(op: string, labels: Int32Array, classes: number, n: number): Int32Array {
  if (labels.length !== n) throw new WgradError(op, `${labels.length} labels for a batch of ${n}`);
  const bad = labels.findIndex((v) => v < 0 || v >= classes);
  if (bad >= 0) throw new WgradError(op, `label ${labels[bad]} at index ${bad} is out of range [0, ${classes})`);
  return labels;
}

/**
 * A model with BatchNorm state as a plain function of x in eval mode: calls
 * `apply(params, state, x, { ...opts, training: false })`, drops the (unchanged) state it returns and
 * picks the output (default: the output itself, or its `logits`). Attacks run models this way, as
 * RoCL's does: BatchNorm uses the running statistics, so the attack neither depends on the rest of
 * the batch nor moves the statistics.
 */
export function evalMode<P, S, O, Out>(
  apply: (params: P, state: S, x: Tensor, opts: O & { training: boolean }) => [Out, unknown],
  params: P,
  state: S,
  opts: O = {} as O,
  pick: (out: Out) => Tensor = (out) => (out instanceof Tensor ? out : (out as { logits: Tensor }).logits),
): (x: Tensor) => Tensor {
  return (x) => {
    const [out, newState] = apply(params, state, x, { ...opts, training: false });
    dispose(newState);
    const y = pick(out);
    if (!(y instanceof Tensor)) throw new WgradError('evalMode', 'pick must return a Tensor (the model output has no `logits`: pass pick)');
    return y;
  };
}

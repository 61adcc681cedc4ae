/**
 * What evaluation refuses: non-finite inputs, features, logits or parameters (a diverged run must
 * not pass for a model; a NaN logit row is "classified" by argmax as class 0) and labels outside
 * [0, classes) (kNN would drop them from the vote, a linear head would train on them). The values
 * live on the device, so these are registered as device checks (../attacks/checks.ts) and raised
 * where the evaluation reads its results back, naming the op, the count and the first row.
 */
import { fmtShape } from '../core/shape.js';
import { collectChecks, countNonFinite, deviceCheck, nonFinite, plural } from '../attacks/checks.js';
import { cast, greater, greaterEqual, less, logicalOr } from '../tensor/ops/elementwise.js';
import { stack } from '../tensor/ops/movement.js';
import { argmax, max, min, sum } from '../tensor/ops/reduce.js';
import { treeLeaves } from '../tensor/tree.js';
import type { Tensor } from '../tensor/tensor.js';

/** The number of true elements of bool [N, ...] and the first row holding one (0 when none). */
function countAndFirstRow(bad: Tensor): Tensor[] {
  const perRow = bad.rank <= 1 ? bad : greater(sum(cast(bad, 'int32'), bad.shape.map((_, i) => i).slice(1)), 0);
  return [sum(cast(bad, 'int32')), perRow.rank === 0 ? 0 : argmax(cast(perRow, 'int32'))] as Tensor[];
}

/**
 * Registers: `t` [N, ...] holds no NaN or ±∞. `what` names it in the message ("the images of
 * rows 0–255"); `rowOffset` turns its row index into the dataset's.
 */
export function checkFiniteRows(op: string, what: string, t: Tensor, rowOffset = 0): void {
  deviceCheck(op, () => countAndFirstRow(nonFinite(t)), ([n, row]) =>
    n === 0 ? undefined : `${plural(n, 'non-finite value')} (NaN or ±∞) in ${what} (of ${t.size}), the first in row ${rowOffset + row}`);
}

/**
 * Registers: int32 `labels` [N] lie in [0, classes). `whose` says where classes comes from, `what`
 * names the labels ("the bank's labels").
 */
export function checkLabels(op: string, labels: Tensor, classes: number, rowOffset = 0, whose = 'the class count', what = 'labels'): void {
  deviceCheck(op, () => [...countAndFirstRow(logicalOr(less(labels, 0), greaterEqual(labels, classes))), min(labels), max(labels)], ([n, row, lo, hi]) =>
    n === 0 ? undefined : `${what} must be in [0, ${classes}) (${whose}), got ${lo < 0 ? lo : hi} (${plural(n, 'label')} out of range, the first in row ${rowOffset + row})`);
}

/**
 * Refuses a pytree of parameters (or any tensors) holding NaN or ±∞, e.g. a checkpoint written by a
 * diverged run: the message names `name`, the leaves affected (their paths and shapes) and the
 * counts. Integer and bool leaves are finite by construction and skipped. One read.
 */
export async function checkFiniteTree(op: string, name: string, tree: unknown): Promise<void> {
  const leaves = treeLeaves(tree).filter(([, t]) => t.dtype === 'float32');
  if (leaves.length === 0) return;
  const [, checks] = collectChecks(() => deviceCheck(op, () => stack(leaves.map(([, t]) => countNonFinite(t))), (counts) => {
    const bad = leaves.flatMap(([path, t], i) => (counts[i] > 0 ? [`${path || '(root)'} ${fmtShape(t.shape)}: ${counts[i]} of ${t.size}`] : []));
    if (bad.length === 0) return undefined;
    const listed = bad.slice(0, 4).join('; ') + (bad.length > 4 ? `; and ${bad.length - 4} more` : '');
    return `${name} hold non-finite values (NaN or ±∞) in ${bad.length} of ${plural(leaves.length, 'float32 tensor')} (${listed})`;
  }));
  await checks.verify();
}

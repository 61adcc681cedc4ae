/**
 * The robustness regularizer's R under one normalization that cannot explode: f(x) and f(x + δ) are
 * one train-mode forward of [x; x + δ], so R does not depend on the BatchNorm running statistics.
 * Under the earlier eval-mode reading R divided by the running variances, which fall toward 0 when a
 * channel's features collapse: SimCLR + R then diverged to a NaN loss (the committed subset, epoch 4;
 * the soak, step 61).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import * as model from '../src/ssl/model.js';
import { regularizerAttack, regularizerTerm } from '../src/ssl/regularizer.js';
import { treeMap } from '../src/tensor/tree.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

describe('the regularizer under BatchNorm', () => {
  it('R is the same whatever the running statistics (a collapsed running variance does not blow it up)', async () => {
    const { params, state } = model.init(wg.random.key(0), { encoder: 'mlp', inputShape: [6], hidden: [8], featureDim: 4, projDim: 4 });
    // Running statistics of a collapsed representation: variances near 0, means off the batch's.
    const collapsed = treeMap(state, (t, path) => (path.endsWith('var') ? wg.full(t.shape, 1e-7) : wg.full(t.shape, 3)));
    const x = wg.random.uniform(wg.random.key(1), [16, 6]);
    const o = { weight: 1, eps: 0.1, steps: 3, box: null };
    const xAdv = regularizerAttack(params, state, x, wg.random.key(2), o);
    const r = await regularizerTerm(params, state, x, xAdv, o).value.item();
    const rCollapsed = await regularizerTerm(params, collapsed, x, xAdv, o).value.item();
    expect(Number.isFinite(r) && r > 0).toBe(true);
    expect(rCollapsed).toBe(r);
    // The attack does not read them either: the same point from the same key.
    const xAdvCollapsed = regularizerAttack(params, collapsed, x, wg.random.key(2), o);
    expect(Array.from(await xAdvCollapsed.data())).toEqual(Array.from(await xAdv.data()));
    // And R stays exactly 0 at δ = 0.
    expect(await regularizerTerm(params, collapsed, x, x, o).value.item()).toBe(0);
    wg.dispose([params, state, collapsed, x, xAdv, xAdvCollapsed]);
  });
});

/**
 * The study's controls (docs/results.md: G2, A3, A4): the regularizer with random δ of the same
 * radius (`perturbation: 'random'`, flag --reg-perturbation), and compare rows that set a method's
 * or the regularizer's options ("aplr:perturbation=zero", "simclr+reg:reg-perturbation=random").
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import * as ssl from '../src/ssl/index.js';
import { applyRow, parseRow, rowLabel, runDir, sharedOptions } from '../src/cli/study-rows.js';
import type { RunConfig } from '../src/cli/run-config.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

const SMALL: ssl.ModelConfig = { imageSize: 8, width: 2, featureDim: 8, projHidden: 8, projDim: 4 };

describe('the regularizer with random δ (the control of G2)', () => {
  it('draws δ uniform in the same L∞ ball, inside the box, whatever the encoder; the worst case moves the features more', async () => {
    const { params, state } = ssl.model.init(wg.random.key(1), SMALL);
    const other = ssl.model.init(wg.random.key(2), SMALL);
    const x = wg.random.uniform(wg.random.key(3), [6, 1, 8, 8]);
    const k = wg.random.key(4);
    const random = { weight: 1, eps: 0.1, steps: 3, perturbation: 'random' as const };
    const xr = ssl.regularizerAttack(params, state, x, k, random);
    const [xs, xv, xo] = await Promise.all([x.data(), xr.data(), ssl.regularizerAttack(other.params, other.state, x, k, random).data()]);
    const shifts = Array.from(xv, (v, i) => Math.abs(v - xs[i]));
    expect(Math.max(...shifts)).toBeLessThanOrEqual(0.1 + 1e-6);
    expect(shifts.filter((s) => s > 0.01).length).toBeGreaterThan(xs.length / 2);
    expect(Math.min(...xv) >= 0 && Math.max(...xv) <= 1).toBe(true);
    expect(Array.from(xo)).toEqual(Array.from(xv)); // no ascent: the encoder plays no part
    const worst = ssl.regularizerAttack(params, state, x, k, { ...random, perturbation: 'worst' });
    const r = async (xa: wg.Tensor) => ssl.regularizerTerm(params, state, x, xa, random).value.item();
    expect(await r(worst)).toBeGreaterThan(await r(xr));
  });

  it('is an option of the regularizer group, default worst', () => {
    expect(ssl.REGULARIZER_GROUP.defaults.perturbation).toBe('worst');
    expect(ssl.REGULARIZER_GROUP.flags.find((f) => f.flag === 'reg-perturbation')?.spec.choices).toEqual(['worst', 'random']);
    expect(ssl.regularizerOptions({ ...ssl.REGULARIZER_GROUP.defaults, perturbation: 'random' }, 1, [0, 1]).perturbation).toBe('random');
  });
});

describe('compare rows with options set', () => {
  const cfg = (method: string, reg: boolean): RunConfig => ({
    method, regularizer: reg ? 1 : 0, data: 'subset', epochs: 1, batch: 8, seed: 0, encoder: 'cnn', width: 2, projDim: 4, optimizer: 'adam', lr: 1e-3, warmupEpochs: 0,
    options: ssl.methodOptions(ssl.methodRecord(method)), regularizerOptions: reg ? { ...ssl.REGULARIZER_GROUP.defaults } : undefined,
  });

  it('set the method\'s option by key or flag, or the regularizer\'s, and are labelled and placed by name', () => {
    const zero = parseRow('aplr:perturbation=zero');
    expect(applyRow(cfg('aplr', false), zero).options.perturbation).toBe('zero');
    expect(applyRow(cfg('aplr', false), parseRow('aplr:aplr-perturbation=random:eps=0.2')).options).toMatchObject({ perturbation: 'random', eps: 0.2 });
    const g2 = parseRow('simclr+reg:reg-perturbation=random');
    const c = applyRow(cfg('simclr', true), g2);
    expect(c.regularizerOptions?.perturbation).toBe('random');
    expect(c.options).toEqual(cfg('simclr', true).options);
    expect(rowLabel(zero, 1)).toBe('aplr (perturbation = zero)');
    expect(rowLabel(g2, 0.5)).toBe('simclr + regularizer (β = 0.5) (regularizer perturbation = random)');
    expect(runDir('out', 'simclr+reg:reg-perturbation=random', 2, true)).toBe('out/runs/simclr-reg.reg-perturbation-random/seed-2');
    expect(runDir('out', 'simclr+reg', 0, false)).toBe('out/runs/simclr-reg');
  });

  it('--method-options sets a method\'s knob on all its rows without renaming them (the hypotheses name rows)', () => {
    const rows = ['aplr', 'aplr:perturbation=zero', 'noise', 'simclr+reg', 'simclr'].map((r) => parseRow(r));
    const shared = sharedOptions(['aplr:eps=0.05', 'simclr+reg:reg-steps=2'], rows);
    const zero = applyRow(cfg('aplr', false), rows[1], shared(rows[1]));
    expect(zero.options).toMatchObject({ eps: 0.05, perturbation: 'zero' });
    expect(applyRow(cfg('aplr', false), parseRow('aplr:eps=0.2'), shared(rows[0])).options.eps).toBe(0.2); // the row's own option wins
    expect(shared(rows[2])).toEqual([]);
    expect(applyRow(cfg('simclr', true), rows[3], shared(rows[3])).regularizerOptions?.steps).toBe(2);
    expect(shared(rows[4])).toEqual([]); // "+reg" options only on the +reg rows
    expect(rowLabel(rows[1], 1)).toBe('aplr (perturbation = zero)');
    expect(() => sharedOptions(['rocl:eps=0.1'], rows)).toThrow(/--method-options rocl:eps=0.1: no row of --methods is rocl/);
    expect(() => sharedOptions(['aplr'], rows)).toThrow(/expected METHOD\[\+reg\]:option=value/);
    expect(() => sharedOptions(['aplr:eps=-1'], rows)).toThrow(/--method-options aplr:eps=-1: eps = -1: must be ≥ 0/);
  });
});

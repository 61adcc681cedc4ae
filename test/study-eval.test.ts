/**
 * The study's evaluation (docs/results.md, metrics): robust accuracy as the per-example worst case
 * of several attacks (src/eval worstCaseVsEps, on accuracy's per-example hits), the linear probe's
 * hyperparameters chosen on a held-out stratified tenth of the training set (selectLinearHead), and
 * both through `wgrad compare --robust-attacks … --probe-select val`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import * as evaluation from '../src/eval/index.js';
import { wgrad, writeIdx } from './helpers/cli.js';

let dir: string;
beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = mkdtempSync(join(tmpdir(), 'wgrad-study-eval-'));
  writeIdx(join(dir, 'data'), 16);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('robust accuracy as the per-example worst case', () => {
  // Two classes; the model reads the logits off x [N, 2]; labels 0. An "attack" swaps the logits of chosen rows.
  const n = 7;
  const x = () => wg.tensor(Array.from({ length: n }, (_, i) => (i === 6 ? [0, 1] : [1, 0])).flat(), { shape: [n, 2] });
  const y = () => wg.tensor(new Int32Array(n), { shape: [n], dtype: 'int32' });
  const model = (t: wg.Tensor) => t;
  /** An attack that swaps the logits of rows `rows` of the whole set (batches come in order: it counts the rows it has seen). */
  const flipping = (rows: number[]) => (eps: number): evaluation.Attack => {
    let offset = 0;
    return (xb) => wg.tidy(() => {
      const m = xb.shape[0];
      const mask = wg.tensor(Array.from({ length: m }, (_, i) => (eps > 0 && rows.includes(offset + i) ? 1 : 0)), { shape: [m, 1] });
      offset += m;
      return wg.add(wg.mul(xb, wg.sub(1, mask)), wg.mul(wg.flip(xb, [1]), mask));
    });
  };

  it('counts an example as robust only if every attack fails on it; each attack\'s numbers beside it', async () => {
    const data = { images: x(), labels: y() };
    const attacks = [{ name: 'A', attack: flipping([0, 1]) }, { name: 'B', attack: flipping([1, 2, 3]) }];
    const r = await evaluation.worstCaseVsEps(model, attacks, data, [0, 0.1], { batchSize: 2 });
    expect(r.total).toBe(7);
    expect(r.attacks.map((a) => a.accuracy)).toEqual([[6 / 7, 4 / 7], [6 / 7, 3 / 7]]); // row 6 is wrong even clean
    expect(r.worst).toEqual([6 / 7, 2 / 7]); // rows 4 and 5 survive both
    const hits = (await evaluation.accuracy(model, data, { perExample: true, batchSize: 3 })).hits;
    expect(Array.from(hits!)).toEqual([1, 1, 1, 1, 1, 1, 0]);
    await expect(evaluation.worstCaseVsEps(model, [], data, [0])).rejects.toThrow(/at least one attack/);
  });

  it('as a cascade: each attack sees only the survivors of the ones before it; the worst case is the same', async () => {
    // x [N, 3]: two logits and the row's id; an attack flips the logits of the rows whose id it names, wherever they sit in a batch.
    const xs = () => wg.tensor(Array.from({ length: n }, (_, i) => (i === 6 ? [0, 1, i] : [1, 0, i])).flat(), { shape: [n, 3] });
    const logits = (t: wg.Tensor) => wg.slice(t, [{}, { start: 0, stop: 2 }]);
    const seen: Record<string, number> = { A: 0, B: 0 };
    const byId = (name: string, ids: number[]) => (eps: number): evaluation.Attack => (xb) => wg.tidy(() => {
      if (eps > 0) seen[name] += xb.shape[0];
      const id = wg.slice(xb, [{}, { start: 2, stop: 3 }]);
      const mask = ids.reduce<wg.Tensor>((m, k) => wg.add(m, wg.cast(wg.equal(id, k), 'float32')), wg.zerosLike(id));
      const on = eps > 0 ? mask : wg.zerosLike(mask);
      const flipped = wg.concat([wg.flip(logits(xb), [1]), id], 1);
      return wg.add(wg.mul(xb, wg.sub(1, on)), wg.mul(flipped, on));
    });
    const attacks = [{ name: 'A', attack: byId('A', [0, 1]) }, { name: 'B', attack: byId('B', [1, 2, 3]) }];
    const tensors = { images: xs(), labels: y() };
    const source: evaluation.BatchSource = { size: n, batch: (s, e) => ({ images: wg.slice(tensors.images, [{ start: s, stop: e }]), labels: wg.slice(tensors.labels, [{ start: s, stop: e }]) }) };
    for (const data of [tensors, source]) {
      seen.A = 0; seen.B = 0;
      const r = await evaluation.worstCaseVsEps(logits, attacks, data, [0, 0.1], { batchSize: 3, cascade: true });
      expect(r.cascade).toBe(true);
      expect(r.attacks.map((a) => a.accuracy)).toEqual([[6 / 7, 4 / 7], [6 / 7, 2 / 7]]); // after A; after A and B
      expect(r.worst).toEqual([6 / 7, 2 / 7]);
      expect(seen.A).toBe(7);
      expect(seen.B).toBe(4); // rows 2–5: the ones A did not break (row 6 is wrong even clean)
      const plain = await evaluation.worstCaseVsEps(logits, attacks, data, [0.1], { batchSize: 3 });
      expect(plain.worst).toEqual([2 / 7]);
    }
    // nothing left to attack: the later attack does not run
    seen.B = 0;
    const all = await evaluation.worstCaseVsEps(logits, [{ name: 'A', attack: byId('A', [0, 1, 2, 3, 4, 5]) }, attacks[1]], tensors, [0.1], { cascade: true });
    expect(all.worst).toEqual([0]);
    expect(seen.B).toBe(0);
  });
});

describe('the probe chosen on a validation split', () => {
  it('holds out a stratified tenth, scores the grid there, and refits the best point on everything', async () => {
    const m = 60;
    const labels = wg.tensor(Int32Array.from({ length: m }, (_, i) => (i < 40 ? 0 : i < 50 ? 1 : 2)), { shape: [m], dtype: 'int32' });
    const features = wg.tensor(Array.from({ length: m * 3 }, (_, j) => Math.sin(j * 1.7) + (Math.floor(j / 3) < 40 ? (j % 3 === 0 ? 1 : 0) : Math.floor(j / 3) < 50 ? (j % 3 === 1 ? 1 : 0) : (j % 3 === 2 ? 1 : 0))), { shape: [m, 3] });
    const splitKey = wg.random.key(5);
    const grid = [{ lr: 0.001, weightDecay: 0 }, { lr: 0.3, weightDecay: 0 }];
    const { head, selection } = await evaluation.selectLinearHead(features, labels, { classes: 3, epochs: 3, batchSize: 8, key: wg.random.key(1), splitKey, grid });
    expect(selection.valSize).toBe(6);
    expect(selection.grid.map((g) => g.lr)).toEqual([0.001, 0.3]);
    const best = selection.grid.reduce((b, g) => (g.valAccuracy > b.valAccuracy ? g : b));
    expect(selection.lr).toBe(best.lr);
    const refit = await evaluation.trainLinearHead(features, labels, { classes: 3, epochs: 3, batchSize: 8, key: wg.random.key(1), lr: best.lr, weightDecay: best.weightDecay, optimizer: 'sgd' });
    expect(Array.from(await head.w.data())).toEqual(Array.from(await refit.w.data()));
    expect(evaluation.PROBE_GRID).toHaveLength(9);
    await expect(evaluation.selectLinearHead(features, labels, { classes: 3, splitKey, valFraction: 0.001 })).rejects.toThrow(/leaves no validation/);
  });
});

describe('compare with the study\'s evaluation', () => {
  it('--robust-attacks reports the worst case with each attack beside it; --probe-select val records its choice', async () => {
    const out = join(dir, 'cmp');
    const args = ['compare', '--methods', 'random,raw', '--data', join(dir, 'data'), '--batch', '8', '--width', '2', '--proj-dim', '4', '--epochs', '1',
      '--probe-epochs', '1', '--robust-limit', '4', '--knn-k', '3', '--eval-eps', '0.1', '--robust-attacks', 'pgd:1,apgd:2', '--probe-select', 'val', '--out', out];
    const r = await wgrad(...args);
    expect(r.status, r.stderr).toBe(0);
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain('| method | probe, validation split | linear probe | kNN | clean (first 4) | worst of PGD-1 and APGD-CE-2 ε = 0.1 | PGD-1 ε = 0.1 | APGD-CE-2 ε = 0.1 | train time | eval time |');
    const ev = JSON.parse(readFileSync(join(out, 'runs', 'random', 'eval.json'), 'utf8')).result;
    const at = (a: { robust: { eps: number; accuracy: number }[] }) => a.robust.find((p) => p.eps === 0.1)!.accuracy;
    expect(at(ev)).toBeLessThanOrEqual(Math.min(...ev.robustAttacks.map(at)));
    expect(ev.probeSelection.grid).toHaveLength(9);
    expect(ev.probeSelection.valSize).toBe(2);
    // The raw inputs: a row without training or checkpoint, its evaluation cached by what it evaluates.
    expect(md).toMatch(/\| raw inputs \(probe and kNN on the inputs\) \| \d+\.\d\d % \|/);
    const raw = JSON.parse(readFileSync(join(out, 'runs', 'raw', 'eval.json'), 'utf8'));
    expect(raw.provenance.encoder).toBe('raw inputs, flattened');
    const again = await wgrad(...args, '--resume');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr.match(/evaluation reused/g)).toHaveLength(2);
    // --robust-cascade: evaluated again (another setting), the same worst case, the columns say "after".
    const cascade = await wgrad(...args, '--resume', '--robust-cascade');
    expect(cascade.status, cascade.stderr).toBe(0);
    expect(cascade.stderr).toMatch(/made with robustCascade = undefined, not true/);
    const cmd = readFileSync(join(out, 'results.md'), 'utf8');
    expect(cmd).toContain('| clean (first 4) | worst of PGD-1 then APGD-CE-2 (cascade) ε = 0.1 | after PGD-1 ε = 0.1 | after PGD-1 then APGD-CE-2 ε = 0.1 |');
    const cev = JSON.parse(readFileSync(join(out, 'runs', 'random', 'eval.json'), 'utf8')).result;
    expect(at(cev)).toBe(at(cev.robustAttacks[1]));
    expect(at(cev.robustAttacks[0])).toBe(at(ev.robustAttacks[0])); // the first attack runs on every example, as before
    const lone = await wgrad('compare', '--methods', 'random', '--robust-cascade', '--out', join(dir, 'never'));
    expect(lone.status).toBe(2);
    expect(lone.stderr).toMatch(/--robust-cascade orders the attacks of --robust-attacks/);
    for (const [flag, msg] of [['pgd:0', /steps 0: must be ≥ 1/], ['fgsm:3', /fgsm takes no steps/], ['cw:5', /ATTACK one of pgd, apgd, fgsm/]] as const) {
      const bad = await wgrad('compare', '--methods', 'random', '--robust-attacks', flag, '--out', join(dir, 'never'));
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(msg);
    }
  }, 60_000);
});

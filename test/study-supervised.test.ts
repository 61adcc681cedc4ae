/**
 * The study's supervised references (src/ssl/supervised.ts): cross-entropy training and PGD
 * adversarial training of the same encoder, as method records whose step receives the labels and
 * whose projection head is the classifier; run as compare rows and evaluated by the same probe,
 * with the classifier's own accuracy beside it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import * as ssl from '../src/ssl/index.js';
import * as io from '../src/io/node.js';
import { wgrad, writeIdx } from './helpers/cli.js';

let dir: string;
beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = mkdtempSync(join(tmpdir(), 'wgrad-study-sup-'));
  writeIdx(join(dir, 'data'), 16);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SMALL: ssl.ModelConfig = { imageSize: 8, width: 2, featureDim: 8, projHidden: 8, projDim: 3 };

describe('the supervised steps', () => {
  const setup = () => {
    const { params, state } = ssl.model.init(wg.random.key(1), SMALL);
    const optimizer = wg.optim.sgd({ lr: 0.05, momentum: 0.9 });
    const x = wg.random.uniform(wg.random.key(2), [6, 1, 8, 8]);
    const y = wg.tensor(Int32Array.from([0, 1, 2, 0, 1, 2]), { shape: [6], dtype: 'int32' });
    return { params, st: ssl.initState(params, state, optimizer), optimizer, x, y };
  };

  it('cross-entropy of the head\'s logits goes down; the labels are required', async () => {
    const { params, st, optimizer, x, y } = setup();
    const ce = (p: ssl.ModelParams, m: ssl.ModelState) => wg.tidy(() => wg.losses.softmaxCrossEntropy(ssl.evalEmbedding(p, m)(x), y)).item();
    let [p, s] = [params, st];
    const first = ssl.supervisedStep(p, s, x, wg.random.key(3), y, { optimizer });
    expect(await first.parts.crossEntropy.item()).toBeCloseTo(await first.loss.item(), 6);
    for (let i = 0; i < 5; i++) ({ params: p, state: s } = ssl.supervisedStep(p, s, x, wg.random.key(3 + i), y, { optimizer }));
    expect(await ce(p, s.model)).toBeLessThan(await ce(params, st.model));
    expect(() => ssl.supervisedStep(params, st, x, wg.random.key(3), undefined, { optimizer })).toThrow(/needs the batch's labels/);
    expect(() => ssl.supervisedStep(params, st, x, wg.random.key(3), wg.tensor(Int32Array.from([0, 1]), { shape: [2], dtype: 'int32' }), { optimizer })).toThrow(/labels must be int32 \[6\]/);
  });

  it('adversarial training differentiates the cross-entropy at the PGD examples (α = 2.5ε/k, eval-mode attack)', async () => {
    const { params, st, optimizer, x, y } = setup();
    const key = wg.random.key(7);
    const adv = { eps: 0.1, steps: 3, box: [0, 1] as const };
    const r = ssl.supervisedStep(params, st, x, key, y, { optimizer }, adv);
    const [kAttack] = wg.random.split(key);
    const xAdv = wg.attacks.pgd(wg.attacks.crossEntropy(ssl.evalEmbedding(params, st.model), y), x, kAttack, { eps: 0.1, alpha: 0.25 / 3, steps: 3, randomStart: true, box: [0, 1] });
    const [lossAdv] = ssl.supervisedLoss(params, st.model, xAdv, y);
    const [lossClean] = ssl.supervisedLoss(params, st.model, x, y);
    expect(await r.loss.item()).toBeCloseTo(await lossAdv.item(), 5);
    expect(await lossAdv.item()).toBeGreaterThan(await lossClean.item());
  });
});

describe('supervised rows in compare', () => {
  it('train with the labels, the head sized to the classes, and report the classifier beside the probe', async () => {
    const out = join(dir, 'cmp');
    const r = await wgrad('compare', '--methods', 'supervised,supervised-at', '--attack-steps', '2', '--data', join(dir, 'data'), '--batch', '8', '--width', '2', '--proj-dim', '4', '--epochs', '1',
      '--probe-epochs', '1', '--robust-limit', '4', '--steps', '1', '--knn-k', '3', '--eval-eps', '0.1', '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain('| method | linear probe | kNN | own classifier |');
    expect(md).toMatch(/\| supervised-at \| \d+\.\d\d % \| \d+\.\d\d % \| \d+\.\d\d % \|/);
    const ev = JSON.parse(readFileSync(join(out, 'runs', 'supervised-at', 'eval.json'), 'utf8')).result;
    expect(ev.classifierAccuracy).toBeGreaterThanOrEqual(0);
    const { tree } = await io.loadCheckpoint<{ config: { projDim: number; options: object } }>(join(out, 'runs', 'supervised-at', 'checkpoint.safetensors'));
    expect(tree.config.projDim).toBe(3);
    expect(tree.config.options).toEqual({ eps: 0.1, steps: 2 });
    wg.dispose(tree);
    const bad = await wgrad('train', '--method', 'supervised', '--data', join(dir, 'data'), '--proj-dim', '4', '--out', join(dir, 'never'));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--proj-dim 4: --method supervised classifies with its projection head, whose output is the data's 3 classes/);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  }, 60_000);
});

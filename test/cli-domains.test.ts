/**
 * The `wgrad` command line on the three domains (CPU backend, tiny data made here): APLR, noise and
 * mask on a CSV table (MLP encoder) and a WAV directory (CNN on [1, 32, 32] log-mels), APLR on
 * images; the usage error for an image-only method on a table or spectrograms; APLR's checkpoint
 * (generator + its optimizer state) resuming bit for bit; the attack box per domain; eval and
 * compare on a table (the domain's default methods, results.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init } from '../src/init.js';
import * as io from '../src/io/node.js';
import { encodeWav } from '../src/io/wav.js';
import { tensor } from '../src/tensor/ops/creation.js';
import { matmul } from '../src/tensor/ops/linalg.js';
import { treeLeaves } from '../src/tensor/tree.js';
import { dispose } from '../src/tensor/scope.js';
import { key } from '../src/random/random.js';
import { attackFor } from '../src/cli/evaluate.js';
import type { RunConfig } from '../src/cli/run.js';
import { methodContext } from '../src/cli/run-config.js';
import { checkpointLeaves, differing, wgrad, writeIdx } from './helpers/cli.js';

let dir: string, csv: string, wavs: string, idx: string;


/** 40 rows (every 5th a test row), 3 numeric columns with values far outside [0, 1], one categorical, 3 classes. */
function writeCsv(path: string): void {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
  const rows = ['a,b,c,color,label,split'];
  for (let i = 0; i < 40; i++) {
    const y = i % 3;
    rows.push(`${(10 * y + rnd()).toFixed(3)},${(-5 + rnd()).toFixed(3)},${(3 * y - rnd()).toFixed(3)},${['red', 'blue'][i % 2]},${'xyz'[y]},${i % 5 === 0 ? 'test' : 'train'}`);
  }
  writeFileSync(path, `${rows.join('\n')}\n`);
}

/** Two classes of 1 s tones at 8 kHz (500 Hz, 2 kHz), 4 training and 2 test clips each. */
function writeWavs(root: string): void {
  const SR = 8000;
  const tone = (f: number, amp: number) => Float32Array.from({ length: SR }, (_, i) => amp * Math.sin((2 * Math.PI * f * i) / SR));
  [500, 2000].forEach((f, c) => {
    for (const [split, n] of [['train', 4], ['test', 2]] as const) {
      mkdirSync(join(root, split, String(c)), { recursive: true });
      for (let i = 0; i < n; i++) writeFileSync(join(root, split, String(c), `${i}.wav`), encodeWav(tone(f, 0.1 + 0.1 * i), SR));
    }
  });
}


beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = mkdtempSync(join(tmpdir(), 'wgrad-cli-domains-'));
  csv = join(dir, 't.csv');
  writeCsv(csv);
  wavs = join(dir, 'wavs');
  writeWavs(wavs);
  idx = join(dir, 'idx');
  writeIdx(idx, 32);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Tree = { config: RunConfig; modelConfig: { encoder?: string; inputShape?: number[] }; params: { encoder: Record<string, unknown> }; state: { generator?: { params: unknown; opt: unknown; count: number } }; epochsDone: number };

async function checkpoint(run: string): Promise<Tree> {
  return (await io.loadCheckpoint<Tree>(join(run, 'checkpoint.safetensors'))).tree;
}


const tinyMlp = ['--batch', '8', '--hidden', '16', '--feature-dim', '8', '--proj-dim', '4'];
const tinyCnn = ['--batch', '4', '--width', '2', '--feature-dim', '8', '--proj-dim', '4'];
const small = ['--probe-epochs', '2', '--robust-limit', '4', '--steps', '2', '--knn-k', '3'];

describe('wgrad train on a table, spectrograms and images', () => {
  it('aplr on a CSV: the MLP encoder and an MLP generator with its optimizer state in the checkpoint; eval with no box', async () => {
    const run = join(dir, 'aplr-csv');
    const r = await wgrad('train', '--method', 'aplr', '--data', csv, ...tinyMlp, '--epochs', '1', '--eps', '0.2', '--generator-lr', '0.01', '--out', run);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/mlp encoder \(hidden 16\), adam lr 0\.001/);
    const tree = await checkpoint(run);
    expect(tree.config).toMatchObject({ method: 'aplr', domain: 'tabular', encoder: 'mlp', hidden: [16], options: { eps: 0.2, generatorLr: 0.01, generatorSteps: 1, generatorEvery: 1 } });
    expect(tree.modelConfig).toMatchObject({ encoder: 'mlp', inputShape: [6] }); // a, b, c + color: blue, red, <missing>
    expect(Object.keys(tree.params.encoder)).toEqual(['dense']);
    expect(tree.state.generator?.count).toBe(4); // 32 training rows / batch 8
    const genLeaves = treeLeaves(tree.state.generator).map(([p]) => p);
    expect(genLeaves.some((p) => /opt/.test(p))).toBe(true);
    expect(genLeaves.some((p) => /params/.test(p))).toBe(true);
    dispose(tree);
    const e = await wgrad('eval', '--checkpoint', run, ...small);
    expect(e.status, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/\| PGD-2, ε = 0\.1 \(first 4\) \| \d+\.\d\d % \|/);
    expect(JSON.parse(readFileSync(join(run, 'eval', 'eval.json'), 'utf8')).robust).toHaveLength(3);
  }, 120_000);

  it('noise and mask on a WAV directory: the CNN on [1, 32, 32] log-mels; eval', async () => {
    for (const method of ['noise', 'mask']) {
      const run = join(dir, `${method}-wav`);
      const own = method === 'noise' ? ['--noise-std', '0.3'] : ['--mask-prob', '0.5'];
      const r = await wgrad('train', '--method', method, '--data', wavs, ...tinyCnn, '--epochs', '1', ...own, '--out', run);
      expect(r.status, r.stderr).toBe(0);
      const tree = await checkpoint(run);
      expect(tree.config.domain).toBe('audio');
      expect(tree.modelConfig).toMatchObject({ encoder: 'cnn', inputShape: [1, 32, 32] });
      expect(tree.config.options).toEqual(method === 'noise' ? { sigma: 0.3 } : { p: 0.5, fill: 'marginal' });
      expect(tree.state.generator).toBeUndefined();
      dispose(tree);
    }
    const e = await wgrad('eval', '--checkpoint', join(dir, 'mask-wav'), ...small);
    expect(e.status, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/\| kNN \(k = 3\) \| \d+\.\d\d % \|/);
  }, 180_000);

  it('aplr on images: the CNN and a conv generator', async () => {
    const run = join(dir, 'aplr-img');
    const r = await wgrad('train', '--method', 'aplr', '--data', idx, ...tinyCnn, '--epochs', '1', '--out', run);
    expect(r.status, r.stderr).toBe(0);
    const tree = await checkpoint(run);
    expect(tree.config.domain).toBe('image');
    expect(tree.modelConfig).toMatchObject({ encoder: 'cnn', inputShape: [1, 8, 8] });
    expect(tree.state.generator?.count).toBe(8);
    dispose(tree);
  }, 120_000);

  it.each([
    ['simclr', 'csv', /--method simclr needs images.*tabular dataset/],
    ['rocl', 'wavs', /--method rocl needs images.*audio dataset/],
    ['idaa', 'csv', /--method idaa needs images.*tabular dataset/],
  ])('an image-only method (%s) on %s exits 2 naming the method and the domain', async (method, data, message) => {
    const r = await wgrad('train', '--method', method, '--data', data === 'csv' ? csv : wavs, '--out', join(dir, `never-${method}`));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/usage: wgrad train/);
    expect(existsSync(join(dir, `never-${method}`))).toBe(false);
  }, 60_000);

  it('the CNN on a table and an image-only method in compare exit 2', async () => {
    const cnn = await wgrad('train', '--method', 'aplr', '--data', csv, '--encoder', 'cnn', '--out', join(dir, 'never-cnn'));
    expect(cnn.status).toBe(2);
    expect(cnn.stderr).toMatch(/--encoder cnn needs examples \[C, H, W\].*\[6\]; use --encoder mlp/);
    const cmp = await wgrad('compare', '--methods', 'noise,simclr', '--data', csv, '--out', join(dir, 'never-compare'));
    expect(cmp.status).toBe(2);
    expect(cmp.stderr).toMatch(/wgrad compare: --method simclr needs images.*tabular/);
    expect(existsSync(join(dir, 'never-compare', 'runs'))).toBe(false);
  }, 60_000);
});

describe('checkpoint and --resume with APLR', () => {
  it('aplr + regularizer on a CSV, interrupted after an epoch, resumes bit for bit (generator and its Adam state included)', async () => {
    const common = ['--method', 'aplr', '--data', csv, ...tinyMlp, '--epochs', '2', '--warmup-epochs', '1', '--regularizer', '0.5', '--reg-steps', '2', '--generator-every', '2'];
    const full = join(dir, 'aplr-full'), parts = join(dir, 'aplr-parts');
    expect((await wgrad('train', ...common, '--out', full)).status).toBe(0);
    expect((await wgrad('train', ...common, '--out', parts, '--stop-after', '1')).status).toBe(0);
    const mid = await checkpointLeaves(parts);
    expect(mid.at(-1)).toEqual(['epochs', [0, 1, 4]]);
    const r = await wgrad('train', ...common, '--out', parts, '--resume');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resuming/);
    const end = await checkpointLeaves(parts);
    expect(end.at(-1)).toEqual(['epochs', [0, 2, 8]]);
    expect(end.filter(([p]) => p.includes('generator')).length).toBeGreaterThan(2);
    expect(differing(end, await checkpointLeaves(full))).toEqual([]);
    expect(differing(end.filter(([p]) => p.includes('generator')), mid.filter(([p]) => p.includes('generator')))).not.toEqual([]); // the generator trained
    const other = await wgrad('train', ...common, '--generator-lr', '0.01', '--out', full, '--resume');
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/generatorLr = 0\.001, not 0\.01/);
  }, 240_000);
});

describe('attack box per domain', () => {
  it('a run\'s method context: [0, 1] for images, none for tables and audio (APLR and the regularizer)', () => {
    const cfg = { method: 'aplr', regularizer: 1, epochs: 1, optimizer: 'adam', lr: 1e-3, warmupEpochs: 0, options: {}, regularizerOptions: { eps: 0.1, steps: 2, normalize: false } } as unknown as RunConfig;
    for (const [domain, box] of [['image', [0, 1]], [undefined, [0, 1]], ['tabular', null], ['audio', null]] as const) {
      const ctx = methodContext({ ...cfg, domain }, {}, 4);
      expect(ctx.box).toEqual(box);
      expect(ctx.regularizer).toMatchObject({ weight: 1, eps: 0.1, steps: 2, box });
    }
    expect(methodContext({ ...cfg, regularizer: 0 }, {}, 4).regularizer).toBeUndefined();
  });

  it('eval\'s attack leaves standardized features unclipped with box null and clips to [0, 1] by default', async () => {
    const x = tensor(Float32Array.from([-3, 0.5, 4, 2, -1, 0.2]), { shape: [2, 3] });
    const y = tensor(Int32Array.from([0, 1]), { shape: [2] });
    const w = tensor(Float32Array.from([1, -1, 0.5, 2, -0.3, 1]), { shape: [3, 2] });
    const model = (v: typeof x) => matmul(v, w);
    const free = await attackFor('pgd', model, 3, null)(0.25)(x, y, key(0)).data() as Float32Array;
    const boxed = await attackFor('pgd', model, 3)(0.25)(x, y, key(0)).data() as Float32Array;
    const xs = [-3, 0.5, 4, 2, -1, 0.2];
    free.forEach((v, i) => expect(Math.abs(v - xs[i])).toBeLessThanOrEqual(0.25 + 1e-6));
    expect(Math.min(...free)).toBeLessThan(-2);
    expect(Math.max(...free)).toBeGreaterThan(3);
    expect(Math.min(...boxed)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...boxed)).toBeLessThanOrEqual(1);
    dispose([x, y, w]);
  });
});

describe('compare on a table', () => {
  it('defaults to the domain\'s methods (untrained encoder, noise, mask, aplr) and writes results.md', async () => {
    const out = join(dir, 'compare');
    const r = await wgrad('compare', '--data', csv, ...tinyMlp, '--epochs', '1', ...small, '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain('| method | linear probe | kNN | PGD-2 ε = 0.05 | PGD-2 ε = 0.1 | train time | eval time |');
    for (const row of ['untrained encoder (baseline)', 'noise', 'mask', 'aplr']) expect(md).toMatch(new RegExp(`\\| ${row.replace(/[()]/g, '\\$&')} \\| \\d+\\.\\d\\d % \\| \\d+\\.\\d\\d % \\|`));
    expect(md).toMatch(/mlp encoder, hidden 16/);
    expect(md).toContain('Views: noise, mask, aplr: no augmentation.');
    expect(md).toMatch(/standard deviations of the standardized features, no box/);
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(json.domain).toBe('tabular');
    expect(json.rows.map((x: { method: string }) => x.method)).toEqual(['none', 'noise', 'mask', 'aplr']);
    for (const f of ['accuracy-vs-eps.svg', 'loss.svg', 'runs/aplr/checkpoint.safetensors', 'runs/mask/eval.json']) expect(existsSync(join(out, f))).toBe(true);
  }, 240_000);
});

/**
 * The command line under bad input (issue 19): a diverging run stops at the first non-finite loss or
 * parameter and keeps the last finite checkpoint; checkpoints that cannot be used (non-finite or
 * integer parameters, an empty configuration) are refused at load, naming the tensor or setting; an
 * output directory that cannot be written, a batch larger than the data and data of another example
 * shape are refused before any work; "DIR/" and "DIR" are one data set on --resume; compare --resume
 * reuses an evaluation only under the settings, data and checkpoint that produced it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init } from '../src/init.js';
import * as io from '../src/io/node.js';
import { tensor } from '../src/tensor/ops/creation.js';
import { dispose } from '../src/tensor/scope.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { treeLeaves, treeMap } from '../src/tensor/tree.js';
import { loadRun, type RunCheckpoint } from '../src/cli/run.js';
import { wgrad, writeIdx } from './helpers/cli.js';

let dir: string;
let data: string;
/** A finished one-epoch SimCLR run (shared by the eval tests; never modified). */
let good: string;
const tiny = (...extra: string[]) => ['--data', data, '--batch', '8', '--width', '2', '--proj-dim', '4', ...extra];
const small = ['--probe-epochs', '1', '--robust-limit', '4', '--steps', '1', '--knn-k', '3'];

beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = mkdtempSync(join(tmpdir(), 'wgrad-cli-faults-'));
  data = join(dir, 'data');
  writeIdx(data, 32);
  good = join(dir, 'good');
  const r = await wgrad('train', '--method', 'simclr', ...tiny('--epochs', '1', '--out', good));
  expect(r.status, r.stderr).toBe(0);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the good run's checkpoint in a new directory, changed by `edit`. */
async function tampered(name: string, edit: (run: RunCheckpoint) => void): Promise<string> {
  const out = join(dir, name);
  mkdirSync(out);
  const { tree } = await io.loadCheckpoint<RunCheckpoint>(join(good, 'checkpoint.safetensors'));
  edit(tree);
  await io.saveCheckpoint(join(out, 'checkpoint.safetensors'), tree);
  dispose(tree);
  return out;
}

/** The run's parameters with the first leaf replaced by `make(old)`; returns that leaf's path. */
function replaceFirstParam(run: RunCheckpoint, make: (old: Tensor) => Tensor): string {
  const [first] = treeLeaves(run.params, 'params')[0];
  run.params = treeMap(run.params, (t, p) => (`params.${p}` === first ? make(t) : t));
  return first;
}

describe('a diverging run', () => {
  it('stops at the first non-finite loss, naming the step and the epoch, and writes no null loss', async () => {
    const out = join(dir, 'nan-loss');
    const r = await wgrad('train', '--method', 'simclr', ...tiny('--optimizer', 'sgd', '--lr', '1e12', '--epochs', '2', '--out', out));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the loss is NaN at step \d+ of epoch 1: training diverged and stopped/);
    expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(false);
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8')).not.toContain('null');
  });

  it('keeps the last finite checkpoint: non-finite parameters or statistics are never saved', async () => {
    const out = join(dir, 'nan-params');
    const r = await wgrad('train', '--method', 'simclr', ...tiny('--optimizer', 'sgd', '--lr', '1e7', '--epochs', '3', '--out', out));
    expect(r.status).toBe(1);
    const m = /at step \d+ of epoch (\d+): training diverged|(?:params|state)\.\S+ holds \S+ \(at flat index \d+\) after epoch (\d+): training diverged/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const epoch = Number(m![1] ?? m![2]);
    expect(epoch).toBeGreaterThan(1);
    const run = await loadRun(out); // refuses non-finite values
    expect(run.epochsDone).toBe(epoch - 1);
    dispose(run);
  });

  it('eval refuses a checkpoint with a non-finite parameter, naming the tensor', async () => {
    let path = '';
    const out = await tampered('nan-ckpt', (run) => {
      path = replaceFirstParam(run, (t) => tensor(Array.from({ length: t.size }, (_, i) => (i === 3 ? Number.NaN : 0.5)), { shape: t.shape }));
    });
    const r = await wgrad('eval', '--checkpoint', out, ...small);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${path} holds NaN (at flat index 3)`);
    expect(r.stderr).not.toMatch(/features of/);
  });
});

describe('checkpoints that cannot be used are refused at load', () => {
  it('an empty configuration', async () => {
    const out = await tampered('empty-config', (run) => { (run as { config: unknown }).config = {}; });
    const r = await wgrad('eval', '--checkpoint', out, ...small);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/is not a usable training run: config\.method is undefined, expected one of simclr/);
  });

  it('integer parameters', async () => {
    let path = '';
    const out = await tampered('int-params', (run) => {
      path = replaceFirstParam(run, (t) => tensor(new Int32Array(t.size), { shape: t.shape, dtype: 'int32' }));
    });
    const r = await wgrad('train', '--method', 'simclr', ...tiny('--epochs', '2', '--out', out, '--resume'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${path.replace(/[.[\]]/g, '\\$&')} is int32 \\[[\\d, ]+\\], expected float32`));
  });
});

describe('output directories and data are checked before any work', () => {
  it('--out that is a file, or lies under one, exits 2 naming the flag (train, compare, eval)', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'keep me');
    for (const out of [file, join(file, 'sub')]) {
      const r = await wgrad('train', '--method', 'simclr', ...tiny('--epochs', '1', '--out', out));
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/--out .*a-file.*: .*a-file is a file, not a directory/);
    }
    const c = await wgrad('compare', '--methods', 'simclr', ...tiny('--epochs', '1', ...small, '--out', file));
    expect(c.status).toBe(2);
    const e = await wgrad('eval', '--checkpoint', good, ...small, '--out', join(file, 'eval'));
    expect(e.status).toBe(2);
    expect(e.stderr).toMatch(/--out .* is a file, not a directory/);
    expect(e.stderr).not.toMatch(/features of/); // refused before the evaluation
    expect(readFileSync(file, 'utf8')).toBe('keep me');
    const run = await tampered('eval-is-a-file', () => {});
    writeFileSync(join(run, 'eval'), 'keep me too');
    const d = await wgrad('eval', '--checkpoint', run, ...small);
    expect(d.status).toBe(2);
    expect(d.stderr).toMatch(/--out \(default <checkpoint>\/eval\) .*eval: .*eval is a file, not a directory/);
  });

  it.runIf(existsSync('/sys/kernel'))('--out where files cannot be written exits 2 naming the flag and the reason', async () => {
    const r = await wgrad('train', '--method', 'simclr', ...tiny('--epochs', '1', '--out', '/sys/kernel/wgrad-run'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--out \/sys\/kernel\/wgrad-run: cannot write there: /);
    const e = await wgrad('eval', '--checkpoint', good, ...small, '--out', '/sys/kernel');
    expect(e.status).toBe(2);
    expect(e.stderr).not.toMatch(/features of/);
  });

  it('--batch larger than the data exits 2 naming both numbers and creates nothing', async () => {
    for (const cmd of ['train', 'compare']) {
      const out = join(dir, `big-batch-${cmd}`);
      const r = await wgrad(cmd, ...(cmd === 'train' ? ['--method', 'simclr'] : ['--methods', 'simclr']), ...tiny('--out', out), '--batch', '64');
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/--batch 64 is larger than the training set \(32 examples/);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('eval --data of another example shape exits 2 naming both shapes', async () => {
    const other = join(dir, 'data-10');
    writeIdx(other, 16, 10);
    const r = await wgrad('eval', '--checkpoint', good, ...small, '--data', other);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/examples of shape \[1, 10, 10\], but the encoder in .* takes \[1, 8, 8\]/);
  });

  it('--data DIR/ and DIR are one data set on --resume', async () => {
    const out = join(dir, 'slash');
    const args = ['--method', 'simclr', '--batch', '8', '--width', '2', '--proj-dim', '4', '--epochs', '2', '--out', out];
    expect((await wgrad('train', ...args, '--data', `${data}/`, '--stop-after', '1')).status).toBe(0);
    const r = await wgrad('train', ...args, '--data', data, '--resume');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resuming/);
  });
});

describe('compare --resume reuses an evaluation only under the settings that produced it', () => {
  it('another attack, limit or data is evaluated again; the same settings are reused; a torn eval.json is evaluated again', async () => {
    const out = join(dir, 'compare');
    const noSteps = small.filter((f, i) => f !== '--steps' && small[i - 1] !== '--steps'); // FGSM takes no --steps
    const args = (...extra: string[]) => ['compare', '--methods', 'simclr', ...tiny('--epochs', '1', ...noSteps, '--out', out), ...extra];
    const first = await wgrad(...args('--steps', '1'));
    expect(first.status, first.stderr).toBe(0);
    const evalJson = join(out, 'runs', 'simclr', 'eval.json');
    const attackOf = () => JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).rows[0].eval.attack;
    expect(attackOf()).toBe('PGD-1');

    const fgsm = await wgrad(...args('--resume', '--attack', 'fgsm'));
    expect(fgsm.status, fgsm.stderr).toBe(0);
    expect(fgsm.stderr).toMatch(/not reusing .*eval\.json: it was made with attack = "pgd", not "fgsm"; evaluating again/);
    expect(attackOf()).toBe('FGSM');
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toContain('FGSM ε = 0.05');

    const same = await wgrad(...args('--resume', '--attack', 'fgsm'));
    expect(same.stderr).toMatch(/evaluation reused/);
    const limit = await wgrad(...args('--resume', '--attack', 'fgsm', '--robust-limit', '3'));
    expect(limit.stderr).toMatch(/it was made with robustLimit = 4, not 3/);
    const lessData = await wgrad(...args('--resume', '--attack', 'fgsm', '--robust-limit', '3', '--test-limit', '6'));
    expect(lessData.stderr).toMatch(/its data differs from this one/);

    writeFileSync(evalJson, readFileSync(evalJson, 'utf8').slice(0, 40)); // a write cut short
    const torn = await wgrad(...args('--resume', '--attack', 'fgsm', '--robust-limit', '3', '--test-limit', '6'));
    expect(torn.status, torn.stderr).toBe(0);
    expect(torn.stderr).toMatch(/not reusing .*eval\.json: it is unreadable/);
    expect(JSON.parse(readFileSync(evalJson, 'utf8')).result.attack).toBe('FGSM');
  }, 120_000);
});

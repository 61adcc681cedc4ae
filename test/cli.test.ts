/**
 * The `wgrad` command line (src/cli/main.ts run through tsx, CPU backend, tiny synthetic IDX data):
 * --help for every command, argument errors (exit status 2 and a message naming the problem),
 * missing and malformed data (status 1), and checkpoint → --resume giving bit-identical
 * parameters, BN statistics and optimizer state to an uninterrupted run (IDAA: interrupted in the
 * VAE phase and in the encoder phase; RoCL + regularizer).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { init } from '../src/init.js';
import * as io from '../src/io/node.js';
import { main } from '../src/cli/cli.js';
import { Progress } from '../src/cli/progress.js';
import { checkpointLeaves, differing, type Result, wgrad, writeIdx } from './helpers/cli.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
let dir: string;
let data: string;


/** Runs the executable entry point (src/cli/main.ts through tsx) in a child process. */
function wgradProcess(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...process.env, WGRAD_BACKEND: 'cpu' }, timeout: 120_000 }, (e, stdout, stderr) => {
      resolve({ status: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout, stderr });
    });
  });
}


beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = mkdtempSync(join(tmpdir(), 'wgrad-cli-'));
  data = join(dir, 'data');
  writeIdx(data, 32);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('help and argument errors', () => {
  it('--help for every command exits 0 and lists its flags', async () => {
    for (const [cmd, flag] of [['train', '--method'], ['eval', '--checkpoint'], ['compare', '--methods']]) {
      const r = await wgrad(cmd, '--help');
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(`usage: wgrad ${cmd}`);
      expect(r.stdout).toContain(flag);
    }
    const top = await wgrad('--help');
    expect(top.status).toBe(0);
    expect(top.stdout).toMatch(/train[\s\S]*eval[\s\S]*compare/);
  });

  it.each([
    [['frob'], /unknown command "frob"/],
    [['train'], /--method is required/],
    [['train', '--method', 'byol'], /--method "byol": expected one of simclr, rocl, idaa/],
    [['train', '--method', 'rocl', '--epochs', '0'], /--epochs "0": must be ≥ 1/],
    [['train', '--method', 'rocl', '--epochs', '2.5'], /--epochs "2.5": expected an integer/],
    [['train', '--method', 'rocl', '--eps', 'abc'], /--eps "abc": expected a decimal number/],
    [['train', '--method', 'rocl', '--regularizer=-1'], /--regularizer "-1": must be ≥ 0/],
    [['train', '--method', 'rocl', '--regularizer', '-1'], /--regularizer/],
    [['train', '--method', 'rocl', '--bogus'], /unknown flag --bogus/],
    [['train', '--method', 'rocl', 'extra'], /unexpected argument "extra"/],
    [['eval'], /--checkpoint DIR is required/],
    [['eval', '--checkpoint', 'x', '--attack', 'cw'], /--attack "cw": expected one of pgd, apgd, fgsm/],
    [['compare', '--methods', 'simclr,moco'], /"moco" is not one of/],
  ])('wgrad %j exits 2 with a message', async (args, message) => {
    const r = await wgrad(...(args as string[]));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace for usage errors
  });

  it('the executable exits with those statuses (2: usage, 1: data, 0: help)', async () => {
    const usage = await wgradProcess('train', '--method', 'byol');
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/expected one of simclr, rocl, idaa/);
    const missing = await wgradProcess('train', '--method', 'simclr', '--data', join(dir, 'nope'), '--out', join(dir, 'o0'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(join(dir, 'nope'));
    expect((await wgradProcess('eval', '--help')).status).toBe(0);
  }, 120_000);
});

describe('progress', () => {
  const sink = (isTTY: boolean) => {
    const chunks: string[] = [];
    return { chunks, stream: { isTTY, write: (c: string) => chunks.push(c) } };
  };

  it('a pipe gets plain lines with the loss, images/s and ETA (at most one per interval, always the last)', () => {
    const { chunks, stream } = sink(false);
    const bar = new Progress('epoch 1/2', 4, { stream, imagesPerStep: 32, intervalS: 3600 });
    bar.update(0);
    bar.update(1, { loss: 1.5 });
    bar.update(4, { loss: 1.25 });
    expect(chunks).toHaveLength(2);
    expect(chunks[0]).toMatch(/^epoch 1\/2 0\/4 .*ETA/);
    expect(chunks[1]).toMatch(/^epoch 1\/2 4\/4 {2}loss 1\.2500 {2}\d+ img\/s {2}\d+:\d\d\n$/);
    expect(chunks.join('')).not.toContain('\r');
  });

  it('a terminal gets one bar redrawn in place', () => {
    const { chunks, stream } = sink(true);
    const bar = new Progress('vae 1/1', 2, { stream, imagesPerStep: 8 });
    bar.update(1, { loss: 2 });
    bar.update(2, { loss: 1 });
    expect(chunks[0]).toMatch(/^\repoch|^\rvae 1\/1 \[█{10}░{10}\] 1\/2 {2}loss 2\.0000/);
    expect(chunks.at(-1)).toBe('\n');
    expect(chunks.join('').split('\n')).toHaveLength(2);
  });
});

describe('data errors', () => {
  it('a missing directory or file exits 1 naming it', async () => {
    const r = await wgrad('train', '--method', 'simclr', '--data', join(dir, 'nope'), '--out', join(dir, 'o1'));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(join(dir, 'nope'));
    const partial = join(dir, 'partial');
    writeIdx(partial, 8);
    rmSync(join(partial, 't10k-labels-idx1-ubyte'));
    const r2 = await wgrad('train', '--method', 'simclr', '--data', partial, '--out', join(dir, 'o2'));
    expect(r2.status).toBe(1);
    expect(r2.stderr).toContain('missing');
    expect(r2.stderr).toContain('t10k-labels-idx1-ubyte');
  });

  it('a malformed IDX file exits 1 with the parser\'s message', async () => {
    const bad = join(dir, 'bad');
    writeIdx(bad, 8);
    writeFileSync(join(bad, 'train-images-idx3-ubyte.gz'), gzipSync(Buffer.from('not an idx file')));
    const r = await wgrad('train', '--method', 'simclr', '--data', bad, '--out', join(dir, 'o3'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/train-images-idx3-ubyte\.gz.*bad magic/);
  });

  it('labels that do not match the images exit 1', async () => {
    const bad = join(dir, 'bad-labels');
    writeIdx(bad, 8);
    writeFileSync(join(bad, 'train-labels-idx1-ubyte.gz'), gzipSync(io.encodeIdx({ dtype: 'uint8', shape: [5], data: new Uint8Array(5) })));
    const r = await wgrad('train', '--method', 'simclr', '--data', bad, '--out', join(dir, 'o4'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/expected 8 labels/);
  });

  it('eval of a directory without a checkpoint exits 1', async () => {
    const r = await wgrad('eval', '--checkpoint', join(dir, 'empty-run'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no checkpoint/);
  });
});


describe('checkpoint and --resume', () => {
  const tiny = ['--data', '', '--batch', '8', '--width', '2', '--proj-dim', '4', '--warmup-epochs', '1', '--epochs', '2'];
  const args = (extra: string[]) => { const a = [...tiny, ...extra]; a[1] = data; return a; };

  it('IDAA interrupted after its VAE and in the encoder phase resumes bit for bit; the VAE is trained once and reused from the cache beside the runs', async () => {
    const common = args(['--method', 'idaa', '--vae-max-epochs', '1', '--vae-batch', '8']);
    const full = join(dir, 'idaa-full'), parts = join(dir, 'idaa-parts');
    const first = await wgrad('train', ...common, '--out', full);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/IDAA's VAE: training it into .*vae-cache/);
    const vaeOnly = await wgrad('train', ...common, '--out', parts, '--stop-after', '1'); // the VAE (from the cache)
    expect(vaeOnly.status).toBe(0);
    expect(vaeOnly.stderr).toMatch(/IDAA's VAE: reusing .*vae-cache.*stopped at the epoch cap after 1 epochs, held-out reconstruction RMS/);
    const mid = await checkpointLeaves(parts);
    expect(mid.at(-1)).toEqual(['epochs', [1, 0, -1]]);
    expect((await wgrad('train', ...common, '--out', parts, '--resume', '--stop-after', '1')).status).toBe(0); // encoder epoch 1
    expect((await checkpointLeaves(parts)).at(-1)).toEqual(['epochs', [1, 1, -1]]);
    const r = await wgrad('train', ...common, '--out', parts, '--resume');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resuming/);
    expect(differing(await checkpointLeaves(parts), await checkpointLeaves(full))).toEqual([]);
    for (const f of ['metrics.jsonl', 'loss.svg']) expect(existsSync(join(parts, f))).toBe(true);
    const lines = readFileSync(join(parts, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.event === 'epoch').map((l) => [l.phase, l.epoch])).toEqual([['vae', 1], ['encoder', 1], ['encoder', 2]]);
  }, 300_000);

  it('RoCL + regularizer resumes bit for bit; a fresh run refuses an existing checkpoint; --resume refuses other settings', async () => {
    const common = args(['--method', 'rocl', '--regularizer', '0.5', '--attack-steps', '2', '--reg-steps', '2']);
    const full = join(dir, 'rocl-full'), parts = join(dir, 'rocl-parts');
    expect((await wgrad('train', ...common, '--out', full)).status).toBe(0);
    expect((await wgrad('train', ...common, '--out', parts, '--stop-after', '1')).status).toBe(0);
    expect((await wgrad('train', ...common, '--out', parts, '--resume')).status).toBe(0);
    expect(differing(await checkpointLeaves(parts), await checkpointLeaves(full))).toEqual([]);
    const again = await wgrad('train', ...common, '--out', full);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/exists: pass --resume/);
    const other = await wgrad('train', ...common, '--seed', '3', '--out', full, '--resume');
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/seed = 0, not 3/);
  }, 300_000);
});

describe('eval and compare', () => {
  const small = ['--probe-epochs', '2', '--robust-limit', '4', '--steps', '2', '--knn-k', '5'];

  it('eval writes eval.json and the accuracy-vs-ε chart and prints the table', async () => {
    const run = join(dir, 'eval-run');
    expect((await wgrad('train', '--method', 'simclr', '--data', data, '--batch', '8', '--width', '2', '--epochs', '1', '--out', run)).status).toBe(0);
    const r = await wgrad('eval', '--checkpoint', run, ...small, '--eps', '0.05,0.1');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\| linear probe \(clean\) \| \d+\.\d\d % \|/);
    expect(r.stdout).toMatch(/PGD-2, ε = 0\.1 \(first 4\)/);
    const result = JSON.parse(readFileSync(join(run, 'eval', 'eval.json'), 'utf8'));
    expect(result.robust.map((x: { eps: number }) => x.eps)).toEqual([0, 0.05, 0.1]);
    expect(readFileSync(join(run, 'eval', 'accuracy-vs-eps.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
  }, 120_000);

  it('compare trains and evaluates each run and writes the table, JSON and charts', async () => {
    const out = join(dir, 'compare');
    const r = await wgrad('compare', '--methods', 'random,simclr,simclr+reg', '--regularizer', '0.5', '--reg-steps', '2', '--data', data,
      '--batch', '8', '--width', '2', '--epochs', '1', ...small, '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain('| method | linear probe | kNN | PGD-2 ε = 0.05 | PGD-2 ε = 0.1 | train time | eval time |');
    for (const row of ['untrained encoder (baseline)', 'simclr', 'simclr + regularizer (β = 0.5)']) expect(md).toContain(`| ${row} |`);
    expect(md).toContain('Views: simclr, simclr+reg: augmentation (crop scale [0.2, 1]).');
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(json.rows).toHaveLength(3);
    for (const f of ['accuracy-vs-eps.svg', 'loss.svg', 'runs/simclr/checkpoint.safetensors', 'runs/simclr-reg/eval.json']) expect(existsSync(join(out, f))).toBe(true);
    const again = await wgrad('compare', '--methods', 'simclr', '--data', data, '--batch', '8', '--width', '2', '--epochs', '1', ...small, '--out', out, '--resume');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/evaluation reused/);
  }, 240_000);
});

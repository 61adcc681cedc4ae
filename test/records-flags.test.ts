/**
 * Flags checked at parse time against what the method (or attack) needs, before any work (issue 19):
 * exit status 2 and a message naming the flag, for values that used to pass the parser and fail deep
 * inside (exit 1, a library message, a raw RangeError, or minutes of work): ε = 0 where it divides,
 * non-integer and huge layer widths, numbers beyond float32 or written in hex, an unsafe seed, --eps
 * with --eval-eps, a flag the method or attack does not take. Also: the option parser itself
 * (src/core/options.ts), and a run directory written before method records (checkpoint version 1)
 * resuming bit for bit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init } from '../src/init.js';
import * as io from '../src/io/node.js';
import { parseOption } from '../src/core/options.js';
import { parseFlags } from '../src/cli/args.js';
import { checkpointLeaves, differing, wgrad, writeIdx } from './helpers/cli.js';

let dir: string, data: string;

beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = mkdtempSync(join(tmpdir(), 'wgrad-flags-'));
  data = join(dir, 'data');
  writeIdx(data, 32);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('flag values refused at parse time (exit 2, naming the flag, nothing written)', () => {
  it.each([
    [['--method', 'rocl', '--eps', '0'], /--eps 0: must be > 0 \(for rocl\)/],
    [['--method', 'simclr', '--regularizer', '1', '--eps', '0'], /--eps 0: must be > 0 \(for the regularizer\)/],
    [['--method', 'aplr', '--regularizer', '1', '--eps', '0'], /--eps 0: must be > 0 \(for the regularizer\)/],
    [['--method', 'rocl', '--eps', '1e-50'], /--eps 1e-50: must be > 0 \(1e-50 is 0 in float32\) \(for rocl\)/],
    [['--method', 'rocl', '--eps', '1e39'], /--eps "1e39": beyond the float32 range/],
    [['--method', 'aplr', '--hidden', '1.5'], /--hidden "1\.5": expected an integer/],
    [['--method', 'aplr', '--hidden', '64,100000000'], /--hidden "64,100000000": "100000000": must be ≤ 16384/],
    [['--method', 'simclr', '--width', '100000'], /--width "100000": must be ≤ 1024/],
    [['--method', 'simclr', '--seed', '1e20'], /--seed "1e20": expected an integer/],
    [['--method', 'simclr', '--seed', '4294967296'], /--seed "4294967296": must be ≤ 4294967295/],
    [['--method', 'simclr', '--lr', '0x10'], /--lr "0x10": expected a decimal number/],
    [['--method', 'simclr', '--attack-steps', '3'], /--attack-steps is not used by --method simclr \(it is an option of rocl, supervised-at\)/],
    [['--method', 'simclr', '--reg-steps', '3'], /--reg-steps is not used by --method simclr \(it is an option of the regularizer\)/],
    [['--method', 'mask', '--mask-prob', '1.5'], /--mask-prob 1\.5: must be ≤ 1 \(for mask\)/],
    [['--method', 'aplr', '--generator-steps', '2.5'], /--generator-steps "2\.5": expected an integer/],
  ])('train %j', async (args, message) => {
    const out = join(dir, 'never');
    const r = await wgrad('train', '--data', data, ...(args as string[]), '--out', out);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message as RegExp);
    expect(existsSync(out)).toBe(false);
  });

  it.each([
    [['--eval-eps', '0x10'], /--eval-eps "0x10": expected a decimal number/],
    [['--eval-eps', '0.1,1e39'], /--eval-eps "0\.1,1e39": "1e39": beyond the float32 range/],
    [['--eps', '0.1', '--eval-eps', '0.2'], /--eps and --eval-eps are the same setting: give one of them/],
    [['--attack', 'fgsm', '--steps', '3'], /--steps is not used by --attack fgsm \(it is an option of pgd, apgd\)/],
    [['--steps', '100000'], /--steps 100000: must be ≤ 10000 \(for pgd\)/],
  ])('eval %j', async (args, message) => {
    const r = await wgrad('eval', '--checkpoint', join(dir, 'no-run'), ...(args as string[]));
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message as RegExp);
  });

  it('compare refuses a method flag that none of its runs takes', async () => {
    const r = await wgrad('compare', '--methods', 'simclr,noise', '--data', data, '--attack-steps', '3', '--out', join(dir, 'never-compare'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--attack-steps is not used by the runs simclr, noise \(it is an option of rocl, supervised-at\)/);
    expect(existsSync(join(dir, 'never-compare', 'runs'))).toBe(false);
  });
});

describe('the option parser', () => {
  it('decimal numbers only, in float32 range, bounds in float32; safe decimal integers; lists item by item', () => {
    const num = { kind: 'number', help: '' } as const;
    expect(parseOption(num, '1.5e-3')).toEqual({ value: 0.0015 });
    expect(parseOption(num, '-.5')).toEqual({ value: -0.5 });
    for (const t of ['0x10', '0b1', '1_000', 'Infinity', 'NaN', '', ' ', '1e', '.']) expect(parseOption(num, t), t).toHaveProperty('problem');
    expect(parseOption(num, '3.4028234e38')).toEqual({ value: 3.4028234e38 });
    expect(parseOption(num, '3.5e38')).toEqual({ problem: expect.stringMatching(/float32/) });
    expect(parseOption({ ...num, above: 0 }, '1e-46')).toEqual({ problem: 'must be > 0 (1e-46 is 0 in float32)' });
    const int = { kind: 'int', help: '' } as const;
    expect(parseOption(int, '42')).toEqual({ value: 42 });
    for (const t of ['1e3', '2.0', '9007199254740993', '0x10']) expect(parseOption(int, t), t).toHaveProperty('problem');
    expect(parseOption({ kind: 'ints', min: 1, max: 8, help: '' }, '2, 4')).toEqual({ value: [2, 4] });
    expect(parseOption({ kind: 'numbers', min: 0, help: '' }, '0.1,-1')).toEqual({ problem: '"-1": must be ≥ 0' });
  });

  it('an alias sets its flag; giving both is refused', () => {
    const flags = { 'eval-eps': { kind: 'numbers', default: '0.05', help: '' }, eps: { kind: 'numbers', aliasOf: 'eval-eps', help: '' } } as const;
    expect(parseFlags('eval', [], flags)['eval-eps']).toEqual([0.05]);
    expect(parseFlags('eval', ['--eps', '0.3'], flags)['eval-eps']).toEqual([0.3]);
    expect(() => parseFlags('eval', ['--eps', '0.3', '--eval-eps', '0.2'], flags)).toThrow(/same setting/);
  });
});

describe('a run directory written before method records (checkpoint version 1)', () => {
  const rocl = ['--method', 'rocl', '--data', '', '--batch', '8', '--width', '2', '--proj-dim', '4', '--warmup-epochs', '1', '--epochs', '2',
    '--eps', '0.05', '--alpha', '0.02', '--attack-steps', '2', '--crop-scale', '0.3', '--regularizer', '0.5', '--reg-steps', '2'];
  const args = () => rocl.map((a) => (a === '' ? data : a));

  it('resumes bit for bit (its flat settings become the options), and refuses a changed one naming it', async () => {
    const full = join(dir, 'v1-full'), parts = join(dir, 'v1-parts');
    expect((await wgrad('train', ...args(), '--out', full)).status).toBe(0);
    expect((await wgrad('train', ...args(), '--out', parts, '--stop-after', '1')).status).toBe(0);
    // Rewrite the checkpoint as the previous code wrote it: version 1, every hyperparameter a flat field.
    const path = join(parts, 'checkpoint.safetensors');
    const { tree } = await io.loadCheckpoint<Record<string, unknown> & { config: Record<string, unknown> }>(path);
    const { options, regularizerOptions, ...common } = tree.config as { options: object; regularizerOptions: object };
    expect(options).toEqual({ cropScale: 0.3, eps: 0.05, alpha: 0.02, steps: 2 });
    expect(regularizerOptions).toEqual({ eps: 0.05, steps: 2, normalize: false, perturbation: 'worst' });
    tree.version = 1;
    tree.config = { ...common, eps: 0.05, attackSteps: 2, regSteps: 2, cropScale: 0.3 }; // --alpha not given: ε/4
    mkdirSync(join(dir, 'v1-other'));
    await io.saveCheckpoint(join(dir, 'v1-other', 'checkpoint.safetensors'), tree);
    tree.config = { ...common, eps: 0.05, alpha: 0.02, attackSteps: 2, regSteps: 2, cropScale: 0.3, vaeEpochs: 3, vaeLr: 1e-3 };
    await io.saveCheckpoint(path, tree);
    const r = await wgrad('train', ...args(), '--out', parts, '--resume');
    expect(r.status, r.stderr).toBe(0);
    expect(differing(await checkpointLeaves(parts), await checkpointLeaves(full))).toEqual([]);
    const other = await wgrad('train', ...args(), '--out', join(dir, 'v1-other'), '--resume');
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/alpha = undefined, not 0\.02 \(an option of rocl: --alpha\)/);
  }, 120_000);
});

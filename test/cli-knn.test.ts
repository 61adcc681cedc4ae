/**
 * `wgrad eval`'s kNN: without --knn-k it uses the library's rule k = min(200, round(√N)) for a bank
 * of N training examples (k = 200 on a 2,000-image bank voted with a whole class), and an SSL run's
 * kNN also runs on the normalized projection (IDAA's protocol, docs/methods.md#weighted-knn).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init } from '../src/init.js';
import { wgrad, writeIdx } from './helpers/cli.js';

let dir: string;
let run: string;
const evalFlags = ['--probe-epochs', '1', '--robust-limit', '4', '--steps', '1'];

beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = mkdtempSync(join(tmpdir(), 'wgrad-cli-knn-'));
  const data = join(dir, 'data');
  writeIdx(data, 36);
  run = join(dir, 'run');
  const r = await wgrad('train', '--method', 'simclr', '--data', data, '--batch', '12', '--width', '2', '--proj-dim', '4', '--epochs', '1', '--out', run);
  expect(r.status, r.stderr).toBe(0);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('wgrad eval: kNN', () => {
  it('defaults k to round(√N) of the bank and reports kNN on the normalized projection', async () => {
    const out = join(dir, 'eval-default');
    const r = await wgrad('eval', '--checkpoint', run, '--out', out, ...evalFlags);
    expect(r.status, r.stderr).toBe(0);
    const e = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'));
    expect(e.knnK).toBe(6); // 36 training examples
    expect(e.knnProjectionAccuracy).toBeGreaterThanOrEqual(0);
    expect(e.knnProjectionAccuracy).toBeLessThanOrEqual(1);
    expect(r.stdout).toMatch(/\| kNN \(k = 6\) \|/);
    expect(r.stdout).toMatch(/\| kNN on the normalized projection \(k = 6\) \|/);
  });

  it('an explicit --knn-k wins', async () => {
    const out = join(dir, 'eval-k3');
    const r = await wgrad('eval', '--checkpoint', run, '--out', out, '--knn-k', '3', ...evalFlags);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8')).knnK).toBe(3);
  });
});

/**
 * From wgrad to PyTorch (docs/pytorch.md): an encoder trained for one step by `wgrad train` (CPU
 * backend) and loaded into torch.nn by scripts/to_pytorch.py gives the same features as wgrad's
 * ssl.evalFeatures on the same inputs, to 1e-5, for the small CNN (images) and the MLP (a table).
 * Runs Debian's python3-torch; skips without it, except in CI (helpers/torch.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/node.js';
import { wgrad } from './helpers/cli.js';
import { requireTorch } from './helpers/torch.js';

const root = resolve(import.meta.dirname, '..');
const SCRIPT = join(root, 'scripts/to_pytorch.py');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wgrad-torch-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Features of `x` from the run in `out`: wgrad's (eval mode) and PyTorch's, through the script. */
async function bothFeatures(py: string, out: string, x: wg.Tensor<'float32'>): Promise<[Float32Array, Float32Array]> {
  const { tree } = await wg.io.loadCheckpoint<{ params: wg.ssl.ModelParams; state: { model: wg.ssl.ModelState } }>(join(out, 'checkpoint.safetensors'));
  const ours = await (wg.ssl.evalFeatures(tree.params, tree.state.model)(x) as wg.Tensor<'float32'>).data();
  const input = join(out, 'x.f32'), feats = join(out, 'features.f32');
  const values = await x.data();
  writeFileSync(input, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  execFileSync(py, [SCRIPT, out, '--features', input, '--shape', x.shape.join(','), '--out', feats], { stdio: ['ignore', 'pipe', 'pipe'] });
  const bytes = readFileSync(feats);
  return [ours, new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)];
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(b.length).toBe(a.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

describe('wgrad → PyTorch', () => {
  it('the small CNN encoder gives the same features in torch.nn', async (ctx) => {
    const py = requireTorch(ctx);
    const out = join(dir, 'cnn');
    const r = await wgrad('train', '--method', 'noise', '--train-limit', '8', '--test-limit', '8', '--batch', '8', '--epochs', '1',
      '--width', '4', '--feature-dim', '8', '--proj-dim', '4', '--out', out);
    expect(r.status, r.stderr).toBe(0);
    await wg.init({ backend: 'cpu' });
    const x = wg.random.uniform(wg.random.key(7), [5, 1, 28, 28]) as wg.Tensor<'float32'>;
    const [ours, theirs] = await bothFeatures(py, out, x);
    expect(ours.some((v) => v > 0)).toBe(true); // not all clipped by the final relu
    expect(maxAbsDiff(ours, theirs)).toBeLessThanOrEqual(1e-5);
  });

  it('the MLP encoder of a table gives the same features in torch.nn', async (ctx) => {
    const py = requireTorch(ctx);
    const out = join(dir, 'mlp');
    const r = await wgrad('train', '--method', 'noise', '--data', join(root, 'data/satellite.csv'), '--train-limit', '16', '--test-limit', '8',
      '--batch', '16', '--epochs', '1', '--hidden', '8', '--feature-dim', '6', '--proj-dim', '4', '--out', out);
    expect(r.status, r.stderr).toBe(0);
    await wg.init({ backend: 'cpu' });
    const x = wg.random.normal(wg.random.key(8), [5, 36]) as wg.Tensor<'float32'>;
    const [ours, theirs] = await bothFeatures(py, out, x);
    expect(ours.some((v) => v > 0)).toBe(true);
    expect(maxAbsDiff(ours, theirs)).toBeLessThanOrEqual(1e-5);
  });

  it('refuses a file that is not a wgrad checkpoint, naming it', (ctx) => {
    const py = requireTorch(ctx);
    const bad = join(dir, 'bad.safetensors');
    writeFileSync(bad, 'nope');
    const r = spawnSync(py, [SCRIPT, bad], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`to_pytorch: ${bad}: not a safetensors file`);
  });
});

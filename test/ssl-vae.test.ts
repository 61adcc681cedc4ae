/**
 * Training IDAA's VAE (src/ssl/vae-train.ts) and its cache (src/cli/vae-cache.ts), on the CPU
 * backend with a tiny VAE and 8×8 images: IDAA's AdamW (β = (0, 0.9), per-epoch linear decay), the
 * convergence rule, a training run that converges on augmented views with an honest report, resume
 * after an interruption bit for bit, and the cache (trained once, reused, keyed by data, key and
 * settings).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import * as vae from '../src/ssl/vae.js';
import { heldOutError, trainVae, VAE_TRAIN_DEFAULTS, vaeOptimizer, vaeStopReason, type VaeData, type VaeTraining } from '../src/ssl/vae-train.js';
import { loadOrTrainVae, vaeCacheDir } from '../src/cli/vae-cache.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

const host = async (t: wg.Tensor) => Array.from((await t.data()) as ArrayLike<number>);

/** n 8×8 grayscale images: smooth blobs at random places, as uint8 (what the CLI's loaders hold). */
function blobs(n: number, seed: number): { train: { x: Uint8Array; labels: Int32Array; n: number }; shape: number[] } {
  const x = new Uint8Array(n * 64);
  for (let i = 0; i < n; i++) {
    const cx = 2 + ((i * 7 + seed) % 5), cy = 2 + ((i * 3 + 2 * seed) % 5);
    for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) x[i * 64 + r * 8 + c] = Math.round(255 * Math.exp(-((r - cy) ** 2 + (c - cx) ** 2) / 6));
  }
  return { train: { x, labels: new Int32Array(n), n }, shape: [1, 8, 8] };
}

function asVaeData(ds: ReturnType<typeof blobs>): VaeData {
  return { n: ds.train.n, shape: ds.shape, batch: (rows) => wg.tensor(Array.from(rows, (r) => Array.from(ds.train.x.subarray(r * 64, (r + 1) * 64), (v) => v / 255)).flat(), { shape: [rows.length, 1, 8, 8] }) };
}

const TINY = { config: { width: 4, latent: 4 }, batch: 8, heldOut: 8, lr: 5e-3, patience: 2, augment: { crop: { scale: [0.6, 1] as [number, number] }, colorJitter: false as const } };

describe("the VAE's optimizer is IDAA's AdamW", () => {
  it('β = (0, 0.9), no weight decay: the first update is −lr·g/(|g| + 1e-8); lr·(1 − e/E) in epoch e', async () => {
    expect(VAE_TRAIN_DEFAULTS).toMatchObject({ lr: 5e-4, b1: 0, b2: 0.9, weightDecay: 0, batch: 128, beta: 0.1, klNormalization: 'latent' });
    const opt = vaeOptimizer({ ...VAE_TRAIN_DEFAULTS, lr: 0.1, maxEpochs: 4, steps: 2 });
    const p = { w: wg.tensor([1, 2, 3]) };
    let state = opt.init(p);
    const g = { w: wg.tensor([0.5, -2, 1e-9]) };
    const lrs: number[] = [];
    for (let step = 0; step < 5; step++) {
      const [u, next] = opt.update(g, state, p);
      state = next;
      // With a constant gradient, b1 = 0 and the bias-corrected second moment g², every update is −lr·g/(|g| + 1e-8).
      const d = await host(u.w);
      lrs.push(-d[0] / (0.5 / (0.5 + 1e-8)));
      if (step === 0) {
        expect(d[1]).toBeCloseTo(0.1 * (2 / (2 + 1e-8)), 6);
        expect(d[2]).toBeCloseTo(-0.1 * (1e-9 / (1e-9 + 1e-8)), 6);
      }
    }
    [0.1, 0.1, 0.075, 0.075, 0.05].forEach((lr, i) => expect(lrs[i]).toBeCloseTo(lr, 6));
  });
});

describe('the convergence rule', () => {
  const o = { tolerance: 0.01, patience: 2, maxEpochs: 10 };
  it("stops when the held-out error improved by less than the tolerance in `patience` epochs in a row", () => {
    expect(vaeStopReason([1], o)).toBeUndefined();
    expect(vaeStopReason([1, 0.5, 0.499], o)).toBeUndefined(); // one epoch below the tolerance
    expect(vaeStopReason([1, 0.5, 0.499, 0.4985], o)).toBe('converged');
    expect(vaeStopReason([1, 0.5, 0.499, 0.45, 0.449], o)).toBeUndefined(); // the 0.45 epoch reset the count
    expect(vaeStopReason([1, 0.5, 0.6, 0.7], o)).toBe('converged'); // worse than the best counts as no improvement
    expect(vaeStopReason(Array.from({ length: 10 }, (_, i) => 1 / (i + 1)), o)).toBe('maxEpochs');
  });
});

describe('trainVae', () => {
  const ds = blobs(48, 1);
  let run: VaeTraining | undefined;

  afterAll(() => wg.dispose(run));

  it('trains on augmented views until the held-out error converges, and reports it honestly', async () => {
    run = await trainVae(wg.random.key(1), asVaeData(ds), { ...TINY, maxEpochs: 40 });
    const h = run.history;
    expect(run.stopped).toBe('converged');
    expect(run.epochsDone).toBe(h.length);
    expect(h.length).toBeLessThan(40);
    expect(h[h.length - 1].heldOutMse).toBeLessThan(0.5 * h[0].heldOutMse);
    expect(h[h.length - 1].heldOutRms).toBeCloseTo(Math.sqrt(h[h.length - 1].heldOutMse), 10);
    expect(run.config.mean[0]).toBeGreaterThan(0);
    expect(run.state.input).toEqual({ mean: run.config.mean, std: run.config.std });
  });

  it('the augmentation is applied: without it the VAE trains to other parameters', async () => {
    const one = async (augment: object) => {
      const t = await trainVae(wg.random.key(1), asVaeData(ds), { ...TINY, augment, maxEpochs: 1 });
      const w = await host(t.params.dec.fc.w);
      wg.dispose(t);
      return w;
    };
    const plain = { crop: false, flip: false, colorJitter: false, grayscale: false };
    expect(await one(TINY.augment)).not.toEqual(await one(plain));
    expect(await one(TINY.augment)).toEqual(await one(TINY.augment));
  });

  it('an interrupted training resumes from its last epoch to the same VAE, bit for bit', async () => {
    const opts = { ...TINY, maxEpochs: 3, patience: 5 };
    const full = await trainVae(wg.random.key(2), asVaeData(ds), opts);
    let saved: VaeTraining | undefined;
    await expect(trainVae(wg.random.key(2), asVaeData(ds), opts, {
      onEpoch: (t) => { if (t.epochsDone === 2) { saved = t; throw new Error('killed'); } },
    })).rejects.toThrow('killed');
    const resumed = await trainVae(wg.random.key(2), asVaeData(ds), opts, { resume: saved });
    expect(resumed.epochsDone).toBe(3);
    const untimed = (t: VaeTraining) => t.history.map(({ seconds: _s, imagesPerSec: _i, ...r }) => r);
    expect(untimed(resumed)).toEqual(untimed(full));
    const after = wg.treeLeaves(resumed.params);
    for (const [i, [p, a]] of wg.treeLeaves(full.params).entries()) expect(await host(after[i][1]), p).toEqual(await host(a));
    wg.dispose([full, resumed]);
  });

  it('heldOutError is the pixel MSE of G(μ(x)) on the views', async () => {
    const t = run!;
    const data = asVaeData(ds);
    const rows = Int32Array.from([0, 1, 2]);
    const key = wg.random.key(9);
    const e = await heldOutError(t, data, rows, key, { augment: { crop: false, flip: false, colorJitter: false, grayscale: false }, batch: 2 });
    const x = data.batch(rows);
    const d = await host(wg.sub(vae.reconstruct(t.params, t.state, x), x));
    expect(e).toBeCloseTo(d.reduce((s, v) => s + v * v, 0) / d.length, 6);
  });

  it('refuses data too small for a held-out set and a batch', async () => {
    await expect(trainVae(wg.random.key(1), asVaeData(blobs(9, 1)), TINY)).rejects.toThrow(/ssl\.trainVae: need at least one held-out image and a full batch of 8/);
  });
});

describe("the VAE cache beside the run directory", () => {
  it('trains once, then reuses; another key, data, setting or layer size trains another; a partial training resumes', async () => {
    const root = mkdtempSync(join(tmpdir(), 'vae-cache-'));
    try {
      const dir = vaeCacheDir(join(root, 'run-a'));
      expect(dir).toBe(join(root, 'vae-cache'));
      const ds = blobs(24, 2);
      const opts = { ...TINY, maxEpochs: 2 };
      let steps = 0;
      const onStep = () => { steps++; };
      const first = await loadOrTrainVae(dir, ds, wg.random.key(1), opts, { onStep });
      expect(first.cached).toBe(false);
      expect(steps).toBe(2 * 2);
      const again = await loadOrTrainVae(dir, ds, wg.random.key(1), { ...opts, beta: 0.1 }, { onStep }); // the default, spelled out
      expect(again.cached).toBe(true);
      expect(steps).toBe(4);
      expect(await host(again.training.params.enc.mu.w)).toEqual(await host(first.training.params.enc.mu.w));
      expect(again.training.history).toEqual(first.training.history);
      for (const other of [
        () => loadOrTrainVae(dir, ds, wg.random.key(2), opts),
        () => loadOrTrainVae(dir, blobs(24, 3), wg.random.key(1), opts),
        () => loadOrTrainVae(dir, ds, wg.random.key(1), { ...opts, klNormalization: 'input' }),
        () => loadOrTrainVae(dir, ds, wg.random.key(1), { ...opts, config: { ...opts.config, resBlocks: 1 } }),
      ]) {
        const r = await other();
        expect(r.cached).toBe(false);
        wg.dispose(r.training);
      }
      const files = () => readdirSync(dir, { recursive: true }).map(String).sort();
      expect(files().filter((f) => f.endsWith('vae.safetensors')).length).toBe(5);
      // Interrupted after its first epoch: the partial file is resumed, not restarted; the lock is released.
      const logs: string[] = [];
      await expect(loadOrTrainVae(dir, ds, wg.random.key(5), opts, { onStep: (e) => { if (e === 2) throw new Error('killed'); } })).rejects.toThrow('killed');
      expect(files().filter((f) => f.endsWith('.partial.safetensors')).length).toBe(1);
      expect(files().some((f) => f.endsWith('.wgrad.lock'))).toBe(false);
      const resumed = await loadOrTrainVae(dir, ds, wg.random.key(5), opts, { log: (l) => logs.push(l) });
      expect(logs[0]).toMatch(/resuming .*after epoch 1/);
      expect(resumed.training.epochsDone).toBe(2);
      expect(existsSync(resumed.path)).toBe(true);
      expect(files().some((f) => f.endsWith('.partial.safetensors'))).toBe(false);
      wg.dispose([first.training, again.training, resumed.training]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

/**
 * IDAA's VAE is trained once per data set, key (seed) and VAE settings and reused by every IDAA run
 * with them (`compare`'s IDAA runs, a second `train`). The cache lives beside the run directories:
 * <the run's parent>/vae-cache/vae-<digest>/vae.safetensors, the digest covering the training
 * examples as loaded (limits and preprocessing count), the key, every VAE training option with its
 * default filled in and the VAE's layers (VAE_ARCHITECTURE and its sizes), so that a changed default
 * or layer is a different VAE. Training saves its progress after every epoch
 * (vae.partial.safetensors, written atomically) and resumes from it, so an interrupted training
 * loses at most one epoch; the finished VAE then replaces the partial file. A process
 * training a VAE locks its directory (./run-lock.ts): a second one asking for the same VAE meanwhile
 * is refused with the holder's name.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { WgradError } from '../core/backend.js';
import { loadCheckpoint, saveCheckpoint } from '../io/node.js';
import type { Key } from '../random/random.js';
import { withDefaults } from '../ssl/common.js';
import { resolveVaeConfig, VAE_ARCHITECTURE } from '../ssl/vae.js';
import { trainVae, VAE_TRAIN_DEFAULTS, type VaeData, type VaeHooks, type VaeTraining, type VaeTrainOptions } from '../ssl/vae-train.js';
import { batchTensors, type HostDataset } from './data.js';
import { displayPath } from './paths.js';
import { removeStaleTemps } from './run-dir.js';
import { lockDir } from './run-lock.js';

export const VAE_CACHE_DIR = 'vae-cache';
const FORMAT = 'wgrad-idaa-vae';

/** The cache directory for the run in `runDir`: a sibling of it. */
export function vaeCacheDir(runDir: string): string {
  return join(dirname(resolve(runDir)), VAE_CACHE_DIR);
}

/** JSON with object keys sorted (a stable digest input); undefined members are dropped. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The digest naming the VAE trained on `ds`'s training examples with `key` and `opts`. */
export function vaeCacheDigest(ds: Pick<HostDataset, 'shape' | 'train'>, key: Key, opts: VaeTrainOptions): string {
  const settings = withDefaults(VAE_TRAIN_DEFAULTS, opts);
  const { mean: _m, std: _s, ...layers } = resolveVaeConfig({ ...opts.config, inChannels: ds.shape[0], imageSize: ds.shape[1] });
  const architecture = { version: VAE_ARCHITECTURE, ...layers };
  const x = ds.train.x;
  return createHash('sha256')
    .update(canonical({ format: FORMAT, version: 1, shape: ds.shape, n: ds.train.n, key: Array.from(key), settings, architecture }))
    .update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength))
    .digest('hex').slice(0, 20);
}

/** The training examples as the VAE reads them. */
function vaeData(ds: Pick<HostDataset, 'shape' | 'train'>): VaeData {
  return {
    n: ds.train.n, shape: ds.shape,
    batch: (rows) => {
      const { x, y } = batchTensors(ds.train, ds.shape, rows);
      y.dispose();
      return x;
    },
  };
}

type Stored = { format: string; version: number; digest: string; training: VaeTraining };

async function readStored(path: string, digest: string): Promise<VaeTraining> {
  const { tree } = await loadCheckpoint<Stored>(path);
  if (tree?.format !== FORMAT || tree.digest !== digest || !tree.training) {
    throw new WgradError('vae-cache', `${displayPath(path)} is not the IDAA VAE this run needs (format ${JSON.stringify(tree?.format)}, digest ${JSON.stringify(tree?.digest)}); move it away to train a new one`);
  }
  return tree.training;
}

/** One line on a trained VAE: why it stopped, its epochs and its held-out reconstruction error. */
export function describeVae(t: VaeTraining): string {
  const last = t.history[t.history.length - 1];
  const why = t.stopped === 'converged' ? 'converged' : t.stopped === 'maxEpochs' ? 'stopped at the epoch cap' : 'not finished';
  return `${why} after ${t.epochsDone} epochs, held-out reconstruction RMS ${last ? last.heldOutRms.toFixed(4) : '?'} (pixel units)`;
}

/**
 * IDAA's VAE for `ds`, `key` and `opts`: loaded from `dir` when it was trained before, else trained
 * (resuming a partial training found there) and stored. The caller owns the returned tensors.
 */
export async function loadOrTrainVae(
  dir: string, ds: Pick<HostDataset, 'shape' | 'train'>, key: Key, opts: VaeTrainOptions,
  hooks: { log?: (line: string) => void; onStep?: VaeHooks['onStep'] } = {},
): Promise<{ training: VaeTraining; path: string; cached: boolean }> {
  const log = hooks.log ?? (() => {});
  const digest = vaeCacheDigest(ds, key, opts);
  const home = join(dir, `vae-${digest}`);
  const path = join(home, 'vae.safetensors');
  const partial = join(home, 'vae.partial.safetensors');
  const reuse = async () => {
    const training = await readStored(path, digest);
    log(`IDAA's VAE: reusing ${displayPath(path)} (${describeVae(training)})`);
    return { training, path, cached: true };
  };
  if (existsSync(path)) return reuse();
  mkdirSync(home, { recursive: true });
  const unlock = lockDir(home, `IDAA's VAE cache ${displayPath(home)}`, `wgrad, training IDAA's VAE in ${displayPath(home)}`, log);
  try {
    removeStaleTemps(home, log);
    if (existsSync(path)) return await reuse(); // trained by another process while this one waited
    const resume = existsSync(partial) ? await readStored(partial, digest) : undefined;
    log(resume ? `IDAA's VAE: resuming ${displayPath(partial)} after epoch ${resume.epochsDone}` : `IDAA's VAE: training it into ${displayPath(path)}`);
    const save = (file: string, training: VaeTraining) => saveCheckpoint(file, { format: FORMAT, version: 1, digest, training } satisfies Stored);
    const training = await trainVae(key, vaeData(ds), opts, {
      resume, onStep: hooks.onStep,
      onEpoch: async (t, r) => {
        await save(partial, t);
        log(`vae epoch ${r.epoch}: loss ${r.loss.toFixed(4)} (mse ${r.mse.toFixed(4)}, kl ${r.kl.toFixed(4)}), held-out RMS ${r.heldOutRms.toFixed(4)}, ${r.seconds.toFixed(1)} s`);
      },
    });
    await save(path, training);
    rmSync(partial, { force: true });
    log(`IDAA's VAE: ${describeVae(training)}`);
    return { training, path, cached: false };
  } finally {
    unlock();
  }
}

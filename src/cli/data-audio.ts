/**
 * `--data <wav dir>`: a directory of labelled WAV clips, as written by scripts/data/spoken-digits.ts:
 *
 *   DIR/train/<class>/*.wav   DIR/test/<class>/*.wav
 *
 * Class names are the sub-directory names, numbered in sorted order (numerically when all are
 * numbers); a test class must also be a training class. Every clip is read through src/io/wav.ts
 * (16-bit PCM or float, several channels mixed to mono), must have the training clips' sample rate,
 * and is cut to 1 s (the middle second of a longer clip; a shorter one is zero-padded at the end).
 * Its log-mel spectrogram (src/data/audio.ts, computed on the device in batches) has 32 mel bands
 * and 32 frames: hop ⌊sampleRate / 31⌋, nFft the next power of two ≥ the hop, centred frames. Each
 * mel band is then standardized with the training clips' mean and standard deviation over all their
 * frames. Examples are stored on the host as float32 [1, 32, 32] (mel band × frame). Each split
 * comes in a fixed pseudo-random order (seed 0) of its sorted file list, so that --train-limit and
 * --test-limit keep a sample of every class.
 *
 * The log-mels are cached in DIR/.logmel-cache.bin (best effort: skipped where DIR is read-only),
 * keyed by the settings and every clip's path, size and modification time, so a second command on
 * the same clips skips the spectrograms (minutes for the 5,760 spoken digits on lavapipe).
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';
import { WgradError } from '../core/backend.js';
import { createLogMel, type LogMelOptions } from '../data/audio.js';
import { readWavFile } from '../io/node.js';
import { mulberry32 } from '../core/random/mulberry.js';
import { hasBackend } from '../tensor/engine.js';
import { tensor } from '../tensor/ops/creation.js';
import type { AudioFeatures, HostDataset, HostSplit, LoadOptions } from './dataset.js';
import { displayPath } from './paths.js';

export const AUDIO_MELS = 32;
export const AUDIO_FRAMES = 32;
const CLIP_SECONDS = 1;
const BATCH = 64;

/** How the log-mel features were made, kept with the dataset. */

interface Clip { path: string; label: number }

async function listDir(path: string): Promise<string[] | undefined> {
  try {
    return (await fsp.readdir(path)).sort();
  } catch {
    return undefined;
  }
}

async function isDir(path: string): Promise<boolean> {
  return fsp.stat(path).then((s) => s.isDirectory(), () => false);
}

/** True when `dir` looks like a WAV dataset (it has a train/ sub-directory). */
export async function isAudioDir(dir: string): Promise<boolean> {
  return isDir(join(dir, 'train'));
}

const LAYOUT = 'expected DIR/train/<class>/*.wav and DIR/test/<class>/*.wav (e.g. from `npx tsx scripts/data/spoken-digits.ts --out DIR`)';

async function listClips(dir: string, split: 'train' | 'test', classes?: string[]): Promise<{ clips: Clip[]; classes: string[] }> {
  const root = join(dir, split);
  const entries = await listDir(root);
  if (!entries) throw new WgradError('data', `${root}: not a readable directory; ${LAYOUT}`);
  const found: { name: string; files: string[] }[] = [];
  for (const name of entries) {
    if (!(await isDir(join(root, name)))) continue;
    const files = ((await listDir(join(root, name))) ?? []).filter((f) => f.toLowerCase().endsWith('.wav'));
    if (files.length) found.push({ name, files });
  }
  if (!found.length) throw new WgradError('data', `${root}: no WAV files in class sub-directories; ${LAYOUT}`);
  const names = found.map((c) => c.name);
  const numeric = names.every((n) => /^\d+$/.test(n));
  const ordered = classes ?? (numeric ? [...names].sort((a, b) => Number(a) - Number(b)) : names);
  if (!classes && ordered.length < 2) {
    throw new WgradError('data', `${root}: one class only (${ordered[0]}); a classification dataset needs at least 2 class sub-directories`);
  }
  const clips: Clip[] = [];
  for (const c of found) {
    const label = ordered.indexOf(c.name);
    if (label < 0) throw new WgradError('data', `${join(root, c.name)}: class ${JSON.stringify(c.name)} is not among the training classes (${ordered.join(', ')})`);
    for (const f of c.files) clips.push({ path: join(root, c.name, f), label });
  }
  // A fixed shuffle, so that a limit keeps every class.
  const rng = mulberry32(0);
  for (let i = clips.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [clips[i], clips[j]] = [clips[j], clips[i]];
  }
  return { clips, classes: ordered };
}

/** The clip's samples cut or padded to `length`. */
function fixLength(samples: Float32Array, length: number): Float32Array {
  if (samples.length >= length) {
    const start = (samples.length - length) >> 1;
    return samples.slice(start, start + length);
  }
  const out = new Float32Array(length);
  out.set(samples);
  return out;
}

export function logMelOptions(sampleRate: number): LogMelOptions {
  const clip = Math.round(sampleRate * CLIP_SECONDS);
  const hopLength = Math.floor(clip / (AUDIO_FRAMES - 1));
  if (hopLength < 1) throw new WgradError('data', `a sample rate of ${sampleRate} Hz is too low for ${AUDIO_FRAMES} frames per clip`);
  const nFft = 2 ** Math.ceil(Math.log2(Math.max(hopLength, 2)));
  return { sampleRate, nFft, hopLength, nMels: AUDIO_MELS, center: true };
}

/** Log-mels of the clips [n, mels, frames] (un-normalized), computed on the device in batches. */
async function features(clips: Clip[], sampleRate: number, opts: LogMelOptions): Promise<Float32Array> {
  const clipSamples = Math.round(sampleRate * CLIP_SECONDS);
  const size = AUDIO_MELS * AUDIO_FRAMES;
  const out = new Float32Array(clips.length * size);
  const mel = createLogMel(opts);
  try {
    for (let s = 0; s < clips.length; s += BATCH) {
      const batch = clips.slice(s, s + BATCH);
      const signals = new Float32Array(batch.length * clipSamples);
      for (let i = 0; i < batch.length; i++) {
        const wav = await readWavFile(batch[i].path);
        if (wav.sampleRate !== sampleRate) {
          throw new WgradError('data', `${batch[i].path}: sample rate ${wav.sampleRate} Hz, but the first training clip has ${sampleRate} Hz; every clip must have the same rate`);
        }
        signals.set(fixLength(wav.samples, clipSamples), i * clipSamples);
      }
      const x = tensor(signals, { shape: [batch.length, clipSamples] });
      const m = mel.apply(x); // [B, frames, mels]
      const frames = m.shape[1];
      const data = (await m.data()) as Float32Array;
      x.dispose();
      m.dispose();
      for (let i = 0; i < batch.length; i++) {
        for (let f = 0; f < AUDIO_FRAMES; f++) {
          for (let b = 0; b < AUDIO_MELS; b++) out[(s + i) * size + b * AUDIO_FRAMES + f] = data[(i * frames + f) * AUDIO_MELS + b];
        }
      }
    }
  } finally {
    mel.dispose();
  }
  return out;
}

const CACHE = '.logmel-cache.bin';

/** A digest of the settings and the clips (path, size, modification time), in order. */
async function cacheKey(dir: string, train: Clip[], test: Clip[], opts: LogMelOptions): Promise<string> {
  const h = createHash('sha256').update(JSON.stringify({ v: 1, opts, mels: AUDIO_MELS, frames: AUDIO_FRAMES, seconds: CLIP_SECONDS }));
  for (const [name, clips] of [['train', train], ['test', test]] as const) {
    h.update(`\n${name}`);
    for (const c of clips) {
      const st = await fsp.stat(c.path);
      h.update(`\n${relative(dir, c.path)}\t${c.label}\t${st.size}\t${st.mtimeMs}`);
    }
  }
  return h.digest('hex');
}

/** The cached un-normalized features: [64 hex digits of the key][train floats][test floats]. */
async function readCache(path: string, key: string, nTrain: number, nTest: number): Promise<[Float32Array, Float32Array] | undefined> {
  const size = AUDIO_MELS * AUDIO_FRAMES * 4;
  const bytes = await fsp.readFile(path).catch(() => undefined);
  if (!bytes || bytes.length !== 64 + (nTrain + nTest) * size || bytes.subarray(0, 64).toString('latin1') !== key) return undefined;
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 64, bytes.byteOffset + bytes.length));
  return [all.slice(0, nTrain * size / 4), all.slice(nTrain * size / 4)];
}

async function writeCache(path: string, key: string, train: Float32Array, test: Float32Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await fsp.writeFile(tmp, Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from(train.buffer, train.byteOffset, train.byteLength), Buffer.from(test.buffer, test.byteOffset, test.byteLength)]));
    await fsp.rename(tmp, path);
  } catch {
    await fsp.rm(tmp, { force: true }).catch(() => {});
  }
}

/** Per-band statistics of the training features, applied in place to both splits. */
function standardize(train: Float32Array, test: Float32Array): { mean: number[]; std: number[] } {
  const mean: number[] = [], std: number[] = [];
  const n = train.length / (AUDIO_MELS * AUDIO_FRAMES);
  for (let b = 0; b < AUDIO_MELS; b++) {
    let sum = 0, sq = 0;
    for (let i = 0; i < n; i++) {
      for (let f = 0; f < AUDIO_FRAMES; f++) { const v = train[(i * AUDIO_MELS + b) * AUDIO_FRAMES + f]; sum += v; sq += v * v; }
    }
    const count = n * AUDIO_FRAMES;
    const m = sum / count;
    const sd = Math.sqrt(Math.max(sq / count - m * m, 0)) || 1;
    mean.push(m);
    std.push(sd);
    for (const x of [train, test]) {
      for (let i = 0; i < x.length / (AUDIO_MELS * AUDIO_FRAMES); i++) {
        for (let f = 0; f < AUDIO_FRAMES; f++) { const at = (i * AUDIO_MELS + b) * AUDIO_FRAMES + f; x[at] = (x[at] - m) / sd; }
      }
    }
  }
  return { mean, std };
}

/** Loads a WAV directory (see the module comment); needs a started backend (init) for the log-mels. */
export async function loadAudioDataset(dir: string, spec: string, opts: LoadOptions): Promise<HostDataset> {
  if (!hasBackend()) throw new WgradError('data', `--data ${spec}: audio features are computed on the device; start the backend (init) before loading ${dir}`);
  const tr = await listClips(dir, 'train');
  const te = await listClips(dir, 'test', tr.classes);
  const trainClips = tr.clips.slice(0, opts.trainLimit ?? tr.clips.length);
  const testClips = te.clips.slice(0, opts.testLimit ?? te.clips.length);
  if (!trainClips.length || !testClips.length) throw new WgradError('data', `--data ${spec}: a limit of 0 leaves no ${trainClips.length ? 'test' : 'training'} clips`);
  const sampleRate = (await readWavFile(trainClips[0].path)).sampleRate;
  const logMel = logMelOptions(sampleRate);
  const cache = join(dir, CACHE);
  const key = await cacheKey(dir, trainClips, testClips, logMel);
  let [trainX, testX] = (await readCache(cache, key, trainClips.length, testClips.length)) ?? [];
  if (!trainX || !testX) {
    trainX = await features(trainClips, sampleRate, logMel);
    testX = await features(testClips, sampleRate, logMel);
    await writeCache(cache, key, trainX, testX);
  }
  const stats = standardize(trainX, testX);
  const split = (clips: Clip[], x: Float32Array): HostSplit => ({ x, labels: Int32Array.from(clips, (c) => c.label), n: clips.length });
  const audio: AudioFeatures = { sampleRate, clipSamples: Math.round(sampleRate * CLIP_SECONDS), logMel, ...stats };
  return {
    domain: 'audio', train: split(trainClips, trainX), test: split(testClips, testX), shape: [1, AUDIO_MELS, AUDIO_FRAMES],
    classes: tr.classes.length, classNames: tr.classes, dir, audio,
    description: `WAV clips in ${displayPath(dir)}: ${trainClips.length} training and ${testClips.length} test clips at ${sampleRate} Hz, ${tr.classes.length} classes, `
      + `log-mel [1, ${AUDIO_MELS}, ${AUDIO_FRAMES}] (nFft ${logMel.nFft}, hop ${logMel.hopLength}), standardized per band on the training clips`,
  };
}

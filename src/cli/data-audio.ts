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
 * frames (or with the statistics given in the options: the run's, for `eval`). Examples are stored
 * on the host as float32 [1, 32, 32] (mel band × frame). Each split comes in a fixed pseudo-random
 * order (seed 0) of its sorted file list; --train-limit and --test-limit keep a seeded
 * class-stratified sample of it (`stratifiedSample`), so that every class keeps its share.
 *
 * Clips that would make meaningless or non-finite features are refused, naming the file:
 *   - an empty clip (no samples): it would become silence labelled as a class, and a warning is
 *     easily missed in a long run, so it is an error (remove the file or export it again);
 *   - a NaN or ±∞ float sample (parseWav), or one beyond `logMelAmplitudeLimit` (about 10^16 at
 *     8 kHz), whose power spectrum would overflow float32 and turn every band statistic into NaN;
 *   - a sample rate beyond MAX_SAMPLE_RATE (or below 31 Hz, too few samples for 32 frames): a 1 s
 *     clip at 192 kHz would need nFft 8192 and a DFT matrix of 268 MB, more than WebGPU's default
 *     128 MiB storage binding (`maxStorageBufferBindingSize`); MAX_NFFT = 4096 (67 MB) allows
 *     rates up to 127,006 Hz, which covers 96 kHz.
 *
 * The log-mels are cached in DIR/.logmel-cache.bin (best effort: skipped where DIR is read-only),
 * keyed by the settings and every clip's path, size and modification time, so a second command on
 * the same clips skips the spectrograms (minutes for the 5,760 spoken digits on lavapipe).
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';
import { WgradError } from '../core/backend.js';
import { createLogMel, logMelAmplitudeLimit, type LogMelOptions } from '../data/audio.js';
import { stratifiedSample } from '../data/batching.js';
import { readWavFile, writeFileAtomic } from '../io/node.js';
import { mulberry32 } from '../core/random/mulberry.js';
import { key } from '../random/random.js';
import { hasBackend } from '../tensor/engine.js';
import { tensor } from '../tensor/ops/creation.js';
import { type AudioFeatures, givenPreprocessing, type HostDataset, type HostSplit, type LoadOptions } from './dataset.js';
import { displayPath } from './paths.js';

export const AUDIO_MELS = 32;
export const AUDIO_FRAMES = 32;
/** Values per example, [1, mels, frames]. */
const SIZE = AUDIO_MELS * AUDIO_FRAMES;
const CLIP_SECONDS = 1;
const BATCH = 64;
/** The largest nFft of the log-mel (see the module comment), and the largest sample rate it allows. */
const MAX_NFFT = 4096;
export const MAX_SAMPLE_RATE = (MAX_NFFT + 1) * (AUDIO_FRAMES - 1) - 1;

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
  // A fixed shuffle of the split (limits then sample it per class: sampleClips).
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

/** The log-mel settings for clips at `sampleRate` (see the module comment); `source` (the clip) names errors. */
export function logMelOptions(sampleRate: number, source = 'the clips'): LogMelOptions {
  const clip = Math.round(sampleRate * CLIP_SECONDS);
  const hopLength = Math.floor(clip / (AUDIO_FRAMES - 1));
  if (!(hopLength >= 1 && sampleRate <= MAX_SAMPLE_RATE)) {
    throw new WgradError('data', `${source}: a sample rate of ${sampleRate} Hz is outside what the log-mel features support (${AUDIO_FRAMES - 1}..${MAX_SAMPLE_RATE} Hz: `
      + `${AUDIO_FRAMES} frames per ${CLIP_SECONDS} s clip, nFft ≤ ${MAX_NFFT}); resample the clips (e.g. to 16 kHz)`);
  }
  const nFft = 2 ** Math.ceil(Math.log2(Math.max(hopLength, 2)));
  return { sampleRate, nFft, hopLength, nMels: AUDIO_MELS, center: true };
}

/** The samples of the clip at `path`, refused where they would make meaningless or non-finite features (see the module comment). */
async function readClip(path: string, sampleRate: number, amplitudeLimit: number): Promise<Float32Array> {
  const wav = await readWavFile(path);
  if (wav.sampleRate !== sampleRate) {
    throw new WgradError('data', `${path}: sample rate ${wav.sampleRate} Hz, but the first training clip has ${sampleRate} Hz; every clip must have the same rate`);
  }
  if (wav.length === 0) throw new WgradError('data', `${path}: the clip holds no samples (an empty 'data' chunk); remove it or export it again`);
  for (let i = 0; i < wav.samples.length; i++) {
    if (Math.abs(wav.samples[i]) > amplitudeLimit) {
      throw new WgradError('data', `${path}: sample ${i} is ${wav.samples[i]}, beyond ±${amplitudeLimit.toPrecision(3)}, where the log-mel's power spectrum overflows float32`);
    }
  }
  return wav.samples;
}

/** Log-mels of the clips [n, mels, frames] (un-normalized), computed on the device in batches. */
async function features(clips: Clip[], sampleRate: number, opts: LogMelOptions): Promise<Float32Array> {
  const clipSamples = Math.round(sampleRate * CLIP_SECONDS);
  const out = new Float32Array(clips.length * SIZE);
  const limit = logMelAmplitudeLimit(opts);
  const mel = createLogMel(opts);
  try {
    for (let s = 0; s < clips.length; s += BATCH) {
      const batch = clips.slice(s, s + BATCH);
      const signals = new Float32Array(batch.length * clipSamples);
      for (let i = 0; i < batch.length; i++) signals.set(fixLength(await readClip(batch[i].path, sampleRate, limit), clipSamples), i * clipSamples);
      const x = tensor(signals, { shape: [batch.length, clipSamples] });
      const m = mel.apply(x); // [B, frames, mels]
      const frames = m.shape[1];
      const data = (await m.data()) as Float32Array;
      x.dispose();
      m.dispose();
      for (let i = 0; i < batch.length; i++) {
        for (let f = 0; f < AUDIO_FRAMES; f++) {
          for (let b = 0; b < AUDIO_MELS; b++) out[(s + i) * SIZE + b * AUDIO_FRAMES + f] = data[(i * frames + f) * AUDIO_MELS + b];
        }
      }
    }
  } finally {
    mel.dispose();
  }
  return out;
}

const CACHE = '.logmel-cache.bin';

/**
 * A digest of the settings and the clips (path, size, modification time), in order. Version 2: caches
 * written before the clips were checked (readClip) may hold features of refused clips.
 */
async function cacheKey(dir: string, train: Clip[], test: Clip[], opts: LogMelOptions): Promise<string> {
  const h = createHash('sha256').update(JSON.stringify({ v: 2, opts, mels: AUDIO_MELS, frames: AUDIO_FRAMES, seconds: CLIP_SECONDS }));
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
async function readCache(path: string, id: string, nTrain: number, nTest: number): Promise<[Float32Array, Float32Array] | undefined> {
  const size = SIZE * 4;
  const bytes = await fsp.readFile(path).catch(() => undefined);
  if (!bytes || bytes.length !== 64 + (nTrain + nTest) * size || bytes.subarray(0, 64).toString('latin1') !== id) return undefined;
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 64, bytes.byteOffset + bytes.length));
  return [all.slice(0, nTrain * size / 4), all.slice(nTrain * size / 4)];
}

async function writeCache(path: string, id: string, train: Float32Array, test: Float32Array): Promise<void> {
  const bytes = Buffer.concat([Buffer.from(id, 'latin1'), Buffer.from(train.buffer, train.byteOffset, train.byteLength), Buffer.from(test.buffer, test.byteOffset, test.byteLength)]);
  await writeFileAtomic(path, bytes).catch(() => {}); // best effort: a read-only directory just has no cache
}

/** Per-band mean and standard deviation of the training features [n, mels, frames] over all their frames. */
function bandStatistics(train: Float32Array): { mean: number[]; std: number[] } {
  const mean: number[] = [], std: number[] = [];
  const n = train.length / SIZE;
  for (let b = 0; b < AUDIO_MELS; b++) {
    let sum = 0, sq = 0;
    for (let i = 0; i < n; i++) {
      for (let f = 0; f < AUDIO_FRAMES; f++) { const v = train[(i * AUDIO_MELS + b) * AUDIO_FRAMES + f]; sum += v; sq += v * v; }
    }
    const count = n * AUDIO_FRAMES;
    const m = sum / count;
    mean.push(m);
    std.push(Math.sqrt(Math.max(sq / count - m * m, 0)) || 1);
  }
  return { mean, std };
}

/** Standardizes features [n, mels, frames] in place, band by band. */
function standardize(x: Float32Array, stats: { mean: number[]; std: number[] }): void {
  for (let at = 0; at < x.length; at++) {
    const b = Math.floor(at / AUDIO_FRAMES) % AUDIO_MELS;
    x[at] = (x[at] - stats.mean[b]) / stats.std[b];
  }
}

/**
 * Audio features given for `dir` (see LoadOptions.preprocessing), checked: this loader's log-mel
 * settings for their sample rate, and finite band statistics (positive standard deviations).
 */
function givenFeatures(f: AudioFeatures, dir: string): AudioFeatures {
  const fail = (what: string): never => {
    throw new WgradError('data', `the audio preprocessing given for ${dir} ${what}`);
  };
  const bands = (v: unknown, positive: boolean) => Array.isArray(v) && v.length === AUDIO_MELS && v.every((x) => Number.isFinite(x) && (!positive || x > 0));
  if (!bands(f?.mean, false) || !bands(f.std, true)) fail(`needs ${AUDIO_MELS} finite band means and positive standard deviations`);
  const want = logMelOptions(f.sampleRate, `the audio preprocessing given for ${dir}`);
  if (JSON.stringify(f.logMel) !== JSON.stringify(want) || f.clipSamples !== Math.round(f.sampleRate * CLIP_SECONDS)) {
    fail(`has log-mel settings ${JSON.stringify(f.logMel)} for ${f.clipSamples} samples; this version makes ${JSON.stringify(want)} for ${Math.round(f.sampleRate * CLIP_SECONDS)}`);
  }
  return f;
}

/** `n` clips of a split, a class-stratified sample (all of them without a limit). */
function sampleClips(clips: Clip[], limit: number | undefined, seed: number): Clip[] {
  if (limit === undefined) return clips;
  return Array.from(stratifiedSample(clips.map((c) => c.label), limit, key(seed)), (i) => clips[i]);
}

/** Loads a WAV directory (see the module comment); needs a started backend (init) for the log-mels. */
export async function loadAudioDataset(dir: string, spec: string, opts: LoadOptions): Promise<HostDataset> {
  if (!hasBackend()) throw new WgradError('data', `--data ${spec}: audio features are computed on the device; start the backend (init) before loading ${dir}`);
  const given = givenPreprocessing(opts, 'audio', spec);
  const tr = await listClips(dir, 'train');
  const te = await listClips(dir, 'test', tr.classes);
  const trainClips = sampleClips(tr.clips, opts.trainLimit, opts.limitSeed ?? 0);
  const testClips = sampleClips(te.clips, opts.testLimit, opts.limitSeed ?? 0);
  if (!trainClips.length || !testClips.length) throw new WgradError('data', `--data ${spec}: a limit of 0 leaves no ${trainClips.length ? 'test' : 'training'} clips`);
  const fitted = given && givenFeatures(given.features, dir);
  const sampleRate = fitted?.sampleRate ?? (await readWavFile(trainClips[0].path)).sampleRate;
  const logMel = fitted?.logMel ?? logMelOptions(sampleRate, trainClips[0].path);
  const cache = join(dir, CACHE);
  const id = await cacheKey(dir, trainClips, testClips, logMel);
  let [trainX, testX] = (await readCache(cache, id, trainClips.length, testClips.length)) ?? [];
  if (!trainX || !testX) {
    trainX = await features(trainClips, sampleRate, logMel);
    testX = await features(testClips, sampleRate, logMel);
    await writeCache(cache, id, trainX, testX);
  }
  const audio: AudioFeatures = fitted ?? { sampleRate, clipSamples: Math.round(sampleRate * CLIP_SECONDS), logMel, ...bandStatistics(trainX) };
  standardize(trainX, audio);
  standardize(testX, audio);
  const split = (clips: Clip[], x: Float32Array): HostSplit => ({ x, labels: Int32Array.from(clips, (c) => c.label), n: clips.length });
  return {
    domain: 'audio', train: split(trainClips, trainX), test: split(testClips, testX), shape: [1, AUDIO_MELS, AUDIO_FRAMES],
    classes: tr.classes.length, classNames: tr.classes, dir, preprocessing: { domain: 'audio', features: audio },
    description: `WAV clips in ${displayPath(dir)}: ${trainClips.length} training and ${testClips.length} test clips at ${sampleRate} Hz, ${tr.classes.length} classes, `
      + `log-mel [1, ${AUDIO_MELS}, ${AUDIO_FRAMES}] (nFft ${logMel.nFft}, hop ${logMel.hopLength}), standardized per band ${fitted ? 'with the statistics given, not fitted on these clips' : 'on the training clips'}`,
  };
}

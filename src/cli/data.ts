/**
 * Datasets for the command line, in three domains, kept on the host and uploaded one batch at a time
 * (the full Fashion-MNIST training set, 188 MB as float32, exceeds lavapipe's 128 MiB binding limit).
 *
 *   --data subset          images: the 2,000/1,000 Fashion-MNIST subset committed in data/ (the default)
 *   --data fashion-mnist   images: the full set from Debian's dataset-fashion-mnist (/usr/share/datasets)
 *   --data <dir>           images: a directory with the four IDX files (gzipped or not), named as
 *                          Fashion-MNIST's: train-images-idx3-ubyte, train-labels-idx1-ubyte,
 *                          t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte
 *   --data <file.csv>      tabular: a CSV with a `label` column (and a `split` column), e.g.
 *                          data/satellite.csv (see data-tabular.ts)
 *   --data <wav dir>       audio: DIR/train/<class>/*.wav and DIR/test/<class>/*.wav, e.g. from
 *                          scripts/data/spoken-digits.ts, as log-mel spectrograms (see data-audio.ts)
 */
import { promises as fsp } from 'node:fs';
import { resolve } from 'node:path';
import { displayPath } from './paths.js';
import { WgradError } from '../core/backend.js';
import { FASHION_MNIST_DEBIAN_DIR, FASHION_MNIST_SUBSET_DIR, findFile, readIdxFile } from '../io/node.js';
import type { IdxArray } from '../io/idx.js';
import { tensor } from '../tensor/ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { isAudioDir, loadAudioDataset } from './data-audio.js';
import { givenPreprocessing, type HostDataset, type HostSplit, type LoadOptions } from './dataset.js';
import { loadTabularDataset } from './data-tabular.js';

export type { AudioFeatures, Domain, HostDataset, HostSplit, LoadOptions, Preprocessing } from './dataset.js';

const FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

/** Where `--data <spec>` points. */
export function dataDir(spec: string): string {
  if (spec === 'subset') return FASHION_MNIST_SUBSET_DIR;
  if (spec === 'fashion-mnist') return FASHION_MNIST_DEBIAN_DIR;
  return resolve(spec);
}


/**
 * Loads and validates a dataset (see the module comment); every problem is a WgradError naming the
 * file. An audio directory needs a started backend (its log-mels are computed on the device).
 */
export async function loadDataset(spec: string, opts: LoadOptions = {}): Promise<HostDataset> {
  const dir = dataDir(spec);
  let stat;
  try {
    stat = await fsp.stat(dir);
  } catch (e) {
    const hint = spec === 'fashion-mnist' ? ' (install Debian\'s dataset-fashion-mnist: sudo apt-get install dataset-fashion-mnist)'
      : spec === 'subset' ? ' (the subset ships in the repository\'s data/; from an installed package, pass --data fashion-mnist or a directory)'
        : ' (expected a directory of IDX files, a directory of WAV clips or a .csv file)';
    throw new WgradError('data', `--data ${spec}: ${dir} is not readable: ${(e as Error).message}${hint}`);
  }
  if (stat.isFile()) {
    if (!/\.csv$/i.test(dir)) throw new WgradError('data', `--data ${spec}: ${dir} is a file but not a .csv table; expected a .csv file or a directory (IDX files or WAV clips)`);
    return loadTabularDataset(dir, spec, opts);
  }
  if (!stat.isDirectory()) throw new WgradError('data', `--data ${spec}: ${dir} is neither a directory nor a .csv file`);
  const paths = await Promise.all(FILES.map((f) => findFile(dir, f)));
  if (paths.every((p) => !p) && (await isAudioDir(dir))) return loadAudioDataset(dir, spec, opts);
  const missing = FILES.filter((_, i) => !paths[i]);
  if (missing.length === FILES.length) {
    throw new WgradError('data', `--data ${spec}: ${dir} has neither the four IDX files (${FILES.join(', ')}, gzipped or not) nor WAV clips in train/<class>/ and test/<class>/`);
  }
  if (missing.length) throw new WgradError('data', `--data ${spec}: missing in ${dir}: ${missing.map((m) => `${m}(.gz)`).join(', ')}`);
  givenPreprocessing(opts, 'image', spec); // images have nothing fitted: only the domain must match
  const [trI, trL, teI, teL] = await Promise.all((paths as string[]).map((p) => readIdxFile(p)));
  const train = toSplit(trI, trL, paths[0]!, paths[1]!, opts.trainLimit);
  const test = toSplit(teI, teL, paths[2]!, paths[3]!, opts.testLimit);
  const shape: [number, number, number] = [1, trI.shape[1], trI.shape[2]];
  if (teI.shape[1] !== shape[1] || teI.shape[2] !== shape[2]) {
    throw new WgradError('data', `training images are ${shape[1]}×${shape[2]} but test images ${teI.shape[1]}×${teI.shape[2]}`);
  }
  let classes = 0;
  for (const s of [train, test]) for (const y of s.labels) classes = Math.max(classes, y + 1);
  if (new Set(train.labels).size < 2) {
    throw new WgradError('data', `${paths[1]}: one class only (label ${train.labels[0]}) in the training images${opts.trainLimit !== undefined ? ` (the first ${train.n}, --train-limit)` : ''}; a classification dataset needs at least 2`);
  }
  const what = spec === 'subset' ? 'the committed Fashion-MNIST subset' : spec === 'fashion-mnist' ? 'the full Fashion-MNIST set' : 'IDX files';
  return { domain: 'image', train, test, shape, classes, dir, preprocessing: { domain: 'image' }, description: `${what} in ${displayPath(dir)}: ${train.n} training and ${test.n} test images of ${shape[1]}×${shape[2]}, ${classes} classes` };
}

function toSplit(img: IdxArray, lab: IdxArray, imgPath: string, labPath: string, limit?: number): HostSplit {
  if (img.dtype !== 'uint8' || img.shape.length !== 3) {
    throw new WgradError('data', `${imgPath}: expected uint8 images [N, H, W], got ${img.dtype} [${img.shape.join(', ')}]`);
  }
  if (lab.shape.length !== 1 || lab.shape[0] !== img.shape[0]) {
    throw new WgradError('data', `${labPath}: expected ${img.shape[0]} labels (one per image in ${imgPath}), got [${lab.shape.join(', ')}]`);
  }
  const n = Math.min(img.shape[0], limit ?? Infinity);
  if (n < 1) throw new WgradError('data', `${imgPath}: no images`);
  const labels = Int32Array.from(lab.data.subarray(0, n));
  for (let i = 0; i < n; i++) {
    if (!(Number.isInteger(labels[i]) && labels[i] >= 0 && labels[i] < 1000)) throw new WgradError('data', `${labPath}: label ${labels[i]} at index ${i} is not a class index`);
  }
  const size = img.shape[1] * img.shape[2];
  return { x: (img.data as Uint8Array).subarray(0, n * size), labels, n };
}

/**
 * Rows `rows` of a split as device tensors: x [B, ...shape] float32 (images scaled from uint8 to
 * [0, 1], other domains as stored), y [B] int32.
 */
export function batchTensors(split: HostSplit, shape: readonly number[], rows: ArrayLike<number>): { x: Tensor; y: Tensor } {
  const size = shape.reduce((a, b) => a * b, 1);
  if (split.x.length !== split.n * size) {
    throw new WgradError('data', `a split of ${split.n} examples holds ${split.x.length} values, not ${split.n} × ${size} for examples of shape [${shape.join(', ')}]`);
  }
  const x = new Float32Array(rows.length * size);
  const y = new Int32Array(rows.length);
  const scale = split.x instanceof Uint8Array ? 1 / 255 : 1;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!(Number.isInteger(r) && r >= 0 && r < split.n)) throw new WgradError('data', `row ${r} is outside the split's ${split.n} examples`);
    const src = split.x.subarray(r * size, (r + 1) * size);
    if (scale === 1) x.set(src, i * size);
    else for (let j = 0; j < size; j++) x[i * size + j] = src[j] * scale;
    y[i] = split.labels[r];
  }
  return { x: tensor(x, { shape: [rows.length, ...shape] }), y: tensor(y, { shape: [rows.length] }) };
}

/** 0..n−1 in order, in chunks of `size` (for evaluation passes). */
export function* chunks(n: number, size: number): Generator<Int32Array> {
  for (let s = 0; s < n; s += size) yield Int32Array.from({ length: Math.min(size, n - s) }, (_, i) => s + i);
}


/**
 * Datasets for the command line, kept on the host as bytes and uploaded one batch at a time (the
 * full Fashion-MNIST training set, 188 MB as float32, exceeds lavapipe's 128 MiB binding limit).
 *
 *   --data subset          the 2,000/1,000 Fashion-MNIST subset committed in data/ (the default)
 *   --data fashion-mnist   the full set from Debian's dataset-fashion-mnist (/usr/share/datasets)
 *   --data <dir>           a directory with the four IDX files (gzipped or not), named as
 *                          Fashion-MNIST's: train-images-idx3-ubyte, train-labels-idx1-ubyte,
 *                          t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte
 */
import { promises as fsp } from 'node:fs';
import { resolve } from 'node:path';
import { WgradError } from '../core/backend.js';
import { FASHION_MNIST_DEBIAN_DIR, FASHION_MNIST_SUBSET_DIR, findFile, readIdxFile } from '../io/node.js';
import type { IdxArray } from '../io/idx.js';
import { tensor } from '../tensor/ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';

export interface HostSplit {
  /** uint8 pixels, row-major [n, C, H, W]. */
  images: Uint8Array;
  labels: Int32Array;
  n: number;
}

export interface HostDataset {
  train: HostSplit;
  test: HostSplit;
  /** [C, H, W]. */
  shape: [number, number, number];
  classes: number;
  dir: string;
  description: string;
}

const FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

/** Where `--data <spec>` points. */
export function dataDir(spec: string): string {
  if (spec === 'subset') return FASHION_MNIST_SUBSET_DIR;
  if (spec === 'fashion-mnist') return FASHION_MNIST_DEBIAN_DIR;
  return resolve(spec);
}

export interface LoadOptions {
  /** Keep the first n training / test examples. */
  trainLimit?: number;
  testLimit?: number;
}

/** Loads and validates a dataset; every problem is a WgradError naming the file. */
export async function loadDataset(spec: string, opts: LoadOptions = {}): Promise<HostDataset> {
  const dir = dataDir(spec);
  try {
    if (!(await fsp.stat(dir)).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    const hint = spec === 'fashion-mnist' ? ' (install Debian\'s dataset-fashion-mnist: sudo apt-get install dataset-fashion-mnist)'
      : spec === 'subset' ? ' (the subset ships in the repository\'s data/; from an installed package, pass --data fashion-mnist or a directory)' : '';
    throw new WgradError('data', `--data ${spec}: ${dir} is not a readable directory: ${(e as Error).message}${hint}`);
  }
  const paths = await Promise.all(FILES.map((f) => findFile(dir, f)));
  const missing = FILES.filter((_, i) => !paths[i]);
  if (missing.length) throw new WgradError('data', `--data ${spec}: missing in ${dir}: ${missing.map((m) => `${m}(.gz)`).join(', ')}`);
  const [trI, trL, teI, teL] = await Promise.all((paths as string[]).map((p) => readIdxFile(p)));
  const train = toSplit(trI, trL, paths[0]!, paths[1]!, opts.trainLimit);
  const test = toSplit(teI, teL, paths[2]!, paths[3]!, opts.testLimit);
  const shape: [number, number, number] = [1, trI.shape[1], trI.shape[2]];
  if (teI.shape[1] !== shape[1] || teI.shape[2] !== shape[2]) {
    throw new WgradError('data', `training images are ${shape[1]}×${shape[2]} but test images ${teI.shape[1]}×${teI.shape[2]}`);
  }
  let classes = 0;
  for (const s of [train, test]) for (const y of s.labels) classes = Math.max(classes, y + 1);
  const what = spec === 'subset' ? 'the committed Fashion-MNIST subset' : spec === 'fashion-mnist' ? 'the full Fashion-MNIST set' : 'IDX files';
  return { train, test, shape, classes, dir, description: `${what} in ${dir}: ${train.n} training and ${test.n} test images of ${shape[1]}×${shape[2]}, ${classes} classes` };
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
  return { images: (img.data as Uint8Array).subarray(0, n * size), labels, n };
}

/** Rows `rows` of a split as device tensors: x [B, C, H, W] float32 in [0, 1], y [B] int32. */
export function batchTensors(split: HostSplit, shape: readonly [number, number, number], rows: ArrayLike<number>): { x: Tensor; y: Tensor } {
  const size = shape[0] * shape[1] * shape[2];
  const x = new Float32Array(rows.length * size);
  const y = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const src = split.images.subarray(r * size, (r + 1) * size);
    for (let j = 0; j < size; j++) x[i * size + j] = src[j] / 255;
    y[i] = split.labels[r];
  }
  return { x: tensor(x, { shape: [rows.length, ...shape] }), y: tensor(y, { shape: [rows.length] }) };
}

/** 0..n−1 in order, in chunks of `size` (for evaluation passes). */
export function* chunks(n: number, size: number): Generator<Int32Array> {
  for (let s = 0; s < n; s += size) yield Int32Array.from({ length: Math.min(size, n - s) }, (_, i) => s + i);
}

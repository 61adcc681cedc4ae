/**
 * File-system I/O (Node only; reachable from `src/node.ts`, never from the core): datasets on disk
 * and checkpoints. Everything else in `io` works on bytes and lives in `src/io/index.ts`, which this
 * module re-exports.
 */
import { promises as fsp, constants as fsConstants } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { WgradError } from '../core/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { idxImages, idxLabels, parseIdx, type IdxArray } from './idx.js';
import { parseWav, type Wav } from './wav.js';
import { decodeUtf8 } from './bytes.js';
import { parseCsv, type CsvOptions, type CsvTable } from './csv.js';
import { deserializeTree, serializeTree, type SerializeOptions } from './safetensors.js';

export * from './index.js';

/** Reads and parses an IDX file (gzipped or not). */
export async function readIdxFile(path: string): Promise<IdxArray> {
  return parseIdx(await readFileNamed('readIdxFile', path), path);
}

/** Reads a WAV file (see `parseWav`). */
export async function readWavFile(path: string, opts: { mono?: boolean } = {}): Promise<Wav> {
  return parseWav(await readFileNamed('readWavFile', path), { ...opts, name: path });
}

/** Reads a UTF-8 CSV file (see `parseCsv`; other encodings are refused, see `decodeUtf8`); the path appears in errors. */
export async function readCsvFile(path: string, opts: Omit<CsvOptions, 'name'> = {}): Promise<CsvTable> {
  const bytes = await readFileNamed('readCsvFile', path);
  return parseCsv(decodeUtf8(bytes, path), { ...opts, name: path });
}

async function readFileNamed(op: string, path: string): Promise<Uint8Array> {
  try {
    return await fsp.readFile(path);
  } catch (e) {
    throw new WgradError(op, `cannot read ${path}: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Fashion-MNIST

/** Where Debian's `dataset-fashion-mnist` installs the full set. */
export const FASHION_MNIST_DEBIAN_DIR = '/usr/share/datasets/fashion-mnist';
/** The committed subset (2,000 training / 1,000 test examples), relative to this module. */
export const FASHION_MNIST_SUBSET_DIR = fileURLToPath(new URL('../../data/fashion-mnist-subset/', import.meta.url));
/** Fashion-MNIST's class names, by label. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;
const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

/** Fashion-MNIST as tensors, and where it was read from. */
export interface FashionMnist {
  train: { images: Tensor; labels: Tensor };
  test: { images: Tensor; labels: Tensor };
  /** 'full': Debian's set; 'subset': the committed subset; 'dir': the directory given. */
  source: 'full' | 'subset' | 'dir';
  dir: string;
  /** A one-line account of what was loaded, e.g. for a log. */
  description: string;
  classes: readonly string[];
}

/** Options of `loadFashionMnist`: where to read it from and how many examples to keep. */
export interface FashionMnistOptions {
  /** A directory holding the four IDX files (gzipped or not); overrides the search. */
  dir?: string;
  /** true: use the committed subset even when the full set is installed. */
  subset?: boolean;
  /** Keep only the first `trainLimit` training / `testLimit` test examples. */
  trainLimit?: number;
  testLimit?: number;
}

/**
 * Loads Fashion-MNIST as tensors: images [N, 1, 28, 28] float32 in [0, 1], labels [N] int32 (the
 * caller owns them). Looks in `dir` if given; otherwise in Debian's full set
 * (/usr/share/datasets/fashion-mnist) unless `subset` is set, falling back to the committed subset
 * (data/fashion-mnist-subset). `source` and `description` say which was used.
 */
export async function loadFashionMnist(opts: FashionMnistOptions = {}): Promise<FashionMnist> {
  let dir: string, source: FashionMnist['source'];
  if (opts.dir !== undefined) {
    [dir, source] = [resolve(opts.dir), 'dir'];
  } else if (!opts.subset && (await findFile(FASHION_MNIST_DEBIAN_DIR, FILES.trainImages)) !== undefined) {
    [dir, source] = [FASHION_MNIST_DEBIAN_DIR, 'full'];
  } else {
    [dir, source] = [FASHION_MNIST_SUBSET_DIR, 'subset'];
  }
  // Look up all four first, so that the error lists every missing file (and does not depend on
  // which parallel read fails first).
  const names = [FILES.trainImages, FILES.trainLabels, FILES.testImages, FILES.testLabels];
  const paths = await Promise.all(names.map((file) => findFile(dir, file)));
  const missing = names.filter((_, i) => paths[i] === undefined).map((file) => `${join(dir, file)}(.gz)`);
  if (missing.length > 0) {
    const hint = source === 'dir' ? '' : ' (install Debian\'s dataset-fashion-mnist, or pass { dir })';
    throw new WgradError('loadFashionMnist', `${missing.join(', ')} not found${hint}`);
  }
  const [[trI, trIPath], [trL, trLPath], [teI, teIPath], [teL, teLPath]] = await Promise.all(
    (paths as string[]).map(async (path): Promise<[IdxArray, string]> => [await readIdxFile(path), path]),
  );
  const check = (img: IdxArray, imgPath: string, lab: IdxArray, labPath: string) => {
    if (img.dtype !== 'uint8' || img.shape.length !== 3 || img.shape[1] !== 28 || img.shape[2] !== 28) {
      throw new WgradError('loadFashionMnist', `${imgPath}: expected uint8 images [N, 28, 28], got ${img.dtype} [${img.shape.join(', ')}]`);
    }
    if (lab.shape.length !== 1 || lab.shape[0] !== img.shape[0]) {
      throw new WgradError('loadFashionMnist', `dims mismatch: ${imgPath} has ${img.shape[0]} images but ${labPath} has dims [${lab.shape.join(', ')}]`);
    }
    for (const v of lab.data) {
      if (!(v >= 0 && v <= 9)) throw new WgradError('loadFashionMnist', `${labPath}: label ${v} is outside 0..9`);
    }
  };
  check(trI, trIPath, trL, trLPath);
  check(teI, teIPath, teL, teLPath);
  const train = { images: idxImages(trI, { limit: opts.trainLimit }), labels: idxLabels(trL, { limit: opts.trainLimit }) };
  const test = { images: idxImages(teI, { limit: opts.testLimit }), labels: idxLabels(teL, { limit: opts.testLimit }) };
  const what = { full: 'the full set', subset: 'the committed subset', dir: 'the given directory' }[source];
  const description = `Fashion-MNIST from ${what} (${dir}): ${train.images.shape[0]} training and ${test.images.shape[0]} test images`;
  return { train, test, source, dir, description, classes: FASHION_MNIST_CLASSES };
}

/** @internal The path of `name.gz` or `name` in `dir`, if either exists (also used by the CLI). */
export async function findFile(dir: string, name: string): Promise<string | undefined> {
  for (const candidate of [join(dir, `${name}.gz`), join(dir, name)]) {
    try {
      await fsp.access(candidate, fsConstants.R_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

/**
 * Writes a pytree to `path` as safetensors (see `serializeTree`), atomically (`writeFileAtomic`): a
 * failure at any point leaves an existing checkpoint at `path` untouched.
 */
export async function saveCheckpoint(path: string, tree: unknown, opts: SerializeOptions = {}): Promise<void> {
  await writeFileAtomic(path, await serializeTree(tree, opts), 'saveCheckpoint');
}

/**
 * The temporary files of `writeFileAtomic`: `.<name>.<pid>.<12 hex digits>.tmp` in the target's
 * directory (group 1: the target's name, group 2: the writer's pid). A process killed between the
 * write and the rename leaves one behind; run directories remove them on start (src/cli/run-dir.ts).
 */
export const TEMP_FILE = /^\.(.+)\.(\d+)\.[0-9a-f]{12}\.tmp$/;

/** A fresh temporary path next to `path`, named as `TEMP_FILE` says. */
export function tempPathFor(path: string): string {
  return join(dirname(resolve(path)), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes `bytes` to `path` atomically: they go to a temporary file in the same directory, which is
 * fsync'ed and renamed over `path` (then the directory is fsync'ed, where the platform allows). A
 * failure at any point leaves an existing file at `path` untouched and removes the temporary file;
 * the error (a WgradError of `op`) names `path`.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string, op = 'writeFileAtomic'): Promise<void> {
  const dir = dirname(resolve(path));
  const tmp = tempPathFor(path);
  let handle: Awaited<ReturnType<typeof fsp.open>> | undefined;
  try {
    handle = await fsp.open(tmp, 'wx', 0o644);
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(tmp, path);
  } catch (e) {
    await handle?.close().catch(() => {});
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw new WgradError(op, `cannot write ${path}: ${(e as Error).message}`);
  }
  // Make the rename itself durable; not every platform can fsync a directory.
  try {
    const d = await fsp.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // best effort
  }
}

/**
 * Reads a checkpoint written by `saveCheckpoint` (or any safetensors file) into a pytree of new
 * tensors; errors name the file and what is wrong (bad header length, bad JSON, offsets out of
 * range, size mismatch, unsupported dtype).
 */
export async function loadCheckpoint<T = unknown>(path: string): Promise<{ tree: T; metadata: Record<string, string> }> {
  const bytes = await readFileNamed('loadCheckpoint', path);
  return deserializeTree<T>(bytes, { name: path });
}

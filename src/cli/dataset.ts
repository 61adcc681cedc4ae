/**
 * The shapes of a command-line dataset and the checks on them, shared by the loaders (data.ts
 * dispatches to data-audio.ts and data-tabular.ts, which build these): kept apart so that the
 * loaders do not import each other.
 */
import type { LogMelOptions } from '../data/audio.js';
import type { TabularSchema } from '../io/csv.js';
import { UsageError } from './args.js';

export type Domain = 'image' | 'tabular' | 'audio';

export interface HostSplit {
  /**
   * The examples, row-major [n, ...shape]: uint8 pixels for images (batchTensors scales them to
   * [0, 1]), preprocessed float32 features for tables and log-mel spectrograms.
   */
  x: Uint8Array | Float32Array;
  labels: Int32Array;
  n: number;
}

/**
 * What a loader fits on the training split and applies to every split, as plain JSON, so that a run
 * can store it (in its checkpoint) and `eval` can prepare its data exactly as training did instead
 * of fitting it again on other examples:
 *   image    nothing is fitted (pixels are divided by 255)
 *   tabular  the CSV schema: column kinds, the training means and standard deviations, categories
 *            and classes (src/io/csv.ts)
 *   audio    the log-mel settings and the per-band training mean and standard deviation
 */
export type Preprocessing =
  | { domain: 'image' }
  | { domain: 'tabular'; schema: TabularSchema }
  | { domain: 'audio'; features: AudioFeatures };

export interface HostDataset {
  domain: Domain;
  train: HostSplit;
  test: HostSplit;
  /** One example's shape: images [C, H, W]; tabular [D]; audio log-mel [1, mels, frames]. */
  shape: readonly number[];
  classes: number;
  /** Class names in class-index order, where the data has them (tables, WAV directories). */
  classNames?: readonly string[];
  /** The directory or file it came from. */
  dir: string;
  description: string;
  /** The preprocessing fitted on the training split (or the one given in LoadOptions), as applied to both splits. */
  preprocessing: Preprocessing;
}

export interface LoadOptions {
  /**
   * Keep n training / test examples: tables and audio a class-stratified sample (`stratifiedSample`
   * with key(limitSeed), so that every class keeps its share whatever the file order); images the
   * first n (the IDX sets are stored in a shuffled order).
   */
  trainLimit?: number;
  testLimit?: number;
  /** The seed of the stratified samples (default 0, so that train and eval pick the same rows). */
  limitSeed?: number;
  /** Apply this preprocessing (e.g. the one a run was trained with) instead of fitting one on the training split. */
  preprocessing?: Preprocessing;
}

/** Audio: the log-mel settings and the per-band training statistics that standardize them. */
export interface AudioFeatures {
  sampleRate: number;
  clipSamples: number;
  logMel: LogMelOptions;
  /** Per mel band, over the training clips' frames. */
  mean: number[];
  std: number[];
}

/**
 * The preprocessing in `opts` for data of `domain` (undefined: fit one); one for another domain is
 * a usage error naming --data.
 */
export function givenPreprocessing<D extends Domain>(opts: LoadOptions, domain: D, spec: string): Extract<Preprocessing, { domain: D }> | undefined {
  const p = opts.preprocessing;
  if (p === undefined) return undefined;
  if (p.domain !== domain) throw new UsageError(`--data ${spec} holds ${domain} data, but the preprocessing to apply (the run's) is for ${p.domain} data`);
  return p as Extract<Preprocessing, { domain: D }>;
}

/**
 * The shapes of a command-line dataset, shared by the loaders (data.ts dispatches to data-audio.ts
 * and data-tabular.ts, which build these): kept apart so that the loaders do not import each other.
 */
import type { LogMelOptions } from '../data/audio.js';
import type { TabularSchema } from '../io/csv.js';

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
  /** Tabular: the preprocessing fitted on the training rows. */
  tabular?: TabularSchema;
  /** Audio: the log-mel settings and the training statistics used to standardize them. */
  audio?: AudioFeatures;
}

export interface LoadOptions {
  /** Keep the first n training / test examples. */
  trainLimit?: number;
  testLimit?: number;
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

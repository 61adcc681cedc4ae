/**
 * Byte-level readers and writers (no file system; they take and give bytes or text, so they run in
 * the browser too): IDX (MNIST-style), CSV for tabular data, WAV, and safetensors checkpoints of any
 * pytree. The file-system parts (`loadFashionMnist`, `saveCheckpoint`, `loadCheckpoint`, `read*File`)
 * are in `src/io/node.ts`, reachable only from the Node entry point.
 */
export { type Bytes, asBytes, isGzip, gunzip, maybeGunzip, decodeUtf8 } from './bytes.js';
export { type IdxArray, type IdxDType, type IdxData, parseIdx, parseIdxBytes, encodeIdx, idxImages, idxLabels } from './idx.js';
export {
  type CsvTable, type CsvOptions, type TabularOptions, type TabularColumn, type TabularSchema, type TabularArrays,
  parseCsv, fitTabular, checkTabularSchema, encodeTabular, tabularTensors, readTabular, classKey, MISSING_CATEGORY, DEFAULT_MISSING,
} from './csv.js';
export { type Wav, parseWav, encodeWav, fixLength, frameSignal } from './wav.js';
export {
  type SafetensorsDType, type SafetensorsEntry, type SafetensorsHeader, type SerializeOptions,
  serializeTree, deserializeTree, readSafetensorsHeader,
} from './safetensors.js';

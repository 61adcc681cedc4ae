/**
 * The IDX format (MNIST, Fashion-MNIST, EMNIST, KMNIST): a 4-byte magic `00 00 <type> <rank>`, then
 * `rank` big-endian uint32 dimensions, then the elements in row-major order, big-endian. Types:
 * 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64. Files are usually
 * gzipped; `parseIdx` detects the gzip magic (1f 8b) and decompresses first.
 *
 * `idxImages` / `idxLabels` turn parsed arrays into tensors: images [N, 1, H, W] float32 in [0, 1]
 * (uint8 / 255), labels [N] int32.
 */
import { WgradError } from '../core/backend.js';
import { fromStorageArray } from '../tensor/engine.js';
import type { Tensor } from '../tensor/tensor.js';
import { asBytes, type Bytes, isGzip, maybeGunzip } from './bytes.js';

/** The element types of the IDX format. */
export type IdxDType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
/** The typed array an IDX array is read into. */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A parsed IDX array: row-major elements in host byte order, and its shape. */
export interface IdxArray {
  dtype: IdxDType;
  shape: number[];
  data: IdxData;
}

const TYPES: Record<number, { dtype: IdxDType; size: number }> = {
  0x08: { dtype: 'uint8', size: 1 },
  0x09: { dtype: 'int8', size: 1 },
  0x0b: { dtype: 'int16', size: 2 },
  0x0c: { dtype: 'int32', size: 4 },
  0x0d: { dtype: 'float32', size: 4 },
  0x0e: { dtype: 'float64', size: 8 },
};

/** Parses IDX bytes (gzipped or not). `name` (e.g. the file name) appears in every error. */
export async function parseIdx(data: Bytes, name = 'IDX data'): Promise<IdxArray> {
  const raw = await maybeGunzip(data, name);
  return parseIdxBytes(raw, name);
}

/** Parses uncompressed IDX bytes synchronously (gzipped input is an error: use `parseIdx`). */
export function parseIdxBytes(data: Bytes, name = 'IDX data'): IdxArray {
  const b = asBytes(data);
  const fail = (msg: string): never => {
    throw new WgradError('parseIdx', `${name}: ${msg}`);
  };
  if (isGzip(b)) fail('the data is gzipped; use the async parseIdx, which decompresses it');
  if (b.length < 4) fail(`truncated: ${b.length} bytes, an IDX header has at least 4`);
  if (b[0] !== 0 || b[1] !== 0) {
    fail(`bad magic ${hex(b.subarray(0, 4))}: an IDX file starts with 00 00 <type> <rank>`);
  }
  const type = TYPES[b[2]];
  if (!type) fail(`bad magic ${hex(b.subarray(0, 4))}: unknown element type code 0x${b[2].toString(16).padStart(2, '0')} (expected 08, 09, 0B, 0C, 0D or 0E)`);
  const rank = b[3];
  if (rank === 0) fail(`bad magic ${hex(b.subarray(0, 4))}: rank 0`);
  const headerSize = 4 + 4 * rank;
  if (b.length < headerSize) fail(`truncated header: rank ${rank} needs ${headerSize} bytes, got ${b.length}`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, d) => a * d, 1);
  const expected = headerSize + count * type.size;
  if (b.length < expected) {
    fail(`truncated data: dims [${shape.join(', ')}] of ${type.dtype} need ${expected} bytes, got ${b.length}`);
  }
  if (b.length > expected) {
    fail(`dims mismatch: dims [${shape.join(', ')}] of ${type.dtype} need ${expected} bytes, but there are ${b.length} (${b.length - expected} extra)`);
  }
  const at = headerSize;
  let out: IdxData;
  switch (type.dtype) {
    case 'uint8': out = b.slice(at, expected); break;
    case 'int8': out = new Int8Array(b.slice(at, expected).buffer); break;
    case 'int16': out = Int16Array.from({ length: count }, (_, i) => view.getInt16(at + 2 * i, false)); break;
    case 'int32': out = Int32Array.from({ length: count }, (_, i) => view.getInt32(at + 4 * i, false)); break;
    case 'float32': out = Float32Array.from({ length: count }, (_, i) => view.getFloat32(at + 4 * i, false)); break;
    case 'float64': out = Float64Array.from({ length: count }, (_, i) => view.getFloat64(at + 8 * i, false)); break;
  }
  return { dtype: type.dtype, shape, data: out };
}

/** Encodes an array as (uncompressed) IDX bytes, big-endian; the inverse of `parseIdxBytes`. */
export function encodeIdx(arr: IdxArray): Uint8Array {
  const code = Number(Object.entries(TYPES).find(([, t]) => t.dtype === arr.dtype)?.[0]);
  const size = TYPES[code].size;
  const count = arr.shape.reduce((a, d) => a * d, 1);
  if (count !== arr.data.length) {
    throw new WgradError('encodeIdx', `shape [${arr.shape}] has ${count} elements, data has ${arr.data.length}`);
  }
  const headerSize = 4 + 4 * arr.shape.length;
  const out = new Uint8Array(headerSize + count * size);
  const v = new DataView(out.buffer);
  out[2] = code;
  out[3] = arr.shape.length;
  arr.shape.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < count; i++) {
    const x = arr.data[i], at = headerSize + i * size;
    switch (arr.dtype) {
      case 'uint8': v.setUint8(at, x); break;
      case 'int8': v.setInt8(at, x); break;
      case 'int16': v.setInt16(at, x, false); break;
      case 'int32': v.setInt32(at, x, false); break;
      case 'float32': v.setFloat32(at, x, false); break;
      case 'float64': v.setFloat64(at, x, false); break;
    }
  }
  return out;
}

/**
 * Images [N, H, W] (uint8, as in MNIST) → a float32 tensor [N, 1, H, W] in [0, 1] (value / 255).
 * A rank-4 [N, C, H, W] uint8 array keeps its channels. Float arrays are taken as they are.
 * `limit` keeps the first `limit` images.
 */
export function idxImages(arr: IdxArray, opts: { limit?: number; name?: string } = {}): Tensor {
  const name = opts.name ?? 'IDX images';
  if (arr.shape.length !== 3 && arr.shape.length !== 4) {
    throw new WgradError('idxImages', `${name}: expected dims [N, H, W] or [N, C, H, W], got [${arr.shape.join(', ')}]`);
  }
  const n = Math.min(arr.shape[0], opts.limit ?? Infinity);
  const shape = arr.shape.length === 3 ? [n, 1, arr.shape[1], arr.shape[2]] : [n, ...arr.shape.slice(1)];
  const count = shape.reduce((a, d) => a * d, 1);
  const out = new Float32Array(count);
  const scale = arr.dtype === 'uint8' ? 1 / 255 : 1;
  for (let i = 0; i < count; i++) out[i] = arr.data[i] * scale;
  return fromStorageArray(out, shape, 'float32');
}

/** Labels [N] (any integer type) → an int32 tensor [N]; `limit` keeps the first `limit`. */
export function idxLabels(arr: IdxArray, opts: { limit?: number; name?: string } = {}): Tensor {
  const name = opts.name ?? 'IDX labels';
  if (arr.shape.length !== 1) {
    throw new WgradError('idxLabels', `${name}: expected dims [N], got [${arr.shape.join(', ')}]`);
  }
  if (arr.dtype === 'float32' || arr.dtype === 'float64') {
    throw new WgradError('idxLabels', `${name}: labels must be integers, got ${arr.dtype}`);
  }
  const n = Math.min(arr.shape[0], opts.limit ?? Infinity);
  return fromStorageArray(Int32Array.from(arr.data.subarray(0, n)), [n], 'int32');
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/**
 * Checkpoints as safetensors (https://github.com/huggingface/safetensors), byte-level and pure:
 *
 *   [8 bytes: N, little-endian u64] [N bytes: JSON header, UTF-8, padded with spaces to a multiple
 *   of 8] [data: the tensors' bytes, little-endian, row-major, back to back]
 *
 * The header maps each tensor name to `{ dtype, shape, data_offsets: [begin, end] }` (offsets into
 * the data section) and holds a `__metadata__` map of strings. wgrad writes dtypes F32, I32, U32 and
 * BOOL (one byte per element), and reads those four.
 *
 * Any pytree can be stored (plain objects and arrays; leaves: tensors, numbers, strings, booleans,
 * null, undefined): parameters, optimizer state, BatchNorm state, the step, a PRNG key, a config.
 * Tensors are named by their path (`params.layers[0].w`, deduplicated with `#2`, `#3`, … if two
 * paths print alike), so Python's `safetensors.numpy.load_file` sees readable names; the tree's
 * structure and its non-tensor leaves are stored as JSON in `__metadata__["wgrad.tree"]`, where a
 * tensor is `{"$tensor": name}`, a non-finite number or −0 is `{"$number": "NaN" | "Infinity" |
 * "-Infinity" | "-0"}`, undefined is `{"$undefined": true}` and an object key starting with `$` gets
 * one more `$`. A file without "wgrad.tree" (written by another tool) reads back as a flat object
 * `{ name: tensor }`. Object keys (and flat tensor names) `__proto__`, `constructor` and `prototype`
 * are refused on writing and on reading: assigned to a plain object they would replace or shadow
 * its prototype (a loaded tree could then alias another object, and `dispose(tree)` free tensors
 * it does not own).
 */
import { WgradError } from '../core/backend.js';
import type { DType } from '../core/dtype.js';
import { fromStorageArray } from '../tensor/engine.js';
import { Tensor } from '../tensor/tensor.js';
import { asBytes, type Bytes, LITTLE_ENDIAN } from './bytes.js';

/** The safetensors dtypes wgrad writes and reads. */
export type SafetensorsDType = 'F32' | 'I32' | 'U32' | 'BOOL';

const TO_ST: Record<DType, SafetensorsDType> = { float32: 'F32', int32: 'I32', uint32: 'U32', bool: 'BOOL' };
const FROM_ST: Record<SafetensorsDType, { dtype: DType; size: number }> = {
  F32: { dtype: 'float32', size: 4 },
  I32: { dtype: 'int32', size: 4 },
  U32: { dtype: 'uint32', size: 4 },
  BOOL: { dtype: 'bool', size: 1 },
};

export const TREE_KEY = 'wgrad.tree';
/** The `{"$number": …}` spellings: the numbers JSON cannot hold. */
const NUMBER_MARKERS = ['NaN', 'Infinity', '-Infinity', '-0'] as const;
/** An object key as written (`$$k` stands for the key `$k`). */
const unescapeKey = (k: string) => (k.startsWith('$') ? k.slice(1) : k);
export const FORMAT_VERSION = '1';

/** One tensor's header entry: name, dtype, shape and byte range. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range in the data section. */
  dataOffsets: [number, number];
}

/** A validated header: entries (in offset order), metadata, and where the data section starts. */
export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  dataStart: number;
}

/** Options of safetensors serialization: extra metadata. */
export interface SerializeOptions {
  /** Extra `__metadata__` entries (strings). Keys starting with "wgrad." are reserved. */
  metadata?: Record<string, string>;
}

type Encoded = null | boolean | number | string | Encoded[] | { [k: string]: Encoded };

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Throws (naming `where`) when `key` is one of the keys a plain object cannot safely hold. */
function checkKey(op: string, key: string, where: string): void {
  if (FORBIDDEN_KEYS.has(key)) {
    throw new WgradError(op, `${where}: the key ${JSON.stringify(key)} is not allowed in a tree (it would replace or shadow the object's prototype); rename it`);
  }
}

/**
 * Serializes a pytree to safetensors bytes. Async because tensors are read back from the device.
 * The tensors are not disposed.
 */
export async function serializeTree(tree: unknown, opts: SerializeOptions = {}): Promise<Uint8Array> {
  const tensors: { name: string; t: Tensor }[] = [];
  const used = new Set<string>();
  const encode = (v: unknown, path: string, seen: Set<unknown>): Encoded => {
    if (v instanceof Tensor) {
      if (v.isDisposed) throw new WgradError('serializeTree', `the tensor at ${path || '(root)'} was disposed`);
      let name = path || 'value';
      for (let i = 2; used.has(name); i++) name = `${path || 'value'}#${i}`;
      used.add(name);
      tensors.push({ name, t: v });
      return { $tensor: name };
    }
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (v === undefined) return { $undefined: true };
    if (typeof v === 'number') {
      if (Number.isFinite(v) && !Object.is(v, -0)) return v;
      return { $number: Object.is(v, -0) ? '-0' : String(v) };
    }
    if (typeof v === 'object' && seen.has(v)) throw new WgradError('serializeTree', `the tree has a cycle at ${path || '(root)'}`);
    if (Array.isArray(v)) {
      const inner = new Set(seen).add(v);
      return v.map((x, i) => encode(x, `${path}[${i}]`, inner));
    }
    if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      const inner = new Set(seen).add(v);
      const out: { [k: string]: Encoded } = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        checkKey('serializeTree', k, path || '(root)');
        out[k.startsWith('$') ? `$${k}` : k] = encode(x, path ? `${path}.${k}` : k, inner);
      }
      return out;
    }
    const what = typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v;
    throw new WgradError('serializeTree', `cannot store the ${what} at ${path || '(root)'}: leaves must be tensors, numbers, strings, booleans, null or undefined (convert typed arrays with wg.tensor)`);
  };
  const structure = encode(tree, '', new Set());

  for (const k of Object.keys(opts.metadata ?? {})) {
    if (k.startsWith('wgrad.') || k === 'format') throw new WgradError('serializeTree', `metadata key ${JSON.stringify(k)} is reserved`);
    if (typeof opts.metadata![k] !== 'string') throw new WgradError('serializeTree', `metadata values must be strings; ${JSON.stringify(k)} is ${typeof opts.metadata![k]}`);
  }
  const datas = await Promise.all(tensors.map(({ t }) => t.data()));

  const header: Record<string, unknown> = {
    __metadata__: { format: 'wgrad', 'wgrad.version': FORMAT_VERSION, ...opts.metadata, [TREE_KEY]: JSON.stringify(structure) },
  };
  let offset = 0;
  tensors.forEach(({ name, t }, i) => {
    const size = datas[i].length * FROM_ST[TO_ST[t.dtype]].size;
    header[name] = { dtype: TO_ST[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  });
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  view.setUint32(4, Math.floor(json.length / 2 ** 32), true);
  out.set(json, 8);
  let at = 8 + json.length;
  tensors.forEach(({ t }, i) => {
    const d = datas[i];
    if (t.dtype === 'bool') {
      out.set(d as Uint8Array, at);
    } else if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    } else {
      for (let j = 0; j < d.length; j++) {
        if (t.dtype === 'float32') view.setFloat32(at + 4 * j, d[j], true);
        else if (t.dtype === 'int32') view.setInt32(at + 4 * j, d[j], true);
        else view.setUint32(at + 4 * j, d[j], true);
      }
    }
    at += t.dtype === 'bool' ? d.length : 4 * d.length;
  });
  return out;
}

/** Reads and validates the header of safetensors bytes (no tensors are created). */
export function readSafetensorsHeader(data: Bytes, name = 'safetensors data'): SafetensorsHeader {
  const b = asBytes(data);
  const fail = (msg: string): never => {
    throw new WgradError('safetensors', `${name}: ${msg}`);
  };
  if (b.length < 8) fail(`truncated: ${b.length} bytes; a safetensors file starts with an 8-byte header length`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const lo = view.getUint32(0, true), hi = view.getUint32(4, true);
  const headerLength = hi * 2 ** 32 + lo;
  if (headerLength > b.length - 8) {
    fail(`bad header length ${headerLength}: only ${b.length - 8} bytes follow it (a truncated or non-safetensors file)`);
  }
  if (headerLength < 2) fail(`bad header length ${headerLength}`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(8, 8 + headerLength)));
  } catch (e) {
    fail(`bad JSON header (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('bad header: the JSON is not an object');
  const dataStart = 8 + headerLength;
  const dataLength = b.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [key, raw] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('bad header: __metadata__ is not an object');
      for (const [k, val] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof val !== 'string') fail(`bad header: __metadata__[${JSON.stringify(k)}] is not a string`);
        metadata[k] = val as string;
      }
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const what = `tensor ${JSON.stringify(key)}`;
    if (typeof e !== 'object' || e === null) fail(`bad header: ${what} is not an object`);
    if (typeof e.dtype !== 'string') fail(`bad header: ${what} has no dtype`);
    const st = FROM_ST[e.dtype as SafetensorsDType];
    if (!st || !Object.hasOwn(FROM_ST, e.dtype as string)) fail(`${what} has dtype ${e.dtype}; wgrad reads F32, I32, U32 and BOOL`);
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      fail(`bad header: ${what} has shape ${JSON.stringify(e.shape)}, expected non-negative integers`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || off.some((o) => !Number.isSafeInteger(o) || o < 0) || off[0] > off[1]) {
      fail(`bad header: ${what} has data_offsets ${JSON.stringify(off)}, expected [begin, end] with 0 ≤ begin ≤ end`);
    }
    const [begin, end] = off as [number, number];
    const shape = e.shape as number[];
    const expected = shape.reduce((a, d) => a * d, 1) * st.size;
    if (end - begin !== expected) {
      fail(`size mismatch: ${what} (${e.dtype} [${shape.join(', ')}]) needs ${expected} bytes, its data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    if (end > dataLength) {
      fail(`offsets out of range: ${what} ends at byte ${end} of a data section of ${dataLength} bytes (truncated file?)`);
    }
    entries.push({ name: key, dtype: e.dtype as SafetensorsDType, shape, dataOffsets: [begin, end] });
  }
  entries.sort((a, c) => a.dataOffsets[0] - c.dataOffsets[0] || a.dataOffsets[1] - c.dataOffsets[1]);
  let covered = 0;
  for (const e of entries) {
    if (e.dataOffsets[0] < covered) fail(`bad header: tensor ${JSON.stringify(e.name)} overlaps the tensor before it`);
    if (e.dataOffsets[0] > covered) fail(`bad header: bytes ${covered}..${e.dataOffsets[0]} of the data section belong to no tensor`);
    covered = e.dataOffsets[1];
  }
  if (covered !== dataLength) {
    fail(`size mismatch: the tensors cover ${covered} bytes but the data section has ${dataLength}`);
  }
  return { entries, metadata, dataStart };
}

/** Reads one entry's bytes into a new tensor on the current backend. */
function readTensor(b: Uint8Array, start: number, e: SafetensorsEntry): Tensor {
  const { dtype } = FROM_ST[e.dtype];
  const bytes = new Uint8Array(e.dataOffsets[1] - e.dataOffsets[0]); // a fresh, aligned copy
  bytes.set(b.subarray(start + e.dataOffsets[0], start + e.dataOffsets[1]));
  const n = e.shape.reduce((a, d) => a * d, 1);
  if (dtype === 'bool') return fromStorageArray(Uint32Array.from(bytes, (x) => (x ? 1 : 0)), e.shape, 'bool');
  if (LITTLE_ENDIAN) {
    const arr = dtype === 'float32' ? new Float32Array(bytes.buffer) : dtype === 'int32' ? new Int32Array(bytes.buffer) : new Uint32Array(bytes.buffer);
    return fromStorageArray(arr, e.shape, dtype);
  }
  const v = new DataView(bytes.buffer);
  const arr = dtype === 'float32' ? new Float32Array(n) : dtype === 'int32' ? new Int32Array(n) : new Uint32Array(n);
  for (let i = 0; i < n; i++) arr[i] = dtype === 'float32' ? v.getFloat32(4 * i, true) : dtype === 'int32' ? v.getInt32(4 * i, true) : v.getUint32(4 * i, true);
  return fromStorageArray(arr, e.shape, dtype);
}

/**
 * Reads safetensors bytes back into a pytree of new tensors (on the current backend; the caller
 * owns them) and the `__metadata__` map. Every error names `name` and what is wrong.
 */
export function deserializeTree<T = unknown>(data: Bytes, opts: { name?: string } = {}): { tree: T; metadata: Record<string, string> } {
  const name = opts.name ?? 'safetensors data';
  const b = asBytes(data);
  const header = readSafetensorsHeader(b, name);
  const byName = new Map(header.entries.map((e) => [e.name, e]));
  const fail = (msg: string): never => {
    throw new WgradError('safetensors', `${name}: ${msg}`);
  };
  const rawTree = header.metadata[TREE_KEY];
  if (rawTree === undefined) {
    // A file from another writer: a flat object of its tensors.
    const flat: Record<string, Tensor> = {};
    for (const e of header.entries) checkKey('safetensors', e.name, `${name}: tensor name`);
    for (const e of header.entries) flat[e.name] = readTensor(b, header.dataStart, e);
    return { tree: flat as T, metadata: header.metadata };
  }
  let structure: Encoded;
  try {
    structure = JSON.parse(rawTree);
  } catch (e) {
    return fail(`bad JSON in __metadata__["${TREE_KEY}"] (${(e as Error).message})`);
  }
  // Check every reference before creating any tensor, so a bad file leaks nothing.
  const refs = new Set<string>();
  const collect = (v: Encoded, path: string): void => {
    if (Array.isArray(v)) v.forEach((x, i) => collect(x, `${path}[${i}]`));
    else if (v && typeof v === 'object') {
      const keys = Object.keys(v);
      if (typeof v.$tensor === 'string' && keys.length === 1) {
        if (!byName.has(v.$tensor)) fail(`the tree refers to tensor ${JSON.stringify(v.$tensor)}, which the file does not hold`);
        refs.add(v.$tensor);
      } else if (keys.length === 1 && keys[0] === '$number') {
        // Only the spellings serializeTree writes: anything else would read back as NaN.
        if (!(NUMBER_MARKERS as readonly unknown[]).includes(v.$number)) {
          fail(`the number at ${path || '(root)'} is ${JSON.stringify(v.$number)}; a {"$number": …} entry must be one of ${NUMBER_MARKERS.map((m) => JSON.stringify(m)).join(', ')}`);
        }
      } else {
        for (const k of keys) {
          const key = unescapeKey(k);
          checkKey('safetensors', key, `${name}: the tree in __metadata__["${TREE_KEY}"]`);
          collect(v[k], path ? `${path}.${key}` : key);
        }
      }
    }
  };
  collect(structure, '');
  const decode = (v: Encoded): unknown => {
    if (Array.isArray(v)) return v.map(decode);
    if (v === null || typeof v !== 'object') return v;
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === '$tensor') return readTensor(b, header.dataStart, byName.get(v.$tensor as string)!);
    if (keys.length === 1 && keys[0] === '$number') return v.$number === '-0' ? -0 : Number(v.$number);
    if (keys.length === 1 && keys[0] === '$undefined') return undefined;
    const out: Record<string, unknown> = {};
    for (const k of keys) out[unescapeKey(k)] = decode(v[k]);
    return out;
  };
  return { tree: decode(structure) as T, metadata: header.metadata };
}

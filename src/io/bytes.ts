/**
 * Byte helpers shared by the readers: gzip detection and decompression with the web-standard
 * `DecompressionStream` (Node ≥ 18 and browsers; the core imports no Node module), and input
 * normalization.
 */
import { WgradError } from '../core/backend.js';

/** What the readers accept: raw bytes in any form a `fetch` or `fs.readFile` gives. */
export type Bytes = Uint8Array | ArrayBuffer | ArrayBufferView;

/**
 * A plain Uint8Array over the same memory (no copy). Subclasses such as Node's Buffer are re-wrapped,
 * since their `slice` does not copy.
 */
export function asBytes(data: Bytes): Uint8Array {
  if (data instanceof Uint8Array && data.constructor === Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new WgradError('io', `expected bytes (Uint8Array, ArrayBuffer or a typed array), got ${Object.prototype.toString.call(data)}`);
}

/** True when the bytes start with the gzip magic 1f 8b. */
export function isGzip(data: Bytes): boolean {
  const b = asBytes(data);
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** Decompresses gzip bytes with `DecompressionStream('gzip')`; `name` appears in errors. */
export async function gunzip(data: Bytes, name = 'gzip data'): Promise<Uint8Array> {
  const b = asBytes(data);
  if (typeof DecompressionStream === 'undefined') {
    throw new WgradError('gunzip', `${name}: DecompressionStream is not available in this runtime (needs Node ≥ 18 or a current browser)`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    const stream = new Blob([b as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.length;
    }
  } catch (e) {
    throw new WgradError('gunzip', `${name}: corrupt or truncated gzip data (${(e as Error).message})`);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The bytes, decompressed when they are gzipped. */
export async function maybeGunzip(data: Bytes, name?: string): Promise<Uint8Array> {
  return isGzip(data) ? gunzip(data, name) : asBytes(data);
}

/** True on little-endian hosts (every current platform; the writers check). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

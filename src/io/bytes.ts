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

/**
 * Decodes UTF-8 text strictly: a byte sequence that is not UTF-8 is an error naming `name`, the line
 * and the byte offset, where a lenient decoder would put U+FFFD in its place (so that, in a CSV,
 * two labels differing only in an accented letter would become one). Single-byte encodings such as
 * Latin-1 or Windows-1252 fail here, and the error says how to convert them. A byte-order mark is
 * dropped.
 */
export function decodeUtf8(data: Bytes, name = 'text'): string {
  const b = asBytes(data);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    const at = invalidUtf8At(b);
    let line = 1, lineStart = 0;
    for (let i = 0; i < at; i++) if (b[i] === 0x0a) [line, lineStart] = [line + 1, i + 1];
    const before = new TextDecoder().decode(b.subarray(Math.max(lineStart, at - 24), at));
    throw new WgradError('decodeUtf8', `${name}, line ${line}: the byte 0x${b[at].toString(16).padStart(2, '0')} at offset ${at} (after ${JSON.stringify(before)}) is not valid UTF-8; `
      + 'the text must be UTF-8 (a file in Latin-1 or Windows-1252 can be converted with `iconv -f latin1 -t utf-8`)');
  }
}

/**
 * The offset of the first byte that starts an ill-formed UTF-8 sequence (the well-formed sequences of
 * the Unicode standard, table 3-7, as the WHATWG decoder accepts them), or the length when there is none.
 */
function invalidUtf8At(b: Uint8Array): number {
  for (let i = 0; i < b.length;) {
    const x = b[i];
    if (x < 0x80) { i++; continue; }
    // The continuation bytes after the lead byte x, and the allowed range of the first of them.
    const [need, lo, hi] = x >= 0xc2 && x <= 0xdf ? [1, 0x80, 0xbf]
      : x === 0xe0 ? [2, 0xa0, 0xbf] : x === 0xed ? [2, 0x80, 0x9f] : x >= 0xe1 && x <= 0xef ? [2, 0x80, 0xbf]
        : x === 0xf0 ? [3, 0x90, 0xbf] : x === 0xf4 ? [3, 0x80, 0x8f] : x >= 0xf1 && x <= 0xf3 ? [3, 0x80, 0xbf] : [0, 0, 0];
    if (need === 0) return i;
    for (let k = 1; k <= need; k++) {
      const y = b[i + k];
      if (i + k >= b.length || y < (k === 1 ? lo : 0x80) || y > (k === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return b.length;
}

/** True on little-endian hosts (every current platform; the writers check). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

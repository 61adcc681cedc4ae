/**
 * RIFF/WAVE audio. `parseWav` reads PCM 16-bit integer (format 1) and IEEE 32-bit float (format 3)
 * data, also inside WAVE_FORMAT_EXTENSIBLE (0xFFFE) headers, with any number of channels; other
 * formats (8/24/32-bit integer PCM, µ-law, ADPCM, 64-bit float, ...) are errors naming the format.
 * Samples come back as float32: 16-bit PCM divided by 32768 (in [−1, 1)), floats as stored; a
 * NaN or ±∞ float sample is an error naming the sample (it would poison every statistic computed
 * over the clip). How large a finite sample may be depends on what is computed from it (see
 * `logMelAmplitudeLimit` in `data`).
 * Several channels are mixed down to mono by averaging them (the usual mix-down of torchaudio /
 * librosa `mono=True`); `channels` says how many there were, and `{ mono: false }` keeps them
 * (interleaved, as in the file).
 *
 * Framing (`fixLength`, `frameSignal`) is done on the host; the log-mel spectrogram on the device is
 * in `data` (`logMelSpectrogram`).
 */
import { WgradError } from '../core/backend.js';
import { asBytes, type Bytes } from './bytes.js';

/** A decoded WAV file: float32 samples, sample rate and channel count. */
export interface Wav {
  /** Mono samples (or interleaved channels with `mono: false`), float32. */
  samples: Float32Array;
  sampleRate: number;
  /** Channels in the file. */
  channels: number;
  /** 'pcm16' or 'float32', as stored in the file. */
  format: 'pcm16' | 'float32';
  /** Frames (samples per channel). */
  length: number;
}

/** Parses a RIFF/WAVE file (see the module comment for what is supported). */
export function parseWav(data: Bytes, opts: { name?: string; mono?: boolean } = {}): Wav {
  const name = opts.name ?? 'WAV data';
  const b = asBytes(data);
  const fail = (msg: string): never => {
    throw new WgradError('parseWav', `${name}: ${msg}`);
  };
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const tag = (at: number) => String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);
  if (b.length < 12) fail(`truncated: ${b.length} bytes, a WAV file has at least 12`);
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') {
    fail(`not a RIFF/WAVE file (starts with ${JSON.stringify(tag(0))}${b.length >= 12 ? ` … ${JSON.stringify(tag(8))}` : ''}${tag(0) === 'RIFX' ? '; big-endian RIFX is not supported' : ''})`);
  }
  let fmt: { format: number; channels: number; sampleRate: number; bits: number; blockAlign: number } | undefined;
  let dataAt = -1, dataSize = 0;
  let at = 12;
  while (at + 8 <= b.length) {
    const id = tag(at);
    const size = v.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > b.length) fail(`truncated 'fmt ' chunk (${size} bytes declared, ${b.length - body} present)`);
      let format = v.getUint16(body, true);
      if (format === 0xfffe) {
        if (size < 40 || body + 40 > b.length) fail(`truncated WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk`);
        format = v.getUint16(body + 24, true); // the first two bytes of the sub-format GUID
      }
      fmt = {
        format,
        channels: v.getUint16(body + 2, true),
        sampleRate: v.getUint32(body + 4, true),
        blockAlign: v.getUint16(body + 12, true),
        bits: v.getUint16(body + 14, true),
      };
    } else if (id === 'data') {
      dataAt = body;
      dataSize = size;
      break;
    }
    at = body + size + (size & 1); // chunks are padded to even sizes
  }
  if (!fmt) fail(`no 'fmt ' chunk before the 'data' chunk`);
  const f = fmt!;
  if (dataAt < 0) fail(`no 'data' chunk`);
  const kind = f.format === 1 && f.bits === 16 ? 'pcm16' : f.format === 3 && f.bits === 32 ? 'float32' : undefined;
  if (!kind) {
    const names: Record<number, string> = { 1: 'integer PCM', 2: 'MS ADPCM', 3: 'IEEE float', 6: 'A-law', 7: 'µ-law', 0x11: 'IMA ADPCM', 0x55: 'MP3' };
    fail(`unsupported format: ${names[f.format] ?? `format code ${f.format}`}, ${f.bits} bits per sample (supported: 16-bit integer PCM and 32-bit float)`);
  }
  if (f.channels < 1) fail(`bad 'fmt ' chunk: ${f.channels} channels`);
  if (f.sampleRate < 1) fail(`bad 'fmt ' chunk: sample rate ${f.sampleRate}`);
  const bytesPerSample = f.bits / 8;
  if (f.blockAlign !== f.channels * bytesPerSample) {
    fail(`bad 'fmt ' chunk: block align ${f.blockAlign}, expected ${f.channels} channels × ${bytesPerSample} bytes`);
  }
  if (dataAt + dataSize > b.length) {
    fail(`truncated data: the 'data' chunk declares ${dataSize} bytes, ${b.length - dataAt} are present`);
  }
  const length = Math.floor(dataSize / f.blockAlign);
  const ch = f.channels;
  const readFloat = (i: number) => {
    const x = v.getFloat32(dataAt + 4 * i, true);
    if (!Number.isFinite(x)) fail(`sample ${Math.floor(i / ch)}${ch > 1 ? ` (channel ${i % ch})` : ''} is ${x}; float samples must be finite`);
    return x;
  };
  const read = kind === 'pcm16' ? (i: number) => v.getInt16(dataAt + 2 * i, true) / 32768 : readFloat;
  let samples: Float32Array;
  if (opts.mono === false || ch === 1) {
    samples = new Float32Array(length * ch);
    for (let i = 0; i < samples.length; i++) samples[i] = read(i);
  } else {
    samples = new Float32Array(length);
    for (let t = 0; t < length; t++) {
      let s = 0;
      for (let c = 0; c < ch; c++) s += read(t * ch + c);
      samples[t] = s / ch;
    }
  }
  return { samples, sampleRate: f.sampleRate, channels: ch, format: kind!, length };
}

/**
 * Encodes interleaved samples as a WAV file: 'pcm16' (values clipped to [−1, 1], scaled by 32767
 * and rounded) or 'float32'.
 */
export function encodeWav(samples: Float32Array | readonly number[], sampleRate: number, opts: { channels?: number; format?: 'pcm16' | 'float32' } = {}): Uint8Array {
  const ch = opts.channels ?? 1;
  const format = opts.format ?? 'pcm16';
  if (samples.length % ch !== 0) throw new WgradError('encodeWav', `${samples.length} samples are not a whole number of ${ch}-channel frames`);
  const bps = format === 'pcm16' ? 2 : 4;
  const dataSize = samples.length * bps;
  const out = new Uint8Array(44 + dataSize);
  const v = new DataView(out.buffer);
  const put = (at: number, s: string) => { for (let i = 0; i < 4; i++) out[at + i] = s.charCodeAt(i); };
  put(0, 'RIFF'); v.setUint32(4, 36 + dataSize, true); put(8, 'WAVE');
  put(12, 'fmt '); v.setUint32(16, 16, true);
  v.setUint16(20, format === 'pcm16' ? 1 : 3, true);
  v.setUint16(22, ch, true);
  v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * ch * bps, true);
  v.setUint16(32, ch * bps, true);
  v.setUint16(34, bps * 8, true);
  put(36, 'data'); v.setUint32(40, dataSize, true);
  for (let i = 0; i < samples.length; i++) {
    if (format === 'pcm16') v.setInt16(44 + 2 * i, Math.round(Math.max(-1, Math.min(1, samples[i])) * 32767), true);
    else v.setFloat32(44 + 4 * i, samples[i], true);
  }
  return out;
}

/** Pads with zeros at the end, or crops, to exactly `n` samples (`align: 'center'` crops/pads both ends equally). */
export function fixLength(samples: Float32Array, n: number, opts: { align?: 'start' | 'center' } = {}): Float32Array {
  if (!Number.isInteger(n) || n < 0) throw new WgradError('fixLength', `length must be a non-negative integer, got ${n}`);
  const out = new Float32Array(n);
  if (opts.align === 'center') {
    const shift = Math.floor((samples.length - n) / 2);
    for (let i = 0; i < n; i++) {
      const j = i + shift;
      if (j >= 0 && j < samples.length) out[i] = samples[j];
    }
  } else {
    out.set(samples.subarray(0, Math.min(n, samples.length)));
  }
  return out;
}

/**
 * Splits a signal into frames of `frameLength` samples every `hop` samples → [frames, frameLength]
 * row-major. Without `padEnd`, only whole frames are kept (1 + ⌊(T − L)/H⌋, none when T < L); with
 * it, the last partial frame is zero-padded (⌈max(T − L, 0)/H⌉ + 1 frames).
 */
export function frameSignal(samples: Float32Array, frameLength: number, hop: number, opts: { padEnd?: boolean } = {}): { frames: Float32Array; count: number } {
  if (!Number.isInteger(frameLength) || frameLength < 1 || !Number.isInteger(hop) || hop < 1) {
    throw new WgradError('frameSignal', `frameLength and hop must be positive integers, got ${frameLength} and ${hop}`);
  }
  const t = samples.length;
  const count = opts.padEnd
    ? (t === 0 ? 0 : Math.ceil(Math.max(t - frameLength, 0) / hop) + 1)
    : (t < frameLength ? 0 : Math.floor((t - frameLength) / hop) + 1);
  const frames = new Float32Array(count * frameLength);
  for (let f = 0; f < count; f++) {
    const start = f * hop;
    frames.set(samples.subarray(start, Math.min(start + frameLength, t)), f * frameLength);
  }
  return { frames, count };
}

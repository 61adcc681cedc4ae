/**
 * Log-mel spectrograms on the device, as composed (differentiable) tensor ops:
 *
 *   frames  = take(signal, idx)             idx[f, n] = f·hop + n − (center ? nFft/2 : 0), reflected
 *                                           at the ends (center, padMode 'reflect') or into a
 *                                           zero-padded signal (padMode 'constant')
 *   spec    = frames @ [w·cos | −w·sin]     the real DFT as one matmul with a precomputed [nFft, 2K]
 *                                           matrix, K = nFft/2 + 1 bins; the Hann window w is folded
 *                                           into it (diag(w)·C, diag(w)·S)
 *   power   = re² + im²                     (|X|, i.e. `power: 1`, takes the square root)
 *   mel     = power @ fb                    a [K, nMels] triangular mel filterbank
 *   out     = log(mel + eps)                natural log
 *
 * Defaults follow torchaudio's `MelSpectrogram`: nFft 400, winLength nFft, hop ⌊winLength/2⌋,
 * periodic Hann window (zero-padded to nFft, centred, when winLength < nFft), center with reflect
 * padding, power 2, fMin 0, fMax sampleRate/2, nMels 128, the HTK mel scale
 * (mel = 2595·log10(1 + f/700)) and no filter normalization; `melScale: 'slaney'` is Slaney's
 * Auditory Toolbox scale (linear below 1 kHz, logarithmic above, as librosa's default) and
 * `norm: 'slaney'` scales each filter to unit area (2 / bandwidth). eps defaults to 1e-6.
 * An FFT is not used: the DFT matmul costs O(nFft²) per frame, which is small at these sizes.
 */
import { WgradError } from '../core/backend.js';
import { FLOAT32_MAX } from '../core/dtype.js';
import { fromStorageArray } from '../tensor/engine.js';
import { add, log, mul, sqrt } from '../tensor/ops/elementwise.js';
import { matmul } from '../tensor/ops/linalg.js';
import { pad, slice, take } from '../tensor/ops/movement.js';
import { keep, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

/** The log-mel spectrogram's parameters (sample rate, FFT and window sizes, hop, mel bands, ...). */
export interface LogMelOptions {
  sampleRate: number;
  nFft?: number;
  winLength?: number;
  hopLength?: number;
  nMels?: number;
  fMin?: number;
  fMax?: number;
  melScale?: 'htk' | 'slaney';
  norm?: 'slaney' | null;
  center?: boolean;
  padMode?: 'reflect' | 'constant';
  power?: 1 | 2;
  eps?: number;
}

type Resolved = Required<Omit<LogMelOptions, 'norm'>> & { norm: 'slaney' | null };

function resolve(opts: LogMelOptions): Resolved {
  const nFft = opts.nFft ?? 400;
  const winLength = opts.winLength ?? nFft;
  const r: Resolved = {
    sampleRate: opts.sampleRate,
    nFft,
    winLength,
    hopLength: opts.hopLength ?? Math.floor(winLength / 2),
    nMels: opts.nMels ?? 128,
    fMin: opts.fMin ?? 0,
    fMax: opts.fMax ?? opts.sampleRate / 2,
    melScale: opts.melScale ?? 'htk',
    norm: opts.norm ?? null,
    center: opts.center ?? true,
    padMode: opts.padMode ?? 'reflect',
    power: opts.power ?? 2,
    eps: opts.eps ?? 1e-6,
  };
  const posInt = (v: number) => Number.isInteger(v) && v > 0;
  if (!(r.sampleRate > 0)) throw new WgradError('logMel', `sampleRate must be positive, got ${r.sampleRate}`);
  if (!posInt(r.nFft) || !posInt(r.winLength) || !posInt(r.hopLength) || !posInt(r.nMels)) {
    throw new WgradError('logMel', `nFft, winLength, hopLength and nMels must be positive integers, got ${r.nFft}, ${r.winLength}, ${r.hopLength}, ${r.nMels}`);
  }
  if (r.winLength > r.nFft) throw new WgradError('logMel', `winLength ${r.winLength} exceeds nFft ${r.nFft}`);
  if (!(r.fMin >= 0 && r.fMin < r.fMax && r.fMax <= r.sampleRate / 2)) {
    throw new WgradError('logMel', `need 0 ≤ fMin < fMax ≤ sampleRate/2, got fMin ${r.fMin}, fMax ${r.fMax}, sampleRate ${r.sampleRate}`);
  }
  if (r.melScale !== 'htk' && r.melScale !== 'slaney') throw new WgradError('logMel', `melScale must be 'htk' or 'slaney', got ${r.melScale}`);
  if (r.padMode !== 'reflect' && r.padMode !== 'constant') throw new WgradError('logMel', `padMode must be 'reflect' or 'constant', got ${r.padMode}`);
  if (r.power !== 1 && r.power !== 2) throw new WgradError('logMel', `power must be 1 or 2, got ${r.power}`);
  return r;
}

/** Hann window of length n; periodic (torch's default, for spectra) or symmetric. */
export function hannWindow(n: number, periodic = true): Float64Array {
  const denom = periodic ? n : n - 1;
  return Float64Array.from({ length: n }, (_, i) => (denom === 0 ? 1 : 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / denom)));
}

/** Hz → mel on the HTK or Slaney scale. */
export function hzToMel(f: number, scale: 'htk' | 'slaney' = 'htk'): number {
  if (scale === 'htk') return 2595 * Math.log10(1 + f / 700);
  const fSp = 200 / 3, minLogHz = 1000, minLogMel = minLogHz / fSp, logStep = Math.log(6.4) / 27;
  return f >= minLogHz ? minLogMel + Math.log(f / minLogHz) / logStep : f / fSp;
}

/** Mel → Hz, the inverse of `hzToMel`. */
export function melToHz(m: number, scale: 'htk' | 'slaney' = 'htk'): number {
  if (scale === 'htk') return 700 * (10 ** (m / 2595) - 1);
  const fSp = 200 / 3, minLogHz = 1000, minLogMel = minLogHz / fSp, logStep = Math.log(6.4) / 27;
  return m >= minLogMel ? minLogHz * Math.exp(logStep * (m - minLogMel)) : fSp * m;
}

/**
 * Triangular mel filterbank [nFreqs, nMels] (row-major), as torchaudio's `melscale_fbanks`: nMels + 2
 * points evenly spaced in mel between fMin and fMax, each filter rising from point m to m+1 and
 * falling to m+2, evaluated at the nFreqs = nFft/2 + 1 bin frequencies (0 … sampleRate/2).
 */
export function melFilterbank(opts: { nFreqs: number; nMels: number; sampleRate: number; fMin?: number; fMax?: number; melScale?: 'htk' | 'slaney'; norm?: 'slaney' | null }): Float64Array {
  const { nFreqs, nMels, sampleRate } = opts;
  const scale = opts.melScale ?? 'htk';
  const fMin = opts.fMin ?? 0, fMax = opts.fMax ?? sampleRate / 2;
  const mMin = hzToMel(fMin, scale), mMax = hzToMel(fMax, scale);
  const fPts = Array.from({ length: nMels + 2 }, (_, i) => melToHz(mMin + ((mMax - mMin) * i) / (nMels + 1), scale));
  const fb = new Float64Array(nFreqs * nMels);
  for (let k = 0; k < nFreqs; k++) {
    const f = nFreqs === 1 ? 0 : (sampleRate / 2) * (k / (nFreqs - 1));
    for (let m = 0; m < nMels; m++) {
      const down = (f - fPts[m]) / (fPts[m + 1] - fPts[m]);
      const up = (fPts[m + 2] - f) / (fPts[m + 2] - fPts[m + 1]);
      let w = Math.max(0, Math.min(down, up));
      if (opts.norm === 'slaney') w *= 2 / (fPts[m + 2] - fPts[m]);
      fb[k * nMels + m] = w;
    }
  }
  return fb;
}

/** Number of frames for a signal of T samples. */
export function numFrames(t: number, opts: LogMelOptions): number {
  const r = resolve(opts);
  return r.center ? 1 + Math.floor(t / r.hopLength) : t < r.nFft ? 0 : 1 + Math.floor((t - r.nFft) / r.hopLength);
}

/**
 * The largest sample magnitude A for which the log-mel stays finite in float32. The Hann window w
 * and the filterbank are non-negative, and every window value is ≤ 1, so with |x| ≤ A:
 *
 *   |X_k| ≤ Σ_n w_n·A = W·A          W = Σ_n w_n (nFft/2 for a full-width window)
 *   power_k ≤ (W·A)² (power 2), W·A (power 1)
 *   mel_m = Σ_k fb[k, m]·power_k ≤ F·max_k power_k     F = max_m Σ_k fb[k, m]
 *
 * The bound keeps F·power ≤ FLOAT32_MAX / 2 (half, for the rounding of the float32 sums), so no
 * re², im², power or mel energy overflows. For the CLI's 1 s clips at 8 kHz (nFft 512) it is about
 * 10^16, far above any real recording (|x| ≤ 1); a corrupt float sample such as 3e38 exceeds it.
 */
export function logMelAmplitudeLimit(opts: LogMelOptions): number {
  const r = resolve(opts);
  const w = hannWindow(r.winLength).reduce((a, v) => a + v, 0);
  const k = Math.floor(r.nFft / 2) + 1;
  const fb = melFilterbank({ nFreqs: k, nMels: r.nMels, sampleRate: r.sampleRate, fMin: r.fMin, fMax: r.fMax, melScale: r.melScale, norm: r.norm });
  let f = 0;
  for (let m = 0; m < r.nMels; m++) {
    let sum = 0;
    for (let j = 0; j < k; j++) sum += fb[j * r.nMels + m];
    f = Math.max(f, sum);
  }
  const maxPower = FLOAT32_MAX / 2 / Math.max(f, 1);
  return (r.power === 2 ? Math.sqrt(maxPower) : maxPower) / w;
}

/** The gather indices [frames, nFft] (into the padded signal for padMode 'constant'). */
function frameIndices(t: number, r: Resolved): { idx: Int32Array; frames: number; padBy: number } {
  const frames = numFrames(t, r);
  if (frames <= 0) throw new WgradError('logMel', `a signal of ${t} samples is shorter than one frame (nFft ${r.nFft}, center off)`);
  const half = Math.floor(r.nFft / 2);
  const reflect = r.center && r.padMode === 'reflect';
  if (reflect && t <= half) throw new WgradError('logMel', `reflect padding needs more than nFft/2 = ${half} samples, got ${t}; use padMode 'constant'`);
  const shift = r.center ? half : 0;
  const padBy = r.center && !reflect ? half : 0;
  const idx = new Int32Array(frames * r.nFft);
  for (let f = 0; f < frames; f++) {
    for (let n = 0; n < r.nFft; n++) {
      let j = f * r.hopLength + n - shift;
      if (reflect) {
        if (j < 0) j = -j;
        if (j >= t) j = 2 * (t - 1) - j;
      } else {
        j += padBy;
      }
      idx[f * r.nFft + n] = j;
    }
  }
  return { idx, frames, padBy };
}

/** The windowed real-DFT matrix [nFft, 2K]: columns w·cos(2πkn/N), then −w·sin(2πkn/N). */
export function windowedDftMatrix(nFft: number, winLength = nFft): Float32Array {
  const k = Math.floor(nFft / 2) + 1;
  const w = new Float64Array(nFft);
  const hann = hannWindow(winLength);
  const left = Math.floor((nFft - winLength) / 2);
  w.set(hann, left);
  const m = new Float32Array(nFft * 2 * k);
  for (let n = 0; n < nFft; n++) {
    for (let j = 0; j < k; j++) {
      const phase = (2 * Math.PI * ((j * n) % nFft)) / nFft;
      m[n * 2 * k + j] = w[n] * Math.cos(phase);
      m[n * 2 * k + k + j] = -w[n] * Math.sin(phase);
    }
  }
  return m;
}

/** A log-mel extractor holding its DFT and filterbank matrices on the device; `dispose()` frees them. */
export interface LogMel {
  readonly options: Readonly<Resolved>;
  /** [T] → [frames, nMels]; [..., T] → [..., frames, nMels]. */
  apply(signal: Tensor): Tensor;
  /** Number of frames for a signal of `t` samples. */
  numFrames(t: number): number;
  /** Frees the matrices (not while a gradient trace that used `apply` is still running). */
  dispose(): void;
}

function matrices(r: Resolved): [Tensor, Tensor] {
  const k = Math.floor(r.nFft / 2) + 1;
  return [
    fromStorageArray(windowedDftMatrix(r.nFft, r.winLength), [r.nFft, 2 * k], 'float32'),
    fromStorageArray(Float32Array.from(melFilterbank({ nFreqs: k, nMels: r.nMels, sampleRate: r.sampleRate, fMin: r.fMin, fMax: r.fMax, melScale: r.melScale, norm: r.norm })), [k, r.nMels], 'float32'),
  ];
}

type Plan = { idx: Int32Array; frames: number; padBy: number };

function apply(signal: Tensor, r: Resolved, dft: Tensor, fb: Tensor, plan: Plan): Tensor {
  const k = Math.floor(r.nFft / 2) + 1;
  const { idx, frames, padBy } = plan;
  return tidy(() => {
    const x = padBy > 0 ? pad(signal, [...signal.shape.slice(0, -1).map(() => [0, 0] as [number, number]), [padBy, padBy]]) : signal;
    const index = fromStorageArray(idx, [frames, r.nFft], 'int32');
    const framed = take(x, index, x.rank - 1); // [..., frames, nFft]
    const spec = matmul(framed, dft); // [..., frames, 2K]
    const lead = spec.shape.slice(0, -1).map(() => ({}));
    const re = slice(spec, [...lead, { stop: k }]);
    const im = slice(spec, [...lead, { start: k }]);
    let power = add(mul(re, re), mul(im, im));
    if (r.power === 1) power = sqrt(power);
    const mel = matmul(power, fb);
    return log(add(mel, r.eps));
  });
}

function checkSignal(signal: Tensor): void {
  signal._check('logMel');
  if (signal.rank < 1 || signal.dtype !== 'float32') {
    throw new WgradError('logMel', `expected a float32 signal [..., T], got ${signal.dtype} [${signal.shape.join(', ')}]`);
  }
}

/** Builds a reusable log-mel extractor (uploads its matrices once). */
export function createLogMel(opts: LogMelOptions): LogMel {
  const r = resolve(opts);
  const [dft, fb] = keep(matrices(r));
  const cache = new Map<number, Plan>();
  return {
    options: r,
    numFrames: (t) => numFrames(t, r),
    apply(signal: Tensor): Tensor {
      checkSignal(signal);
      if (dft.isDisposed) throw new WgradError('logMel', 'this extractor was disposed');
      const t = signal.shape[signal.rank - 1];
      let plan = cache.get(t);
      if (!plan) cache.set(t, (plan = frameIndices(t, r)));
      return apply(signal, r, dft, fb, plan);
    },
    dispose() {
      dft.dispose();
      fb.dispose();
    },
  };
}

/** Log-mel spectrogram of `signal` [..., T] → [..., frames, nMels] (see the module comment). */
export function logMelSpectrogram(signal: Tensor, opts: LogMelOptions): Tensor {
  const r = resolve(opts);
  checkSignal(signal);
  const plan = frameIndices(signal.shape[signal.rank - 1], r);
  return tidy(() => {
    const [dft, fb] = matrices(r);
    return apply(signal, r, dft, fb, plan);
  });
}

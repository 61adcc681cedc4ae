/**
 * Log-mel spectrograms as tensor ops, against a direct float64 host computation (framing, Hann
 * window, DFT by summation, power, mel filterbank, log) on synthetic sines; CPU backend, then the
 * same on WebGPU when an adapter is available.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { init, memoryStats } from '../src/init.js';
import { init as nodeInit } from '../src/node.js';
import * as data from '../src/data/index.js';
import { checkGrads } from '../src/autograd/check.js';
import { fromStorageArray } from '../src/tensor/engine.js';
import { dispose } from '../src/tensor/scope.js';
import { sum } from '../src/tensor/ops/reduce.js';
import { skipUnlessCi } from './helpers/ci.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

const SR = 16000;
function sines(t: number, freqs: number[], amp = 0.4): Float32Array {
  return Float32Array.from({ length: t }, (_, i) => freqs.reduce((s, f, j) => s + amp / (j + 1) * Math.sin((2 * Math.PI * f * i) / SR + j), 0));
}

/** The reference: every step written out directly, in float64. */
function hostLogMel(x: Float32Array, o: Required<Pick<data.LogMelOptions, 'nFft' | 'hopLength' | 'nMels' | 'melScale' | 'center' | 'padMode' | 'eps'>> & { norm?: 'slaney' | null; fMin?: number; fMax?: number }): number[][] {
  const { nFft, hopLength: hop, nMels } = o;
  const half = nFft / 2;
  let sig = Array.from(x);
  if (o.center) {
    if (o.padMode === 'reflect') {
      const left = Array.from({ length: half }, (_, i) => sig[half - i]);
      const right = Array.from({ length: half }, (_, i) => sig[sig.length - 2 - i]);
      sig = [...left, ...sig, ...right];
    } else {
      sig = [...new Array(half).fill(0), ...sig, ...new Array(half).fill(0)];
    }
  }
  const frames = 1 + Math.floor((sig.length - nFft) / hop);
  const k = nFft / 2 + 1;
  const fb = data.melFilterbank({ nFreqs: k, nMels, sampleRate: SR, melScale: o.melScale, norm: o.norm, fMin: o.fMin, fMax: o.fMax });
  const out: number[][] = [];
  for (let f = 0; f < frames; f++) {
    const power: number[] = [];
    for (let j = 0; j < k; j++) {
      let re = 0, im = 0;
      for (let n = 0; n < nFft; n++) {
        const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / nFft);
        const v = sig[f * hop + n] * w;
        re += v * Math.cos((2 * Math.PI * j * n) / nFft);
        im -= v * Math.sin((2 * Math.PI * j * n) / nFft);
      }
      power.push(re * re + im * im);
    }
    out.push(Array.from({ length: nMels }, (_, m) => Math.log(power.reduce((s, p, j) => s + p * fb[j * nMels + m], 0) + o.eps)));
  }
  return out;
}

const cases = [
  { nFft: 256, hopLength: 128, nMels: 40, melScale: 'htk', center: true, padMode: 'reflect', eps: 1e-6 },
  { nFft: 256, hopLength: 100, nMels: 32, melScale: 'slaney', norm: 'slaney', center: false, padMode: 'reflect', eps: 1e-4 },
  { nFft: 128, hopLength: 64, nMels: 24, melScale: 'htk', center: true, padMode: 'constant', eps: 1e-6, fMin: 100, fMax: 6000 },
] as const;

describe('log-mel spectrogram', () => {
  it('mel scales and the filterbank', () => {
    expect(data.hzToMel(1000, 'htk')).toBeCloseTo(1000, 0);
    expect(data.hzToMel(1000, 'slaney')).toBeCloseTo(15, 10);
    expect(data.melToHz(data.hzToMel(3456, 'slaney'), 'slaney')).toBeCloseTo(3456, 8);
    expect(data.melToHz(data.hzToMel(3456, 'htk'), 'htk')).toBeCloseTo(3456, 8);
    const fb = data.melFilterbank({ nFreqs: 129, nMels: 20, sampleRate: SR });
    for (let m = 0; m < 20; m++) {
      let peak = 0;
      for (let j = 0; j < 129; j++) peak = Math.max(peak, fb[j * 20 + m]);
      expect(peak).toBeGreaterThan(0.3);
      expect(peak).toBeLessThanOrEqual(1);
    }
  });

  it.each(cases)('matches the direct host computation on sines (%o)', async (c) => {
    const x = sines(3000, [440, 1800, 5100]);
    const want = hostLogMel(x, c);
    const signal = fromStorageArray(x, [x.length], 'float32');
    data.logMelSpectrogram(signal, { sampleRate: SR, ...c }).dispose(); // warms the scalar-constant cache
    const before = memoryStats().tensors;
    const got = data.logMelSpectrogram(signal, { sampleRate: SR, ...c });
    expect(got.shape).toEqual([want.length, c.nMels]);
    expect(data.numFrames(3000, { sampleRate: SR, ...c })).toBe(want.length);
    const g = await got.data();
    let worst = 0;
    want.forEach((row, f) => row.forEach((v, m) => { worst = Math.max(worst, Math.abs(g[f * c.nMels + m] - v)); }));
    expect(worst).toBeLessThan(2e-3);
    got.dispose();
    expect(memoryStats().tensors).toBe(before);
    signal.dispose();
  });

  it('batches, finds the tone, and is differentiable', async () => {
    const lm = data.createLogMel({ sampleRate: SR, nFft: 256, hopLength: 128, nMels: 40 });
    const a = sines(2048, [500]), b = sines(2048, [3000]);
    const batch = new Float32Array(4096);
    batch.set(a);
    batch.set(b, 2048);
    const x = fromStorageArray(batch, [2, 2048], 'float32');
    const y = lm.apply(x);
    expect(y.shape).toEqual([2, lm.numFrames(2048), 40]);
    const v = await y.data();
    const frames = lm.numFrames(2048);
    // The loudest mel band of a middle frame contains the tone.
    const fb = data.melFilterbank({ nFreqs: 129, nMels: 40, sampleRate: SR });
    for (const [i, freq] of [[0, 500], [1, 3000]] as const) {
      const row = Array.from(v.subarray((i * frames + 5) * 40, (i * frames + 6) * 40));
      const m = row.indexOf(Math.max(...row));
      const bin = Math.round((freq / SR) * 256);
      expect(fb[bin * 40 + m]).toBeGreaterThan(0.3);
    }
    // Gradients flow to the signal (checked on a short one).
    const opts = { sampleRate: SR, nFft: 16, hopLength: 8, nMels: 4, eps: 1e-2 };
    await checkGrads((s) => sum(data.logMelSpectrogram(s, opts)), [fromStorageArray(sines(64, [2000]), [64], 'float32')]);
    lm.dispose();
    dispose([x, y]);
  });

  it('errors', () => {
    const s = fromStorageArray(new Float32Array(100), [100], 'float32');
    expect(() => data.logMelSpectrogram(s, { sampleRate: SR, nFft: 256, center: false })).toThrow(/shorter than one frame/);
    expect(() => data.logMelSpectrogram(s, { sampleRate: SR, nFft: 256 })).toThrow(/reflect padding needs more than nFft\/2 = 128 samples/);
    expect(() => data.logMelSpectrogram(s, { sampleRate: SR, fMax: 9000 })).toThrow(/fMax ≤ sampleRate\/2/);
    s.dispose();
  });

  it('WebGPU gives the CPU result', async (ctx) => {
    const x = sines(4000, [440, 2500]);
    const opts = { sampleRate: SR, nFft: 400, hopLength: 160, nMels: 64 };
    const cpuSignal = fromStorageArray(x, [1, 4000], 'float32');
    const cpuOut = data.logMelSpectrogram(cpuSignal, opts);
    const want = await cpuOut.data();
    dispose([cpuSignal, cpuOut]);
    try {
      await nodeInit({ backend: 'webgpu' });
    } catch (e) {
      skipUnlessCi(ctx, `no WebGPU adapter: ${(e as Error).message}`);
    }
    try {
      const signal = fromStorageArray(x, [1, 4000], 'float32');
      const out = data.logMelSpectrogram(signal, opts);
      const got = await out.data();
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
      expect(worst).toBeLessThan(2e-3);
      dispose([signal, out]);
    } finally {
      await init({ backend: 'cpu' });
    }
  });
});

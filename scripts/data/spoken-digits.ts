/**
 * Spoken digits, synthesised locally with Debian's `espeak-ng` (apt-get install espeak-ng):
 *
 *   npx tsx scripts/data/spoken-digits.ts [--out data/spoken-digits] [--digits 0,1,...] [--accents N]
 *                                         [--variants N] [--speeds 120,160,200] [--pitches 30,50,70]
 *                                         [--seed 0] [--jobs 2]
 *
 * Each clip: the English word of one digit ("zero" ... "nine") spoken by one voice (an English accent
 * of espeak-ng with one voice variant) at one speed (words per minute) and pitch (0–99); decimated
 * from espeak-ng's 22,050 Hz to 11,025 Hz (windowed-sinc low-pass), silence trimmed, placed at a
 * seeded random offset in a 1 s window, scaled to a seeded peak level and mixed with seeded
 * background noise (white to brown-ish, SNR 5–25 dB), written as 16-bit mono WAV.
 *
 * Layout: OUT/train/<digit>/<voice>-s<speed>-p<pitch>.wav and OUT/test/<digit>/..., plus
 * OUT/manifest.csv (one row per clip: file, label, split, accent, variant, speed, pitch, snr) and
 * OUT/.gitignore (the clips are never committed). The split is by voice: a voice (accent a, variant
 * v, by index) is a test voice when (a + v) mod 4 = 0, so test voices are never heard in training
 * (each accent and each variant keeps 2 test combinations of 8). Defaults: 8 accents × 8 variants ×
 * 3 speeds × 3 pitches = 576 clips per digit (432 training, 144 test), 5,760 in all.
 * Everything is a function of the options and --seed: re-running gives the same files.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { encodeWav, parseWav } from '../../src/io/wav.js';
import { mulberry32 } from '../../src/core/random/mulberry.js';

export const WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
export const ACCENTS = ['en-us', 'en-gb', 'en-gb-scotland', 'en-gb-x-rp', 'en-gb-x-gbclan', 'en-gb-x-gbcwmd', 'en-029', 'en-us-nyc'];
export const VARIANTS = ['m1', 'm3', 'm5', 'm7', 'f1', 'f2', 'f3', 'f4'];
export const SAMPLE_RATE = 11025;

export interface SpokenDigitOptions {
  out: string;
  digits?: number[];
  /** The first `accents` of ACCENTS and `variants` of VARIANTS. */
  accents?: number;
  variants?: number;
  speeds?: number[];
  pitches?: number[];
  seed?: number;
  jobs?: number;
}

export interface SpokenDigitSummary {
  out: string;
  clips: number;
  /** Clips per digit in each split. */
  perClass: { train: number; test: number };
  trainVoices: string[];
  testVoices: string[];
}

export const isTestVoice = (accent: number, variant: number) => (accent + variant) % 4 === 0;

/** FNV-1a of a string: a per-clip seed that does not depend on the generation order. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Halves the sample rate: a 63-tap Hann-windowed sinc low-pass at 0.45 of the new rate, then every other sample. */
export function decimate2(x: Float32Array): Float32Array {
  const taps = 63, half = 31, fc = 0.45 / 2; // cutoff in cycles per input sample
  const h = Float64Array.from({ length: taps }, (_, i) => {
    const k = i - half;
    const sinc = k === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * k) / (Math.PI * k);
    return sinc * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (taps - 1)));
  });
  const sum = h.reduce((a, b) => a + b, 0);
  const out = new Float32Array(Math.floor(x.length / 2));
  for (let o = 0; o < out.length; o++) {
    let acc = 0;
    for (let i = 0; i < taps; i++) {
      const j = 2 * o + i - half;
      if (j >= 0 && j < x.length) acc += h[i] * x[j];
    }
    out[o] = acc / sum;
  }
  return out;
}

/** The speech in `x` (22,050 Hz) as a noisy 1 s clip at 11,025 Hz; returns the clip and the SNR used. */
export function makeClip(x: Float32Array, rng: () => number): { clip: Float32Array; snr: number } {
  const y = decimate2(x);
  let peak = 0;
  for (const v of y) peak = Math.max(peak, Math.abs(v));
  if (peak === 0) throw new Error('espeak-ng produced silence');
  let first = 0, last = y.length - 1;
  while (Math.abs(y[first]) < 0.02 * peak) first++;
  while (Math.abs(y[last]) < 0.02 * peak) last--;
  let speech = y.subarray(first, last + 1);
  const n = SAMPLE_RATE;
  if (speech.length > n) speech = speech.subarray((speech.length - n) >> 1, ((speech.length - n) >> 1) + n);
  const offset = Math.floor(rng() * (n - speech.length + 1));
  const gain = (0.3 + 0.6 * rng()) / peak;
  const clip = new Float32Array(n);
  let power = 0;
  for (let i = 0; i < speech.length; i++) {
    clip[offset + i] = speech[i] * gain;
    power += clip[offset + i] ** 2;
  }
  // Background noise: Gaussian through a one-pole low-pass (colour a in [0, 0.95]), at SNR 5–25 dB.
  const snr = 5 + 20 * rng();
  const a = 0.95 * rng();
  const noise = new Float32Array(n);
  let state = 0, noisePower = 0;
  for (let i = 0; i < n; i++) {
    const g = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
    state = a * state + g;
    noise[i] = state;
    noisePower += state * state;
  }
  const scale = Math.sqrt(power / speech.length / 10 ** (snr / 10) / (noisePower / n));
  for (let i = 0; i < n; i++) clip[i] = Math.max(-1, Math.min(1, clip[i] + scale * noise[i]));
  return { clip, snr };
}

const run = promisify(execFile);

async function speak(word: string, voice: string, speed: number, pitch: number, wavPath: string): Promise<Float32Array> {
  try {
    await run('espeak-ng', ['-v', voice, '-s', String(speed), '-p', String(pitch), '-w', wavPath, word]);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(missing ? 'espeak-ng is not installed (sudo apt-get install espeak-ng)' : `espeak-ng -v ${voice} failed: ${(e as Error).message}`);
  }
  const wav = parseWav(readFileSync(wavPath), { name: wavPath });
  if (wav.sampleRate !== 2 * SAMPLE_RATE) throw new Error(`${wavPath}: espeak-ng wrote ${wav.sampleRate} Hz, expected ${2 * SAMPLE_RATE}`);
  return wav.samples;
}

/** Generates the clips (see the module comment). */
export async function generateSpokenDigits(opts: SpokenDigitOptions): Promise<SpokenDigitSummary> {
  const out = resolve(opts.out);
  const digits = opts.digits ?? WORDS.map((_, i) => i);
  const accents = ACCENTS.slice(0, opts.accents ?? ACCENTS.length);
  const variants = VARIANTS.slice(0, opts.variants ?? VARIANTS.length);
  const speeds = opts.speeds ?? [120, 160, 200];
  const pitches = opts.pitches ?? [30, 50, 70];
  const seed = opts.seed ?? 0;
  if (digits.some((d) => !(Number.isInteger(d) && d >= 0 && d <= 9))) throw new Error(`--digits must be in 0..9, got ${digits.join(',')}`);
  if (!accents.length || !variants.length || !speeds.length || !pitches.length || !digits.length) throw new Error('nothing to generate: an empty list of digits, accents, variants, speeds or pitches');
  const foreign = existsSync(out) ? readdirSync(out).filter((f) => !['.gitignore', 'manifest.csv', 'train', 'test', '.logmel-cache.bin'].includes(f)) : [];
  if (foreign.length) throw new Error(`${out} holds files this script did not write (${foreign.slice(0, 3).join(', ')}): not writing into it`);
  for (const f of ['train', 'test', '.logmel-cache.bin']) rmSync(join(out, f), { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, '.gitignore'), '# generated by scripts/data/spoken-digits.ts\n*\n');
  const voices = accents.flatMap((a, ai) => variants.map((v, vi) => ({ name: `${a}+${v}`, accent: a, variant: v, test: isTestVoice(ai, vi) })));
  const jobs = voices.flatMap((voice) => digits.flatMap((digit) => speeds.flatMap((speed) => pitches.map((pitch) => ({ voice, digit, speed, pitch })))));
  const tmp = mkdtempSync(join(tmpdir(), 'spoken-digits-'));
  const manifest: string[] = ['file,label,split,accent,variant,speed,pitch,snr'];
  const rows: string[] = new Array(jobs.length);
  try {
    let next = 0;
    const worker = async (w: number) => {
      for (let j = next++; j < jobs.length; j = next++) {
        const { voice, digit, speed, pitch } = jobs[j];
        const split = voice.test ? 'test' : 'train';
        const file = join(split, String(digit), `${voice.name}-s${speed}-p${pitch}.wav`);
        const samples = await speak(WORDS[digit], voice.name, speed, pitch, join(tmp, `w${w}.wav`));
        const { clip, snr } = makeClip(samples, mulberry32(hash(`${seed}/${file}`)));
        mkdirSync(join(out, split, String(digit)), { recursive: true });
        writeFileSync(join(out, file), encodeWav(clip, SAMPLE_RATE));
        rows[j] = [file, digit, split, voice.accent, voice.variant, speed, pitch, snr.toFixed(2)].join(',');
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.jobs ?? 2) }, (_, w) => worker(w)));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  writeFileSync(join(out, 'manifest.csv'), `${[...manifest, ...rows].join('\n')}\n`);
  const perVoice = speeds.length * pitches.length;
  const testVoices = voices.filter((v) => v.test).map((v) => v.name);
  const trainVoices = voices.filter((v) => !v.test).map((v) => v.name);
  return { out, clips: jobs.length, perClass: { train: trainVoices.length * perVoice, test: testVoices.length * perVoice }, trainVoices, testVoices };
}

function parseArgs(argv: string[]): SpokenDigitOptions {
  const opts: SpokenDigitOptions = { out: 'data/spoken-digits' };
  const list = (v: string) => v.split(',').map(Number);
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    const n = Number(v);
    switch (flag) {
      case '--out': opts.out = v; break;
      case '--digits': opts.digits = list(v); break;
      case '--accents': opts.accents = n; break;
      case '--variants': opts.variants = n; break;
      case '--speeds': opts.speeds = list(v); break;
      case '--pitches': opts.pitches = list(v); break;
      case '--seed': opts.seed = n; break;
      case '--jobs': opts.jobs = n; break;
      default: throw new Error(`unknown flag ${flag}`);
    }
  }
  return opts;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log('usage: npx tsx scripts/data/spoken-digits.ts [--out data/spoken-digits] [--digits 0,1,...] [--accents 1-8] [--variants 1-8]\n'
      + '         [--speeds 120,160,200] [--pitches 30,50,70] [--seed 0] [--jobs 2]\n(see the header of scripts/data/spoken-digits.ts)');
    process.exit(0);
  }
  try {
    const t0 = performance.now();
    const s = await generateSpokenDigits(parseArgs(process.argv.slice(2)));
    console.log(`${s.out}: ${s.clips} clips at ${SAMPLE_RATE} Hz, 1 s each; per digit ${s.perClass.train} training, ${s.perClass.test} test; `
      + `test voices (${s.testVoices.length}): ${s.testVoices.join(' ')}; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  } catch (e) {
    console.error(`spoken-digits: ${(e as Error).message}`);
    process.exit(1);
  }
}

/**
 * Data for the three domains: the R-data converter (scripts/data/mlbench-to-csv.ts) on tiny fixtures
 * made by R (scripts/data/fixtures/make-fixtures.R), the shipped UCI tables, the spoken-digit
 * synthesiser (scripts/data/spoken-digits.ts, espeak-ng) on a tiny sample, and `loadDataset` /
 * `batchTensors` (src/cli/data.ts) on tiny CSVs and WAV directories, with the error cases. CPU backend.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init } from '../src/init.js';
import { WgradError } from '../src/core/backend.js';
import { encodeWav, parseWav } from '../src/io/wav.js';
import { logMelSpectrogram } from '../src/data/audio.js';
import { tensor } from '../src/tensor/ops/creation.js';
import { batchTensors, type HostDataset, loadDataset } from '../src/cli/data.js';
import type { TabularSchema } from '../src/io/csv.js';
import { logMelOptions } from '../src/cli/data-audio.js';
import { convert, decompressRda, parseRda, toCsv } from '../scripts/data/mlbench-to-csv.js';
import { decimate2, generateSpokenDigits } from '../scripts/data/spoken-digits.js';

const FIXTURES = fileURLToPath(new URL('../scripts/data/fixtures/', import.meta.url));
const DATA = fileURLToPath(new URL('../data/', import.meta.url));
let dir: string;

beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = mkdtempSync(join(tmpdir(), 'wgrad-domains-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The fitted CSV schema of a tabular dataset. */
function schemaOf(ds: HostDataset): TabularSchema {
  if (ds.preprocessing.domain !== 'tabular') throw new Error(`expected a tabular dataset, got ${ds.domain}`);
  return ds.preprocessing.schema;
}

/** Expects `promise` to reject with a WgradError whose message matches every pattern. */
async function rejects(promise: Promise<unknown>, ...patterns: (string | RegExp)[]) {
  const e = await promise.then(() => undefined, (err: unknown) => err);
  expect(e, 'expected an error').toBeInstanceOf(WgradError);
  for (const p of patterns) expect((e as Error).message).toMatch(p);
}

describe('mlbench-to-csv: R data files without R', () => {
  // make-fixtures.R: width c(1.5, NA, -2, NaN, 1e-3), count c(3L, 4L, NA, 6L, 7L),
  // note c("a", "b,c", 'say "hi"', NA, "e"), kind factor(cat dog cat bird dog; levels dog cat bird).
  const want = 'width,count,note,label,split\n1.5,3,a,cat,train\n,4,"b,c",dog,train\n-2,,"say ""hi""",cat,train\n,6,,bird,test\n0.001,7,e,dog,test\n';
  for (const f of ['tiny-v2-gzip', 'tiny-v3-xz', 'tiny-v3-bzip2']) {
    it(`${f}.rda: numbers, integers, strings, factor levels and NA/NaN as empty fields`, () => {
      const out = join(dir, `${f}.csv`);
      expect(convert(join(FIXTURES, `${f}.rda`), 'tiny', 'kind', 3, out)).toEqual({ rows: 5, features: 3 });
      expect(readFileSync(out, 'utf8')).toBe(want);
    });
  }

  it('errors: not R data, a missing object, a bad label or split', () => {
    expect(() => parseRda(new TextEncoder().encode('hello world'), 'x.rda')).toThrow(/x\.rda: not an R data file/);
    expect(() => convert(join(FIXTURES, 'tiny-v2-gzip.rda'), 'other', 'kind', 3, join(dir, 'o.csv'))).toThrow(/no object other \(it has tiny\)/);
    const objects = parseRda(decompressRda(readFileSync(join(FIXTURES, 'tiny-v3-xz.rda'))));
    expect([...objects.keys()]).toEqual(['tiny']);
    const frame = { names: ['a', 'b'], columns: [['1', '2'], ['x', 'y']] };
    expect(() => toCsv(frame, 'c', 1)).toThrow(/no column "c"/);
    expect(() => toCsv(frame, 'b', 2)).toThrow(/between 1 and 1/);
  });

  it('the shipped tables: UCI rows, canonical splits, classes', () => {
    const check = (file: string, rows: number, train: number, cols: number, first: string, classes: number) => {
      const lines = readFileSync(join(DATA, file), 'utf8').trimEnd().split('\n');
      expect(lines).toHaveLength(rows + 1);
      expect(lines[0].split(',')).toHaveLength(cols + 2);
      expect(lines[0]).toMatch(/,label,split$/);
      expect(lines[1]).toBe(first);
      expect(lines.slice(1).filter((l) => l.endsWith(',train'))).toHaveLength(train);
      expect(lines.slice(1, train + 1).every((l) => l.endsWith(',train'))).toBe(true);
      expect(new Set(lines.slice(1).map((l) => l.split(',')[cols])).size).toBe(classes);
    };
    check('satellite.csv', 6435, 4435, 36, '92,115,120,94,84,102,106,79,84,102,102,83,101,126,133,103,92,112,118,85,84,103,104,81,102,126,134,104,88,121,128,100,84,107,113,87,grey soil,train', 6);
    check('letter-recognition.csv', 20000, 16000, 16, '2,8,3,5,1,8,13,0,6,6,10,8,0,8,0,8,T,train', 26);
  });
});

describe('spoken-digits: espeak-ng clips', () => {
  it('2 digits × 2 voices: layout, 11,025 Hz 1 s clips, split by voice, noise, reproducible', async () => {
    const out = join(dir, 'sd');
    const opts = { out, digits: [3, 7], accents: 1, variants: 2, speeds: [160], pitches: [50], jobs: 1 };
    const s = await generateSpokenDigits(opts);
    expect(s.clips).toBe(4);
    expect(s.perClass).toEqual({ train: 1, test: 1 });
    expect(s.testVoices).toEqual(['en-us+m1']); // (accent 0 + variant 0) mod 4 = 0
    expect(s.trainVoices).toEqual(['en-us+m3']);
    for (const [split, voice] of [['train', 'en-us+m3'], ['test', 'en-us+m1']]) {
      expect(readdirSync(join(out, split)).sort()).toEqual(['3', '7']);
      for (const d of ['3', '7']) {
        expect(readdirSync(join(out, split, d))).toEqual([`${voice}-s160-p50.wav`]);
        const wav = parseWav(readFileSync(join(out, split, d, `${voice}-s160-p50.wav`)));
        expect([wav.sampleRate, wav.length, wav.channels]).toEqual([11025, 11025, 1]);
        const peak = wav.samples.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        expect(peak).toBeGreaterThan(0.2);
        expect(wav.samples.filter((v) => v === 0).length).toBeLessThan(200); // background noise everywhere
      }
    }
    const manifest = readFileSync(join(out, 'manifest.csv'), 'utf8').trimEnd().split('\n');
    expect(manifest[0]).toBe('file,label,split,accent,variant,speed,pitch,snr');
    expect(manifest).toHaveLength(5);
    expect(readFileSync(join(out, '.gitignore'), 'utf8')).toMatch(/^\*$/m);
    const before = readFileSync(join(out, 'train', '7', 'en-us+m3-s160-p50.wav'));
    await generateSpokenDigits(opts);
    expect(readFileSync(join(out, 'train', '7', 'en-us+m3-s160-p50.wav')).equals(before)).toBe(true);
    const other = await generateSpokenDigits({ ...opts, out: join(dir, 'sd-seed'), seed: 1 });
    expect(other.clips).toBe(4);
    expect(readFileSync(join(dir, 'sd-seed', 'train', '7', 'en-us+m3-s160-p50.wav')).equals(before)).toBe(false);
  }, 60_000);

  it('refuses to write into a directory it did not make', async () => {
    const foreign = join(dir, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'mine');
    await expect(generateSpokenDigits({ out: foreign, digits: [1], accents: 1, variants: 1 })).rejects.toThrow(/notes\.txt.*not writing/);
  });

  it('decimate2 keeps a 1 kHz tone and removes an 8 kHz one', () => {
    const tone = (f: number) => Float32Array.from({ length: 4410 }, (_, i) => Math.sin((2 * Math.PI * f * i) / 22050));
    const rms = (x: Float32Array) => Math.sqrt(x.slice(100, -100).reduce((a, v) => a + v * v, 0) / (x.length - 200));
    expect(rms(decimate2(tone(1000)))).toBeCloseTo(Math.SQRT1_2, 2);
    expect(rms(decimate2(tone(8000)))).toBeLessThan(0.01);
  });

  it('the generated clips load through loadDataset as log-mels', async () => {
    const ds = await loadDataset(join(dir, 'sd'));
    expect(ds.domain).toBe('audio');
    expect(ds.shape).toEqual([1, 32, 32]);
    expect(ds.classNames).toEqual(['3', '7']);
    expect([ds.train.n, ds.test.n]).toEqual([2, 2]);
    expect([...ds.train.labels].sort()).toEqual([0, 1]);
  });
});

describe('loadDataset: tables', () => {
  const csv = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };

  it('a CSV with a split column: standardized with the training rows only, one-hot categories, missing values', async () => {
    const p = csv('t.csv', 'a,color,label,split\n1,red,yes,train\n3,blue,no,train\n,red,yes,train\n5,green,no,test\n2,,yes,test\n');
    const ds = await loadDataset(p);
    expect(ds.domain).toBe('tabular');
    // a (numeric) + color: blue, red, <missing> (green is not a training category).
    expect(ds.shape).toEqual([4]);
    expect(ds.classNames).toEqual(['no', 'yes']);
    expect([ds.train.n, ds.test.n]).toEqual([3, 2]);
    expect(ds.train.x).toBeInstanceOf(Float32Array);
    const [mean, std] = [2, 1]; // training values 1, 3 (the missing one is left out)
    const want = [
      [(1 - mean) / std, 0, 1, 0], [(3 - mean) / std, 1, 0, 0], [0, 0, 1, 0], // a missing value: the mean, 0
    ];
    expect(Array.from(ds.train.x)).toEqual(want.flat());
    expect(Array.from(ds.test.x)).toEqual([(5 - mean) / std, 0, 0, 1, (2 - mean) / std, 0, 0, 1]);
    expect(Array.from(ds.train.labels)).toEqual([1, 0, 1]);
    expect(Array.from(ds.test.labels)).toEqual([0, 1]);
    const { x, y } = batchTensors(ds.test, ds.shape, [1, 0]);
    expect(x.shape).toEqual([2, 4]);
    expect(Array.from(await x.data() as Float32Array)).toEqual([0, 0, 0, 1, 3, 0, 0, 1]);
    expect(Array.from(await y.data() as Int32Array)).toEqual([1, 0]);
    x.dispose();
    y.dispose();
  });

  it('without a split column every 5th row of each class is a test row; limits keep a stratified sample', async () => {
    const rows = Array.from({ length: 20 }, (_, i) => `${i},${i % 2 ? 'b' : 'a'}`);
    const p = csv('nosplit.csv', `v,label\n${rows.join('\n')}\n`);
    const ds = await loadDataset(p);
    // class a: rows 0,2,...,18 → its 5th and 10th (rows 8, 18); class b: rows 9, 19.
    expect(ds.test.n).toBe(4);
    const col = schemaOf(ds).columns[0];
    if (col.kind !== 'numeric') throw new Error('v should be numeric');
    expect(Array.from(ds.test.x, (v) => Math.round(v * col.std + col.mean))).toEqual([8, 9, 18, 19]);
    expect(col.mean).toBeCloseTo((190 - 54) / 16, 5); // the mean of the 16 training rows only
    const limited = await loadDataset(p, { trainLimit: 4, testLimit: 1 });
    expect([limited.train.n, limited.test.n]).toEqual([4, 1]);
    expect(Array.from(limited.train.labels).sort()).toEqual([0, 0, 1, 1]); // 2 of each class, not rows 0..3
    const lc = schemaOf(limited).columns[0];
    if (lc.kind !== 'numeric') throw new Error('v should be numeric');
    const values = Array.from(limited.train.x, (v) => Math.round(v * lc.std + lc.mean));
    expect(lc.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / 4, 5); // fitted on the sampled rows
    expect(values.filter((v) => v % 2 === 0)).toHaveLength(2); // class a holds the even values
  });

  it('the shipped Satellite table loads: 4,435 + 2,000 rows, 36 standardized features, 6 classes', async () => {
    const ds = await loadDataset(join(DATA, 'satellite.csv'));
    expect([ds.train.n, ds.test.n, ds.classes]).toEqual([4435, 2000, 6]);
    expect(ds.shape).toEqual([36]);
    let sum = 0;
    for (let i = 0; i < ds.train.n; i++) sum += ds.train.x[i * 36];
    expect(Math.abs(sum / ds.train.n)).toBeLessThan(1e-4);
  });

  it('errors name the file and what was expected', async () => {
    await rejects(loadDataset(join(dir, 'missing.csv')), join(dir, 'missing.csv'), /not readable/);
    await rejects(loadDataset(csv('x.txt', 'a,label\n1,2\n')), /x\.txt is a file but not a \.csv table/);
    await rejects(loadDataset(csv('ragged.csv', 'a,label,split\n1,x,train\n2,y\n')), /ragged\.csv, line 3: ragged row/);
    await rejects(loadDataset(csv('nolabel.csv', 'a,b\n1,2\n')), /nolabel\.csv: no "label" column.*"a", "b"/);
    await rejects(loadDataset(csv('one.csv', 'a,label,split\n1,x,train\n2,x,train\n3,x,test\n')), /one\.csv: one class only \("x"\)/);
    await rejects(loadDataset(csv('badsplit.csv', 'a,label,split\n1,x,train\n2,y,validation\n')), /badsplit\.csv, line 3: the split column must be "train" or "test", got "validation"/);
    await rejects(loadDataset(csv('notest.csv', 'a,label,split\n1,x,train\n2,y,train\n')), /notest\.csv: 2 training and 0 test rows/);
    await rejects(loadDataset(csv('newclass.csv', 'a,label,split\n1,x,train\n2,y,train\n3,z,test\n')), /newclass\.csv \(test rows\), line 4.*"z" is not one of the training classes/);
    await rejects(loadDataset(csv('empty.csv', 'a,label\n')), /empty\.csv: no data rows/);
  });
});

describe('loadDataset: WAV directories', () => {
  const SR = 8000;
  const tone = (f: number, amp: number, length = SR) => Float32Array.from({ length }, (_, i) => amp * Math.sin((2 * Math.PI * f * i) / SR));
  const write = (root: string, path: string, samples: Float32Array, rate = SR) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), encodeWav(samples, rate));
  };

  it('log-mel [1, 32, 32] per clip, classes from the directory names (numeric order), bands standardized on the training clips', async () => {
    const root = join(dir, 'wavs');
    // Class "10": 3 kHz tones; class "2": 500 Hz tones; test clips are louder than any training clip.
    write(root, 'train/2/a.wav', tone(500, 0.1));
    write(root, 'train/2/b.wav', tone(500, 0.2, SR + 800)); // longer: its middle second is kept
    write(root, 'train/10/a.wav', tone(3000, 0.1, SR / 2)); // shorter: zero-padded
    write(root, 'train/10/b.wav', tone(3000, 0.3));
    write(root, 'test/10/c.wav', tone(3000, 0.8));
    write(root, 'test/2/c.wav', tone(500, 0.8));
    writeFileSync(join(root, 'train', '2', 'notes.txt'), 'ignored');
    const ds = await loadDataset(root);
    expect(ds.domain).toBe('audio');
    expect(ds.shape).toEqual([1, 32, 32]);
    expect(ds.classNames).toEqual(['2', '10']);
    expect(ds.train.n).toBe(4);
    expect(ds.test.n).toBe(2);
    const size = 32 * 32;
    // Training statistics: every band has mean 0 over the training clips' frames.
    for (const b of [0, 7, 31]) {
      let s = 0;
      for (let i = 0; i < 4; i++) for (let f = 0; f < 32; f++) s += ds.train.x[i * size + b * 32 + f];
      expect(Math.abs(s / 128)).toBeLessThan(1e-3);
    }
    // A test clip: its log-mel, standardized with the training statistics, band-major.
    const opts = logMelOptions(SR);
    expect([opts.hopLength, opts.nFft, opts.nMels]).toEqual([258, 512, 32]);
    if (ds.preprocessing.domain !== 'audio') throw new Error('expected audio preprocessing');
    const audio = ds.preprocessing.features;
    for (let i = 0; i < 2; i++) {
      const label = ds.test.labels[i];
      const m = logMelSpectrogram(tensor(tone(label === 0 ? 500 : 3000, 0.8)), opts);
      const ref = (await m.data()) as Float32Array;
      m.dispose();
      for (const [b, f] of [[0, 0], [5, 10], [20, 31]]) {
        const want = (ref[f * 32 + b] - audio.mean[b]) / audio.std[b];
        expect(ds.test.x[i * size + b * 32 + f]).toBeCloseTo(want, 3);
      }
    }
    // The 500 Hz class has more energy in a low band than the 3 kHz class.
    const lowBand = 8; // around 500 Hz
    const energy = (i: number) => ds.test.x[i * size + lowBand * 32 + 16];
    const [i2, i10] = ds.test.labels[0] === 0 ? [0, 1] : [1, 0];
    expect(energy(i2)).toBeGreaterThan(energy(i10));
    const { x } = batchTensors(ds.train, ds.shape, [0, 1, 2]);
    expect(x.shape).toEqual([3, 1, 32, 32]);
    x.dispose();

    // The log-mel cache: a second load reads it (a planted value shows), a touched clip invalidates it.
    const cache = join(root, '.logmel-cache.bin');
    const bytes = readFileSync(cache);
    expect(bytes.length).toBe(64 + 6 * size * 4);
    bytes.writeFloatLE(123, 64);
    writeFileSync(cache, bytes);
    const cached = await loadDataset(root);
    expect(cached.train.x[0]).not.toBeCloseTo(ds.train.x[0], 2);
    expect(Array.from(cached.test.x)).not.toEqual(Array.from(ds.test.x)); // the planted value moved band 0's statistics
    utimesSync(join(root, 'train', '2', 'a.wav'), new Date(), new Date(Date.now() + 5000));
    const fresh = await loadDataset(root);
    expect(Array.from(fresh.train.x)).toEqual(Array.from(ds.train.x));
  });

  it('errors: no WAVs, one class, a test class unknown in training, a bad WAV, mixed sample rates', async () => {
    const mk = (name: string) => { const r = join(dir, name); mkdirSync(join(r, 'train'), { recursive: true }); mkdirSync(join(r, 'test'), { recursive: true }); return r; };
    const empty = mk('no-wavs');
    mkdirSync(join(empty, 'train', '0'));
    await rejects(loadDataset(empty), join(empty, 'train'), /no WAV files/, /train\/<class>\/\*\.wav/);
    const one = mk('one-class');
    write(one, 'train/0/a.wav', tone(500, 0.1));
    write(one, 'test/0/a.wav', tone(500, 0.1));
    await rejects(loadDataset(one), /one class only \(0\)/);
    const unknown = mk('unknown-class');
    write(unknown, 'train/0/a.wav', tone(500, 0.1));
    write(unknown, 'train/1/a.wav', tone(900, 0.1));
    write(unknown, 'test/5/a.wav', tone(500, 0.1));
    await rejects(loadDataset(unknown), join(unknown, 'test', '5'), /class "5" is not among the training classes \(0, 1\)/);
    const notest = join(dir, 'no-test');
    write(notest, 'train/0/a.wav', tone(500, 0.1));
    write(notest, 'train/1/a.wav', tone(900, 0.1));
    await rejects(loadDataset(notest), join(notest, 'test'), /not a readable directory/);
    const bad = mk('bad-wav');
    write(bad, 'train/0/a.wav', tone(500, 0.1));
    writeFileSync(join(bad, 'train', '0', 'b.wav'), 'not audio at all');
    write(bad, 'train/1/a.wav', tone(900, 0.1));
    write(bad, 'test/1/a.wav', tone(900, 0.1));
    await rejects(loadDataset(bad), join(bad, 'train', '0', 'b.wav'), /not a RIFF\/WAVE file/);
    const rates = mk('rates');
    write(rates, 'train/0/a.wav', tone(500, 0.1));
    write(rates, 'train/1/a.wav', tone(900, 0.1));
    write(rates, 'test/1/a.wav', tone(900, 0.1), 16000);
    await rejects(loadDataset(rates), join(rates, 'test', '1', 'a.wav'), /sample rate 16000 Hz.*8000 Hz/);
    const neither = join(dir, 'neither');
    mkdirSync(neither);
    await rejects(loadDataset(neither), /neither the four IDX files .* nor WAV clips/);
  });
});

describe('loadDataset: images (unchanged path)', () => {
  it('the committed subset: domain image, uint8 storage, batches scaled to [0, 1]', async () => {
    const ds = await loadDataset('subset', { trainLimit: 10, testLimit: 5 });
    expect(ds.domain).toBe('image');
    expect(ds.shape).toEqual([1, 28, 28]);
    expect(ds.train.x).toBeInstanceOf(Uint8Array);
    expect([ds.train.n, ds.test.n, ds.classes]).toEqual([10, 5, 10]);
    const { x } = batchTensors(ds.train, ds.shape, [3]);
    const v = (await x.data()) as Float32Array;
    expect(Array.from(v)).toEqual(Array.from(ds.train.x.subarray(3 * 784, 4 * 784), (p) => Math.fround(p / 255)));
    x.dispose();
  });
});

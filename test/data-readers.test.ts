/**
 * The data readers under bad and awkward input (issue 19): non-finite and overflowing WAV samples,
 * absurd sample rates and empty clips; CSV bytes that are not UTF-8, numeric labels spelled two
 * ways, NaN spellings as missing values; class-stratified --train-limit / --test-limit; the fitted
 * preprocessing as a value that a run stores and `eval` applies; one-class IDX data; bad
 * `$number` entries in a safetensors tree. Tiny files made here, CPU backend.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init } from '../src/init.js';
import { decodeUtf8 } from '../src/io/bytes.js';
import { deserializeTree, serializeTree } from '../src/io/safetensors.js';
import { encodeIdx } from '../src/io/idx.js';
import { encodeWav, parseWav } from '../src/io/wav.js';
import { logMelAmplitudeLimit, logMelSpectrogram } from '../src/data/audio.js';
import { stratifiedSample } from '../src/data/batching.js';
import { key } from '../src/random/random.js';
import { tensor } from '../src/tensor/ops/creation.js';
import { type HostDataset, loadDataset, type Preprocessing } from '../src/cli/data.js';
import { logMelOptions, MAX_SAMPLE_RATE } from '../src/cli/data-audio.js';
import { UsageError } from '../src/cli/args.js';
import * as io from '../src/io/node.js';
import { wgrad } from './helpers/cli.js';

const DATA = fileURLToPath(new URL('../data/', import.meta.url));
const SR = 8000;
let dir: string;

beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = mkdtempSync(join(tmpdir(), 'wgrad-readers-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The error `promise` rejects with (a WgradError or a UsageError, never a raw one), its message matching every pattern. */
async function rejects(promise: Promise<unknown>, ...patterns: (string | RegExp)[]): Promise<Error> {
  const e = await promise.then(() => undefined, (err: unknown) => err);
  expect(e, 'expected an error').toBeInstanceOf(Error);
  expect((e as Error).name, (e as Error).stack).toMatch(/WgradError|UsageError/);
  for (const p of patterns) expect((e as Error).message).toMatch(p);
  return e as Error;
}

const tone = (f: number, amp: number, length = SR) => Float32Array.from({ length }, (_, i) => amp * Math.sin((2 * Math.PI * f * i) / SR));

/** A WAV directory: for each [split, class, clip name, samples, rate?] a file. */
function wavDir(name: string, clips: [string, string, string, Float32Array, number?][], format: 'pcm16' | 'float32' = 'pcm16'): string {
  const root = join(dir, name);
  for (const [split, cls, file, samples, rate] of clips) {
    mkdirSync(join(root, split, cls), { recursive: true });
    writeFileSync(join(root, split, cls, file), encodeWav(samples, rate ?? SR, { format }));
  }
  return root;
}

/** Two classes of tones, 2 training and 1 test clip each, plus `extra`. */
const basic = (extra: [string, string, string, Float32Array, number?][] = []): [string, string, string, Float32Array, number?][] => [
  ['train', '0', 'a.wav', tone(500, 0.1)], ['train', '0', 'b.wav', tone(500, 0.2)], ['train', '1', 'a.wav', tone(2000, 0.1)],
  ['train', '1', 'b.wav', tone(2000, 0.3)], ['test', '0', 'a.wav', tone(500, 0.5)], ['test', '1', 'a.wav', tone(2000, 0.5)], ...extra,
];

const csv = (name: string, text: string | Uint8Array) => { const p = join(dir, name); writeFileSync(p, text); return p; };

function schemaOf(ds: HostDataset) {
  if (ds.preprocessing.domain !== 'tabular') throw new Error(`expected a table, got ${ds.domain}`);
  return ds.preprocessing.schema;
}

describe('WAV: non-finite and overflowing samples, sample rates, empty clips', () => {
  it('parseWav refuses NaN and ±∞ float samples, naming the file, the sample and the channel', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const x = tone(500, 0.1, 16);
      x[5] = bad;
      expect(() => parseWav(encodeWav(x, SR, { format: 'float32' }), { name: 'bad.wav' })).toThrow(new RegExp(`bad\\.wav: sample 5 is ${bad}; float samples must be finite`));
    }
    const stereo = new Float32Array(8).fill(0.1);
    stereo[7] = NaN; // frame 3, channel 1
    expect(() => parseWav(encodeWav(stereo, SR, { channels: 2, format: 'float32' }), { name: 's.wav' })).toThrow(/s\.wav: sample 3 \(channel 1\) is NaN/);
    expect(parseWav(encodeWav(tone(500, 1e6, 16), SR, { format: 'float32' })).samples[1]).toBeCloseTo(1e6 * Math.sin((2 * Math.PI * 500) / SR), -1); // large but finite: the reader's user decides
  });

  it('logMelAmplitudeLimit: a tone at the limit has a finite log-mel, one 10^4 times louder does not', async () => {
    const opts = logMelOptions(SR);
    const limit = logMelAmplitudeLimit(opts);
    expect(limit).toBeGreaterThan(1e15);
    expect(limit).toBeLessThan(1e17);
    const finite = async (amp: number) => {
      const m = logMelSpectrogram(tensor(tone(1000, amp)), opts);
      const v = (await m.data()) as Float32Array;
      m.dispose();
      return v.every(Number.isFinite);
    };
    expect(await finite(limit)).toBe(true);
    expect(await finite(limit * 1e4)).toBe(false);
  });

  it('a clip with a NaN, an ∞ or a 3e38 sample is refused by the loader, naming the file and the sample', async () => {
    const cases: [string, number, RegExp][] = [['nan', NaN, /sample 100 is NaN/], ['inf', -Infinity, /sample 100 is -Infinity/], ['huge', 3e38, /sample 100 is 3\.0*\d*e\+38, beyond ±1\.\d\de\+16, where the log-mel's power spectrum overflows float32/]];
    for (const [name, value, pattern] of cases) {
      const x = tone(500, 0.1);
      x[100] = value;
      const root = wavDir(`float-${name}`, basic([['train', '1', 'c.wav', x]]), 'float32');
      await rejects(loadDataset(root), join(root, 'train', '1', 'c.wav'), pattern);
    }
  });

  it('sample rates: 4,294,967,295 Hz and 192 kHz are refused naming the file and the rate; 96 kHz is supported', async () => {
    const root = wavDir('rate-absurd', basic().map(([s, c, f, x]) => [s, c, f, x.subarray(0, 64), 4294967295]));
    const e = await rejects(loadDataset(root), /train\/[01]\/[ab]\.wav: a sample rate of 4294967295 Hz is outside what the log-mel features support \(31\.\.127006 Hz/, /resample/);
    expect(e.message).not.toMatch(/RangeError|Invalid typed array length/);
    expect(MAX_SAMPLE_RATE).toBe(127006);
    expect(logMelOptions(96000).nFft).toBe(4096);
    expect(() => logMelOptions(192000, 'x.wav')).toThrow(/x\.wav: a sample rate of 192000 Hz is outside/);
    expect(() => logMelOptions(30, 'x.wav')).toThrow(/x\.wav: a sample rate of 30 Hz is outside/);
  });

  it('a clip with no samples is refused, naming the file (not read as silence)', async () => {
    const root = wavDir('empty-clip', basic([['test', '0', 'empty.wav', new Float32Array(0)]]));
    await rejects(loadDataset(root), join(root, 'test', '0', 'empty.wav'), /holds no samples/);
  });
});

describe('CSV: encodings, numeric labels, missing values', () => {
  it('decodeUtf8 names the line and byte of the first ill-formed sequence', () => {
    const bytes = (...b: number[]) => Uint8Array.from(b);
    expect(decodeUtf8(new TextEncoder().encode('\ufeffcafé,😀\n'), 'x')).toBe('café,😀\n');
    expect(() => decodeUtf8(bytes(0x61, 0x0a, 0x62, 0xe9, 0x2c), 'l1.csv')).toThrow(/l1\.csv, line 2: the byte 0xe9 at offset 3 \(after "b"\) is not valid UTF-8.*Latin-1/);
    expect(() => decodeUtf8(bytes(0x61, 0xed, 0xa0, 0x80), 'x')).toThrow(/line 1: the byte 0xed at offset 1 /); // a UTF-16 surrogate
    expect(() => decodeUtf8(bytes(0xc0, 0xaf), 'x')).toThrow(/the byte 0xc0 at offset 0 /); // overlong
    expect(() => decodeUtf8(bytes(0x61, 0x0a, 0x0a, 0xe2, 0x82), 'x')).toThrow(/line 3: the byte 0xe2 at offset 3 /); // cut short at the end
  });

  it('a Latin-1 table is refused naming the line and byte (two accented labels no longer merge into one class)', async () => {
    const latin1 = Uint8Array.from('a,label,split\n1,caf\xe9,train\n2,caf\xe8,train\n3,caf\xe9,test\n', (c) => c.charCodeAt(0));
    const p = csv('latin1.csv', latin1);
    await rejects(loadDataset(p), `${p}, line 2: the byte 0xe9 at offset 19 (after "1,caf")`, /iconv -f latin1/);
  });

  it('numeric labels are compared as numbers: "1", "1.0" and "01" are one class', async () => {
    const p = csv('numlabels.csv', 'a,label,split\n1,1,train\n2,1.0,train\n3,2,train\n4,2.00,train\n5,01,test\n6,2e0,test\n');
    const ds = await loadDataset(p);
    expect(ds.classes).toBe(2);
    expect(ds.classNames).toEqual(['1', '2']);
    expect(Array.from(ds.train.labels)).toEqual([0, 0, 1, 1]);
    expect(Array.from(ds.test.labels)).toEqual([0, 1]);
  });

  it('NaN, nan, NA and empty cells are missing values of a numeric column, imputed with the training mean', async () => {
    const p = csv('nans.csv', 'a,b,label,split\n1,x,p,train\nnan,y,q,train\n3,x,p,train\nNaN,y,q,train\nNA,x,p,train\n,y,q,train\nNaN,x,p,test\n5,y,q,test\n');
    const ds = await loadDataset(p);
    expect(ds.shape).toEqual([4]); // a, then b: x, y, <missing> (not a one-hot of 1, 3, nan, NaN, ...)
    const [a] = schemaOf(ds).columns;
    expect(a).toEqual({ name: 'a', kind: 'numeric', mean: 2, std: 1, missingInTraining: 4 });
    expect(Array.from(ds.train.x.filter((_, i) => i % 4 === 0))).toEqual([-1, 0, 1, 0, 0, 0]);
    expect(Array.from(ds.test.x.filter((_, i) => i % 4 === 0))).toEqual([0, 3]);
  });
});

describe('--train-limit / --test-limit: a seeded class-stratified sample', () => {
  it('stratifiedSample: shares by largest remainder, every class present, seeded, ascending', () => {
    const classes = [...Array(90).fill('a'), ...Array(9).fill('b'), 'c'];
    const pick = stratifiedSample(classes, 10, key(0));
    const count = (c: string) => Array.from(pick).filter((i) => classes[i] === c).length;
    expect([count('a'), count('b'), count('c')]).toEqual([8, 1, 1]); // 9, 0.9→1, 0.1→0, then c takes one from a
    expect(Array.from(pick)).toEqual([...pick].sort((x, y) => x - y));
    expect(new Set(pick).size).toBe(10);
    expect(stratifiedSample(classes, 10, key(0))).toEqual(pick);
    expect(Array.from(stratifiedSample(classes, 10, key(1)))).not.toEqual(Array.from(pick));
    expect(Array.from(stratifiedSample(classes, 200, key(0)))).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(stratifiedSample([1, 1, 2, 2, 2, 2], 3, key(5)).length).toBe(3);
    expect(() => stratifiedSample(classes, -1, key(0))).toThrow(/n must be a non-negative integer/);
  });

  it('the shipped Satellite table with --train-limit 1000 keeps all 6 classes in their shares', async () => {
    const full = await loadDataset(join(DATA, 'satellite.csv'));
    const ds = await loadDataset(join(DATA, 'satellite.csv'), { trainLimit: 1000, testLimit: 300 });
    expect([ds.train.n, ds.test.n, ds.classes]).toEqual([1000, 300, 6]);
    for (let c = 0; c < 6; c++) {
      const share = full.train.labels.filter((y) => y === c).length / full.train.n;
      expect(Math.abs(ds.train.labels.filter((y) => y === c).length - 1000 * share)).toBeLessThanOrEqual(1);
    }
    const again = await loadDataset(join(DATA, 'satellite.csv'), { trainLimit: 1000, testLimit: 300 });
    expect(Array.from(again.train.x.subarray(0, 360))).toEqual(Array.from(ds.train.x.subarray(0, 360)));
  });

  it('audio: a limit keeps every class even when one class is rare', async () => {
    const rare = basic().filter(([s, c]) => s === 'test' || c === '1').concat([['train', '0', 'only.wav', tone(500, 0.2)]]);
    for (let i = 0; i < 6; i++) rare.push(['train', '1', `x${i}.wav`, tone(2000, 0.05 * (i + 1))]);
    const ds = await loadDataset(wavDir('rare-class', rare), { trainLimit: 2 });
    expect(Array.from(ds.train.labels).sort()).toEqual([0, 1]);
  });
});

describe('the fitted preprocessing: a value loaders return and accept', () => {
  const tableA = 'a,color,label,split\n1,red,x,train\n3,blue,y,train\n5,red,x,train\n7,blue,y,train\n2,red,x,test\n4,blue,y,test\n';
  const tableB = 'a,color,label,split\n100,red,x,train\n300,blue,y,train\n200,red,x,test\n400,green,y,test\n';

  it('tables: applied to other rows instead of fitting again, and the same after a checkpoint round trip', async () => {
    const a = await loadDataset(csv('pa.csv', tableA));
    expect(schemaOf(a).columns[0]).toMatchObject({ kind: 'numeric', mean: 4, std: Math.sqrt(5) });
    const bytes = await serializeTree({ preprocessing: a.preprocessing });
    const stored = deserializeTree<{ preprocessing: Preprocessing }>(bytes).tree.preprocessing;
    expect(stored).toEqual(a.preprocessing);
    const b = await loadDataset(csv('pb.csv', tableB), { preprocessing: stored });
    expect(b.preprocessing).toEqual(a.preprocessing);
    expect(b.description).toMatch(/with the preprocessing given/);
    const std = Math.sqrt(5);
    expect(Array.from(b.train.x.filter((_, i) => i % 4 === 0))).toEqual([(100 - 4) / std, (300 - 4) / std].map(Math.fround));
    expect(Array.from(b.test.x.subarray(4))).toEqual([Math.fround((400 - 4) / std), 0, 0, 1]); // green: not a training category
  });

  it('audio: the band statistics given standardize other clips', async () => {
    const a = await loadDataset(wavDir('pre-a', basic()));
    const other = wavDir('pre-b', basic().map(([s, c, f, x]) => [s, c, f, x.map((v) => 3 * v)]));
    const fitted = await loadDataset(other);
    const given = await loadDataset(other, { preprocessing: a.preprocessing });
    if (a.preprocessing.domain !== 'audio' || fitted.preprocessing.domain !== 'audio') throw new Error('expected audio');
    const [sa, sb] = [a.preprocessing.features, fitted.preprocessing.features];
    expect(given.preprocessing).toEqual(a.preprocessing);
    for (const at of [0, 5 * 32 + 7, 31 * 32 + 31, 1024 + 20 * 32 + 3]) {
      const band = Math.floor(at / 32) % 32;
      const raw = fitted.test.x[at] * sb.std[band] + sb.mean[band];
      expect(given.test.x[at]).toBeCloseTo((raw - sa.mean[band]) / sa.std[band], 3);
    }
  });

  it('a preprocessing of another domain is a usage error naming --data; a corrupt one names what is wrong', async () => {
    const table = await loadDataset(csv('pc.csv', tableA));
    const e = await rejects(loadDataset(wavDir('pre-c', basic()), { preprocessing: table.preprocessing }), /--data .*pre-c holds audio data, but the preprocessing to apply \(the run's\) is for tabular data/);
    expect(e).toBeInstanceOf(UsageError);
    await rejects(loadDataset('subset', { trainLimit: 10, testLimit: 10, preprocessing: table.preprocessing }), /holds image data/);
    const schema = schemaOf(table);
    const broken = { domain: 'tabular', schema: { ...schema, columns: [{ ...schema.columns[0], std: 0 }, schema.columns[1]] } } as Preprocessing;
    await rejects(loadDataset(csv('pd.csv', tableA), { preprocessing: broken }), /the preprocessing given for .*pd\.csv: not a fitted tabular schema \(column "a"/);
    const audio = await loadDataset(wavDir('pre-e', basic()));
    if (audio.preprocessing.domain !== 'audio') throw new Error('expected audio');
    const wrongRate = { domain: 'audio', features: { ...audio.preprocessing.features, sampleRate: 16000 } } as Preprocessing;
    await rejects(loadDataset(wavDir('pre-e', basic()), { preprocessing: wrongRate }), /the audio preprocessing given for .*pre-e has log-mel settings/);
  });

  it('train stores it in the run; eval applies it to the data it evaluates on', async () => {
    const rows = Array.from({ length: 30 }, (_, i) => `${i % 3 === 0 ? 10 + i : i},${'xyz'[i % 3]},${i % 5 === 0 ? 'test' : 'train'}`);
    const train = csv('run.csv', `a,label,split\n${rows.join('\n')}\n`);
    const run = join(dir, 'run');
    const r = await wgrad('train', '--method', 'noise', '--data', train, '--batch', '8', '--hidden', '8', '--feature-dim', '4', '--proj-dim', '4', '--epochs', '1', '--out', run);
    expect(r.status, r.stderr).toBe(0);
    const { tree } = await io.loadCheckpoint<{ preprocessing?: Preprocessing }>(join(run, 'checkpoint.safetensors'));
    expect(tree.preprocessing?.domain).toBe('tabular');
    expect(tree.preprocessing).toEqual((await loadDataset(train)).preprocessing);
    const shifted = csv('run-shifted.csv', readFileSync(train, 'utf8').replace(/^(\d+),/gm, (_, v: string) => `${Number(v) + 1000},`));
    const e = await wgrad('eval', '--checkpoint', run, '--data', shifted, '--probe-epochs', '1', '--robust-limit', '4', '--steps', '1', '--knn-k', '3', '--eval-eps', '0.1');
    expect(e.status, e.stderr).toBe(0);
    expect(e.stderr).toMatch(/data: the table .*run-shifted\.csv: .*with the preprocessing given, not one fitted on these training rows/);
  }, 60_000);
});

describe('one-class IDX data and bad safetensors numbers', () => {
  it('IDX training labels of one class are refused as tables and WAV directories are', async () => {
    const root = join(dir, 'idx-one');
    mkdirSync(root);
    const images = (n: number) => encodeIdx({ dtype: 'uint8', shape: [n, 4, 4], data: new Uint8Array(n * 16).fill(7) });
    const labels = (...ys: number[]) => encodeIdx({ dtype: 'uint8', shape: [ys.length], data: Uint8Array.from(ys) });
    writeFileSync(join(root, 'train-images-idx3-ubyte'), images(3));
    writeFileSync(join(root, 'train-labels-idx1-ubyte'), labels(4, 4, 4));
    writeFileSync(join(root, 't10k-images-idx3-ubyte'), images(2));
    writeFileSync(join(root, 't10k-labels-idx1-ubyte'), labels(4, 1));
    await rejects(loadDataset(root), join(root, 'train-labels-idx1-ubyte'), /one class only \(label 4\) in the training images; a classification dataset needs at least 2/);
    writeFileSync(join(root, 'train-labels-idx1-ubyte'), labels(4, 4, 1));
    await rejects(loadDataset(root, { trainLimit: 2 }), /one class only \(label 4\) in the training images \(the first 2, --train-limit\)/);
    expect((await loadDataset(root)).classes).toBe(5);
  });

  it('a {"$number": …} entry other than NaN, ±Infinity and -0 is refused, naming its key', async () => {
    const file = (tree: unknown) => {
      const header = new TextEncoder().encode(JSON.stringify({ __metadata__: { 'wgrad.tree': JSON.stringify(tree) } }).padEnd(120, ' '));
      const out = new Uint8Array(8 + header.length);
      new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
      out.set(header, 8);
      return out;
    };
    expect(() => deserializeTree(file({ config: { lr: { $number: 'abc' } } }), { name: 'r.safetensors' }))
      .toThrow(/r\.safetensors: the number at config\.lr is "abc"; a \{"\$number": …\} entry must be one of "NaN", "Infinity", "-Infinity", "-0"/);
    expect(() => deserializeTree(file({ h: [1, { $number: 5 }] }))).toThrow(/the number at h\[1\] is 5/);
    expect(() => deserializeTree(file({ $$x: { $number: '' } }))).toThrow(/the number at \$x is ""/);
    const ok = deserializeTree<{ a: number; b: number; c: number }>(file({ a: { $number: 'NaN' }, b: { $number: '-0' }, c: { $number: '-Infinity' } })).tree;
    expect([Number.isNaN(ok.a), Object.is(ok.b, -0), ok.c]).toEqual([true, true, -Infinity]);
  });
});

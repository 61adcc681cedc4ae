/**
 * Readers: IDX (plain and gzipped, errors, the Fashion-MNIST loader), CSV / tabular preprocessing,
 * WAV, host framing. CPU backend.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { init } from '../src/init.js';
import { memoryStats } from '../src/init.js';
import { dispose } from '../src/tensor/scope.js';
import * as io from '../src/io/node.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

describe('IDX', () => {
  const images = { dtype: 'uint8' as const, shape: [3, 2, 2], data: Uint8Array.from([0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0]) };

  it('round-trips every element type, big-endian', async () => {
    const cases: io.IdxArray[] = [
      images,
      { dtype: 'int8', shape: [3], data: Int8Array.from([-128, 0, 127]) },
      { dtype: 'int16', shape: [2, 2], data: Int16Array.from([-300, 1, 2, 32767]) },
      { dtype: 'int32', shape: [2], data: Int32Array.from([-70000, 1 << 30]) },
      { dtype: 'float32', shape: [2], data: Float32Array.from([1.5, -0.25]) },
      { dtype: 'float64', shape: [1, 1], data: Float64Array.from([Math.PI]) },
    ];
    for (const c of cases) {
      const bytes = io.encodeIdx(c);
      const back = await io.parseIdx(bytes);
      expect(back.dtype).toBe(c.dtype);
      expect(back.shape).toEqual(c.shape);
      expect(Array.from(back.data)).toEqual(Array.from(c.data));
    }
    // Big-endian on disk: the int16 −300 is ff d4.
    const b = io.encodeIdx(cases[2]);
    expect([b[2], b[3], b[12], b[13]]).toEqual([0x0b, 2, 0xfe, 0xd4]);
  });

  it('reads gzipped data (gzip magic detected)', async () => {
    const gz = await gzip(io.encodeIdx(images));
    expect(io.isGzip(gz)).toBe(true);
    const back = await io.parseIdx(gz, 'x.gz');
    expect(Array.from(back.data)).toEqual(Array.from(images.data));
    expect(() => io.parseIdxBytes(gz, 'x.gz')).toThrow(/x\.gz: the data is gzipped/);
  });

  it('makes image tensors in [0, 1] and int32 labels', async () => {
    const x = io.idxImages(images);
    expect(x.shape).toEqual([3, 1, 2, 2]);
    expect(x.dtype).toBe('float32');
    const d = await x.data();
    expect(d[1]).toBe(1);
    expect(d[2]).toBeCloseTo(0.2, 6);
    const y = io.idxLabels({ dtype: 'uint8', shape: [3], data: Uint8Array.from([9, 0, 3]) });
    expect(y.dtype).toBe('int32');
    expect(Array.from(await y.data())).toEqual([9, 0, 3]);
    expect(() => io.idxLabels(images, { name: 'lab' })).toThrow(/lab: expected dims \[N\], got \[3, 2, 2\]/);
    dispose([x, y]);
  });

  it('names the file and the problem', async () => {
    const good = io.encodeIdx(images);
    const bad = good.slice();
    bad[0] = 0x42;
    await expect(io.parseIdx(bad, 'f.idx')).rejects.toThrow(/f\.idx: bad magic 42 00 08 03/);
    const badType = good.slice();
    badType[2] = 0x07;
    await expect(io.parseIdx(badType, 'f.idx')).rejects.toThrow(/unknown element type code 0x07/);
    await expect(io.parseIdx(good.subarray(0, good.length - 1), 'f.idx')).rejects.toThrow(/f\.idx: truncated data: dims \[3, 2, 2\] of uint8 need 28 bytes, got 27/);
    await expect(io.parseIdx(good.subarray(0, 9), 'f.idx')).rejects.toThrow(/truncated header/);
    const extra = new Uint8Array(good.length + 4);
    extra.set(good);
    await expect(io.parseIdx(extra, 'f.idx')).rejects.toThrow(/dims mismatch.*4 extra/);
    const gz = await gzip(good);
    await expect(io.parseIdx(gz.subarray(0, gz.length - 6), 'g.gz')).rejects.toThrow(/g\.gz: corrupt or truncated gzip data/);
  });

  it('loads Fashion-MNIST: the committed subset, and the full set when installed', async () => {
    const before = memoryStats().tensors;
    const sub = await io.loadFashionMnist({ subset: true });
    expect(sub.source).toBe('subset');
    expect(sub.train.images.shape).toEqual([2000, 1, 28, 28]);
    expect(sub.test.images.shape).toEqual([1000, 1, 28, 28]);
    expect(sub.train.labels.shape).toEqual([2000]);
    expect(sub.description).toMatch(/committed subset.*2000 training and 1000 test/);
    const labels = await sub.train.labels.data();
    expect(Math.min(...labels)).toBe(0);
    expect(Math.max(...labels)).toBe(9);
    const px = await sub.test.images.data();
    expect(Math.min(...px.subarray(0, 20000))).toBe(0);
    expect(Math.max(...px.subarray(0, 20000))).toBe(1);
    const fallback = await io.loadFashionMnist({ trainLimit: 100, testLimit: 10 });
    const full = existsSync(`${io.FASHION_MNIST_DEBIAN_DIR}/train-images-idx3-ubyte.gz`);
    expect(fallback.source).toBe(full ? 'full' : 'subset');
    expect(fallback.train.images.shape).toEqual([100, 1, 28, 28]);
    // The subset is the prefix of the full set.
    expect(Array.from(await fallback.train.labels.data())).toEqual(Array.from(labels.subarray(0, 100)));
    await expect(io.loadFashionMnist({ dir: '/nonexistent' })).rejects.toThrow(/\/nonexistent\/train-images-idx3-ubyte\(\.gz\), .*\/nonexistent\/t10k-labels-idx1-ubyte\(\.gz\) not found/);
    dispose([sub.train, sub.test, fallback.train, fallback.test]);
    expect(memoryStats().tensors).toBe(before);
  });
});

describe('CSV', () => {
  it('parses quotes, embedded delimiters, newlines, CRLF and blank lines', () => {
    const t = io.parseCsv('\ufeffa,b , c\r\n1,"x, y",  z \r\n\r\n"multi\nline","say ""hi""",3\n', { name: 't.csv' });
    expect(t.header).toEqual(['a', 'b', 'c']);
    expect(t.rows).toEqual([['1', 'x, y', 'z'], ['multi\nline', 'say "hi"', '3']]);
    expect(t.lines).toEqual([2, 4]);
  });

  it('errors name the line and column', () => {
    expect(() => io.parseCsv('a,b\n1,2\n3\n', { name: 't.csv' })).toThrow(/t\.csv, line 3: ragged row: 1 fields, the header has 2/);
    expect(() => io.parseCsv('a,b\n"1,2\n', { name: 't.csv' })).toThrow(/line 2: unterminated quoted field/);
    expect(() => io.parseCsv('a,a\n1,2\n')).toThrow(/duplicate column name "a"/);
    expect(() => io.parseCsv('a,b\n"1"x,2\n')).toThrow(/line 2: unexpected "x" after a closing quote/);
  });

  const train = [
    'id,age,colour,income,label',
    '1,20,red,100,yes',
    '2,30,"blue, dark",NA,no',
    '3,?,red,300,yes',
    '4,50,,200,no',
  ].join('\n');

  it('standardizes numeric columns, one-hots categorical ones, imputes missing values', () => {
    const schema = io.fitTabular(train, { label: 'label', ignore: ['id'] });
    expect(schema.classes).toEqual(['no', 'yes']);
    expect(schema.featureNames).toEqual(['age', 'colour=blue, dark', 'colour=red', 'colour=<missing>', 'income']);
    const age = schema.columns[0];
    expect(age).toMatchObject({ kind: 'numeric', missingInTraining: 1 });
    if (age.kind !== 'numeric') throw new Error();
    expect(age.mean).toBeCloseTo(100 / 3, 12);
    expect(age.std).toBeCloseTo(Math.sqrt(((20 - 100 / 3) ** 2 + (30 - 100 / 3) ** 2 + (50 - 100 / 3) ** 2) / 3), 12);
    const enc = io.encodeTabular(schema, train);
    expect([enc.n, enc.d]).toEqual([4, 5]);
    const row = (r: number) => Array.from(enc.x.subarray(r * 5, r * 5 + 5));
    expect(row(0)[0]).toBeCloseTo((20 - age.mean) / age.std, 5);
    expect(row(2)[0]).toBe(0); // age missing → mean → 0
    expect(row(1).slice(1, 4)).toEqual([1, 0, 0]);
    expect(row(3).slice(1, 4)).toEqual([0, 0, 1]); // empty colour → missing slot
    expect(row(1)[4]).toBe(0); // income NA → 0
    expect(Array.from(enc.y!)).toEqual([1, 0, 1, 0]);

    // The test split uses the training statistics; an unseen category goes to the missing slot.
    const test = 'label,income,colour,age,id\nno,200,green,40,9\n';
    const te = io.encodeTabular(schema, test, { name: 'test.csv' });
    expect(te.x[0]).toBeCloseTo((40 - age.mean) / age.std, 5);
    expect(Array.from(te.x.subarray(1, 4))).toEqual([0, 0, 1]);
    expect(te.x[4]).toBeCloseTo(0, 6); // income 200 is the training mean
    expect(Array.from(te.y!)).toEqual([0]);
  });

  it('tensors, regression targets and numeric-looking class labels', async () => {
    const csv = 'x,y\n1,2.5\n2,3.5\n3,NA\n';
    expect(() => io.fitTabular(csv, { label: 'y', task: 'regression' })).toThrow(/line 4, column "y" \(2\): the label is missing/);
    const { schema, train: tr } = io.readTabular('x,y\n1,2.5\n2,3.5\n', { label: 'y', task: 'regression' });
    expect(schema.task).toBe('regression');
    expect(tr.y!.dtype).toBe('float32');
    expect(Array.from(await tr.y!.data())).toEqual([2.5, 3.5]);
    expect(Array.from(await tr.x.data())).toEqual([-1, 1]);
    dispose(tr);
    const cls = io.fitTabular('x,c\n1,10\n2,9\n3,10\n', { label: 'c' });
    expect(cls.classes).toEqual(['9', '10']);
  });

  it('errors: unknown label column, non-numeric test value, unknown class', () => {
    expect(() => io.fitTabular(train, { label: 'target' })).toThrow(/unknown label column "target"; the header has "id", "age"/);
    const schema = io.fitTabular(train, { label: 'label', ignore: ['id'] });
    expect(() => io.encodeTabular(schema, 'age,colour,income,label\n20,red,lots,yes\n', { name: 'test.csv' }))
      .toThrow(/test\.csv, line 2, column "income" \(3\): "lots" is not a number, but the column was numeric in training/);
    expect(() => io.encodeTabular(schema, 'age,colour,income,label\n20,red,1,maybe\n', { name: 'test.csv' }))
      .toThrow(/line 2, column "label" \(4\): label "maybe" is not one of the training classes \(no, yes\)/);
    expect(() => io.encodeTabular(schema, 'age,income,label\n20,1,yes\n')).toThrow(/unknown feature column "colour"/);
  });
});

describe('WAV', () => {
  const sine = Float32Array.from({ length: 800 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 8000));

  it('reads 16-bit PCM and 32-bit float, mono and stereo (averaged)', () => {
    const pcm = io.parseWav(io.encodeWav(sine, 8000), { name: 's.wav' });
    expect(pcm).toMatchObject({ sampleRate: 8000, channels: 1, format: 'pcm16', length: 800 });
    for (let i = 0; i < 800; i++) expect(Math.abs(pcm.samples[i] - sine[i])).toBeLessThan(1 / 32768 + 1e-6);
    const f32 = io.parseWav(io.encodeWav(sine, 16000, { format: 'float32' }));
    expect(f32.format).toBe('float32');
    expect(Array.from(f32.samples)).toEqual(Array.from(sine));
    const stereo = new Float32Array(1600);
    for (let i = 0; i < 800; i++) [stereo[2 * i], stereo[2 * i + 1]] = [sine[i], 0.25];
    const st = io.parseWav(io.encodeWav(stereo, 8000, { channels: 2, format: 'float32' }));
    expect(st.channels).toBe(2);
    expect(st.samples.length).toBe(800);
    expect(st.samples[10]).toBeCloseTo((sine[10] + 0.25) / 2, 6);
    expect(io.parseWav(io.encodeWav(stereo, 8000, { channels: 2, format: 'float32' }), { mono: false }).samples.length).toBe(1600);
  });

  it('skips unknown chunks and errors on unsupported or broken files', () => {
    const base = io.encodeWav(sine.subarray(0, 10), 8000);
    // Insert a LIST chunk (odd size, padded) between fmt and data.
    const list = Uint8Array.from([0x4c, 0x49, 0x53, 0x54, 3, 0, 0, 0, 1, 2, 3, 0]);
    const withList = new Uint8Array(base.length + list.length);
    withList.set(base.subarray(0, 36));
    withList.set(list, 36);
    withList.set(base.subarray(36), 36 + list.length);
    expect(io.parseWav(withList).length).toBe(10);
    const pcm8 = base.slice();
    new DataView(pcm8.buffer).setUint16(34, 8, true);
    expect(() => io.parseWav(pcm8, { name: 'a.wav' })).toThrow(/a\.wav: unsupported format: integer PCM, 8 bits per sample/);
    const mulaw = base.slice();
    new DataView(mulaw.buffer).setUint16(20, 7, true);
    expect(() => io.parseWav(mulaw)).toThrow(/unsupported format: µ-law/);
    expect(() => io.parseWav(base.subarray(0, base.length - 4), { name: 'a.wav' })).toThrow(/a\.wav: truncated data: the 'data' chunk declares 20 bytes, 16 are present/);
    expect(() => io.parseWav(new TextEncoder().encode('RIFF....AVI LIST'))).toThrow(/not a RIFF\/WAVE file/);
  });

  it('frames: pad/crop to N, and frames of length L with hop H', () => {
    const s = Float32Array.from([1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(io.fixLength(s, 4))).toEqual([1, 2, 3, 4]);
    expect(Array.from(io.fixLength(s, 9))).toEqual([1, 2, 3, 4, 5, 6, 7, 0, 0]);
    expect(Array.from(io.fixLength(s, 3, { align: 'center' }))).toEqual([3, 4, 5]);
    const f = io.frameSignal(s, 3, 2);
    expect(f.count).toBe(3);
    expect(Array.from(f.frames)).toEqual([1, 2, 3, 3, 4, 5, 5, 6, 7]);
    const g = io.frameSignal(s, 4, 2, { padEnd: true });
    expect(g.count).toBe(3);
    expect(Array.from(g.frames)).toEqual([1, 2, 3, 4, 3, 4, 5, 6, 5, 6, 7, 0]);
  });
});

/** Splits and batches: host permutations match the device's, seeded shuffling, drop-last, no leaks. CPU backend. */
import { beforeAll, describe, expect, it } from 'vitest';
import { init, memoryStats } from '../src/init.js';
import * as data from '../src/data/index.js';
import * as random from '../src/random/random.js';
import { arange } from '../src/tensor/ops/creation.js';
import { reshape } from '../src/tensor/ops/movement.js';
import { dispose, tidy } from '../src/tensor/scope.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

describe('splits', () => {
  it('permutationIndices equals wg.random.permutation', async () => {
    for (const [seed, n] of [[0, 1], [1, 10], [42, 1000]] as const) {
      const k = random.key(seed);
      const dev = random.permutation(k, n);
      expect(Array.from(data.permutationIndices(k, n))).toEqual(Array.from(await dev.data()));
      dev.dispose();
    }
  });

  it('trainTestSplit partitions 0..n−1, deterministically under a key', () => {
    const k = random.key(3);
    const { train, test } = data.trainTestSplit(k, 103, 0.2);
    expect(test.length).toBe(21);
    expect(train.length).toBe(82);
    expect([...train, ...test].sort((a, b) => a - b)).toEqual(Array.from({ length: 103 }, (_, i) => i));
    expect(data.trainTestSplit(k, 103, 0.2).test).toEqual(test);
    expect(data.trainTestSplit(random.key(4), 103, 0.2).test).not.toEqual(test);
    expect(data.trainTestSplit(k, 10, 0).test.length).toBe(0);
    expect(() => data.trainTestSplit(k, 10, 1.5)).toThrow(/testFraction must be in \[0, 1\]/);
  });

  it('takeRows gathers rows of a pytree', async () => {
    const x = reshape(arange(0, 12), [6, 2]);
    const y = arange(0, 6, 1, 'int32');
    const sub = data.takeRows({ x, y }, Int32Array.from([5, 0]));
    expect(await sub.x.array()).toEqual([[10, 11], [0, 1]]);
    expect(Array.from(await sub.y.data())).toEqual([5, 0]);
    dispose([x, y, sub]);
  });
});

describe('batches', () => {
  it('unshuffled: in order, last batch smaller unless dropLast', async () => {
    const x = reshape(arange(0, 20), [10, 2]);
    const y = arange(0, 10, 1, 'int32');
    const rows: number[][] = [];
    for (const b of data.batches({ x, y }, { batchSize: 4 })) {
      rows.push(Array.from(await b.y.data()));
      expect(b.x.shape).toEqual([b.y.shape[0], 2]);
      dispose(b);
    }
    expect(rows).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect([...data.batches({ x, y }, { batchSize: 4, dropLast: true })].map((b) => { dispose(b); return b.y.shape[0]; })).toEqual([4, 4]);
    expect(data.numBatches(10, 4)).toBe(3);
    expect(data.numBatches(10, 4, true)).toBe(2);
    dispose([x, y]);
  });

  it('shuffled with a key: a permutation, the same for the same key, rows stay aligned, no leaks', async () => {
    const n = 37;
    const x = reshape(arange(0, 2 * n), [n, 2]);
    const y = arange(0, n, 1, 'int32');
    // Warm the cache of scalar constants first (take's index rule caches the axis size n).
    for (const b of data.batches({ x, y }, { batchSize: 8, key: random.key(0) })) dispose(b);
    const before = memoryStats().tensors;
    const epoch = async (k: random.Key) => {
      const seen: number[] = [];
      for (const b of data.batches({ x, y }, { batchSize: 8, key: k })) {
        const ys = Array.from(await b.y.data());
        const xs = await b.x.array() as number[][];
        xs.forEach((row, i) => expect(row).toEqual([2 * ys[i], 2 * ys[i] + 1]));
        seen.push(...ys);
        dispose(b);
      }
      return seen;
    };
    const k = random.key(11);
    const e1 = await epoch(k);
    expect([...e1].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(e1).not.toEqual(Array.from({ length: n }, (_, i) => i));
    expect(await epoch(k)).toEqual(e1);
    expect(e1).toEqual(Array.from(data.permutationIndices(k, n)));
    expect(await epoch(random.foldIn(k, 1))).not.toEqual(e1);
    // Breaking out early releases the permutation; batches made inside tidy die with it.
    for (const b of data.batches({ x, y }, { batchSize: 8, key: k })) {
      tidy(() => b.x.shape);
      dispose(b);
      break;
    }
    tidy(() => {
      for (const b of data.batches({ x }, { batchSize: 5, key: k })) expect(b.x.shape[1]).toBe(2);
    });
    expect(memoryStats().tensors).toBe(before);
    dispose([x, y]);
  });

  it('checks that the leading dimensions agree', () => {
    const a = arange(0, 4);
    const b = arange(0, 5);
    expect(() => data.batches({ a, b }, { batchSize: 2 }).next()).toThrow(/same first dimension: a has 4 rows, b has shape \[5\]/);
    dispose([a, b]);
  });
});


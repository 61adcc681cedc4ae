/**
 * Explicit, splittable PRNG keys (JAX style). A key is two uint32 words held on the host; splitting
 * and folding run Threefry on the host (no device round trip), and the numbers themselves are
 * generated on the device by the `random` primitive: element i of a draw is a pure function of
 * (key, i), so the same key gives the same numbers on every backend and every run.
 */
import { WgradError } from '../core/backend.js';
import { checkDType, type DType } from '../core/dtype.js';
import { runPrim } from '../tensor/engine.js';
import { add, cast, floor, less, mul } from '../tensor/ops/elementwise.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkInt, checkShape } from '../core/shape.js';
import { threefry2x32 } from '../core/random/threefry.js';
import { noteKey } from './key-track.js';

/** A PRNG key (Threefry-2x32, as JAX's): split it, never reuse it. */
export type Key = readonly [number, number];

/** A key from an integer seed (up to 2^53). */
export function key(seed: number): Key {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new WgradError('key', `seed must be a non-negative safe integer, got ${seed}`);
  return noteKey([Math.floor(seed / 2 ** 32) >>> 0, seed >>> 0]);
}

function checkKey(op: string, k: Key): void {
  if (!Array.isArray(k) || k.length !== 2 || k.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
    throw new WgradError(op, `expected a key (two uint32 words, from key(seed) or split), got ${JSON.stringify(k)}`);
  }
}

/** `n` independent keys derived from `k` (counter domain 1; draws use domain 0). */
export function split(k: Key, n = 2): Key[] {
  checkKey('split', k);
  if (!Number.isInteger(n) || n < 0) throw new WgradError('split', `n must be a non-negative integer, got ${n}`);
  return Array.from({ length: n }, (_, i) => noteKey(threefry2x32(k[0], k[1], i, 1), { parent: k, counter: i, domain: 1 }));
}

/** A key derived from `k` and an integer (e.g. a step number). */
export function foldIn(k: Key, data: number): Key {
  checkKey('foldIn', k);
  if (!Number.isInteger(data) || data < -(2 ** 31) || data > 0xffffffff) {
    throw new WgradError('foldIn', `data must be an integer that fits in 32 bits, got ${data}`);
  }
  return noteKey(threefry2x32(k[0], k[1], data >>> 0, 2), { parent: k, counter: data >>> 0, domain: 2 });
}

/** Raw uint32 bits. */
export function bits(k: Key, shape: readonly number[]): Tensor {
  checkKey('bits', k);
  checkShape('bits', shape);
  return runPrim('random', [], { key: [k[0], k[1]], shape: [...shape], dist: 'bits' }, shape, 'uint32');
}

/** Uniform float32 in [minval, maxval). */
export function uniform(k: Key, shape: readonly number[], opts: { minval?: number; maxval?: number } = {}): Tensor {
  checkKey('uniform', k);
  checkShape('uniform', shape);
  const u = runPrim('random', [], { key: [k[0], k[1]], shape: [...shape], dist: 'uniform' }, shape, 'float32');
  const { minval = 0, maxval = 1 } = opts;
  if (minval === 0 && maxval === 1) return u;
  const out = tidy(() => add(mul(u, maxval - minval), minval));
  u.dispose();
  return out;
}

/**
 * Standard normal float32, scaled by `stddev` and shifted by `mean`. Box–Muller on the two words of
 * one Threefry block, evaluated with integer operations only (src/core/random/normal.ts), so that the
 * same key gives the same bits on the CPU and on every WebGPU device.
 */
export function normal(k: Key, shape: readonly number[], opts: { mean?: number; stddev?: number } = {}): Tensor {
  checkKey('normal', k);
  checkShape('normal', shape);
  const z = runPrim('random', [], { key: [k[0], k[1]], shape: [...shape], dist: 'normal' }, shape, 'float32');
  const { mean = 0, stddev = 1 } = opts;
  if (mean === 0 && stddev === 1) return z;
  const out = tidy(() => add(mul(z, stddev), mean));
  z.dispose();
  return out;
}

/** bool tensor, true with probability p. */
export function bernoulli(k: Key, p: number | Tensor, shape: readonly number[]): Tensor {
  checkKey('bernoulli', k);
  checkShape('bernoulli', shape);
  return tidy(() => less(uniform(k, shape), p));
}

/** Integers uniform in [low, high). */
export function randint(k: Key, shape: readonly number[], low: number, high: number, dtype: DType = 'int32'): Tensor {
  checkKey('randint', k);
  checkShape('randint', shape);
  checkInt('randint', 'low', low, -(2 ** 31));
  checkInt('randint', 'high', high, -(2 ** 31));
  checkDType('randint', dtype);
  if (!(high > low)) throw new WgradError('randint', `need high > low, got [${low}, ${high})`);
  return tidy(() => cast(add(floor(mul(uniform(k, shape), high - low)), low), dtype));
}

/** A random permutation of 0..n−1 (int32): a stable argsort of random bits, on the device. */
export function permutation(k: Key, n: number): Tensor {
  checkKey('permutation', k);
  checkInt('permutation', 'n', n);
  return tidy(() => {
    const b = bits(k, [n]);
    return runPrim('argsort', [b], { descending: false }, [n], 'int32');
  });
}

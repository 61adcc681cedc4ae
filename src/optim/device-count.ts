/**
 * The step count on the device. As in Optax (whose `count` is an int32 array), a transformation
 * that counts steps keeps its count as an int32 rank-0 tensor, and what it derives from the count —
 * a schedule's learning rate, Adam's bias corrections — is computed on the device from it. The
 * host never learns the count, so a step under `jit` has the same signature every step and
 * replays instead of tracing anew.
 *
 * Why tables: before the count moved to the device, these values were computed on the host in
 * float64 and rounded to float32 once. The device reproduces exactly those float32 numbers by
 * looking them up in a table of them (computed once on the host, the same way) indexed by the
 * count; float32 arithmetic on the device (pow, cos) would not round the same way, and training
 * would change in the last bits. A value that has no table — a schedule given as a plain
 * function, a table that would be too long — keeps the count on the host, as before.
 */
import { WgradError } from '../core/backend.js';
import type { Backend } from '../core/backend.js';
import { cachedTensor, tensor } from '../tensor/ops/creation.js';
import { add, div, less, where } from '../tensor/ops/elementwise.js';
import { take } from '../tensor/ops/movement.js';
import { Tensor } from '../tensor/tensor.js';
import type { Count, ScalarOrSchedule, Schedule } from './types.js';

/** The most entries a table may hold (16 MiB of float32); a longer one keeps the count on the host. */
export const MAX_TABLE = 1 << 22;
const INT32_MAX = 2 ** 31 - 1;

/** A count of 0 on the device, for `init` (a fresh tensor the state owns). */
export const initCount = (): Tensor => tensor(0, { dtype: 'int32' });

/** count + 1, saturating at the int32 maximum (Optax's safe_int32_increment) instead of wrapping. */
export const nextCount = (count: Tensor): Tensor => where(less(count, INT32_MAX), add(count, 1), count);

/** The count as a tensor: a number count (a state saved before counts moved to the device) is uploaded. */
export function deviceCount(op: string, count: Count): Tensor {
  if (count instanceof Tensor) {
    if (count.dtype !== 'int32' || count.rank !== 0) throw new WgradError(op, `the state's count must be an int32 scalar, got ${count.dtype} [${count.shape.join(', ')}]`);
    return count;
  }
  if (!(Number.isInteger(count) && count >= 0 && count <= INT32_MAX)) throw new WgradError(op, `the state's count must be an integer in [0, 2^31), got ${count}`);
  return tensor(count, { dtype: 'int32' });
}

/** The count as a host number, for a value that has no table; a device count cannot be read here. */
export function hostCount(op: string, count: Count): number {
  if (typeof count === 'number') return count;
  throw new WgradError(op, 'the state holds the step count on the device, but this schedule is a plain function of a host count; build it with optim.tabulatedSchedule(fn, steps) (or a schedule constructor), or start from a state made by this transformation\'s init');
}

/** A table of values by count: entry i is the value at count i·period; the last holds for every later count. */
interface Table {
  /** Identifies the values across calls (the table tensor is cached under it). */
  key: string;
  period: number;
  length: number;
  /** The float64 values; each is rounded to float32 once, as an uploaded scalar is. */
  values: () => number[];
}

/**
 * The value a table holds for `count`, on the device (a rank-0 float32 tensor, or the number
 * itself when the table has one entry: a constant needs no lookup).
 */
export function lookup(table: Table, count: Tensor): Tensor | number {
  const t = tableTensor(table);
  if (typeof t === 'number') return t;
  const index = table.period === 1 ? count : div(count, table.period);
  return take(t, index, 0, { mode: 'clip' });
}

/** The schedule's table with each value negated (a learning rate enters as −lr), or undefined when it has none. */
export function negatedScheduleTable(lr: ScalarOrSchedule): Table | undefined {
  if (typeof lr === 'number') return { key: `n${lr}`, period: 1, length: 1, values: () => [-lr] };
  const spec = (lr as Schedule).table;
  if (!spec) return undefined;
  return { key: `s${idOf(lr)}`, period: spec.period, length: spec.length, values: () => Array.from({ length: spec.length }, (_, i) => -lr(i * spec.period)) };
}

/**
 * Adam's bias correction 1/(1 − b^t) at t = count + 1, as a table up to the count from which it
 * rounds to 1 in float32 (for b = 0.999, about 16,600 entries); undefined when b is so close to 1
 * (or outside (−1, 1)) that the table would pass MAX_TABLE.
 */
export function biasCorrectionTable(b: number): Table | undefined {
  const values: number[] = [];
  for (let t = 1; t <= MAX_TABLE; t++) {
    const c = 1 / (1 - b ** t);
    values.push(c);
    if (Math.fround(c) === 1) return { key: `b${b}`, period: 1, length: values.length, values: () => values };
  }
  return undefined;
}

const ids = new WeakMap<object, number>();
let nextId = 0;
const idOf = (o: object) => ids.get(o) ?? (ids.set(o, ++nextId), nextId);

// Table tensors are cached per backend (kept out of every scope, as the scalar constants are), so
// an eager step uploads nothing; a jitted program keeps its own reference to the tables it read.
const cached = new WeakMap<Backend, Map<string, Tensor>>();
const MAX_CACHED = 32;

function tableTensor(table: Table): Tensor | number {
  if (table.length === 1) return table.values()[0];
  return cachedTensor(cached, table.key, MAX_CACHED, () => tensor(Float32Array.from(table.values())));
}

/**
 * `jit(fn)`: run a function once per input signature, record what reached the backend
 * (./jit-capture.ts), and replay that record on new inputs — no front end (argument checks, shape
 * rules, dtype promotion), no autodiff trace, no scopes, only the backend's `run` and `release`
 * calls — or, where the backend records the work below them (Backend.recordWork: WebGPU's
 * dispatches, src/backends/webgpu/work-log.ts), that work on the new inputs' buffers.
 *
 * The signature of a call is the pytree structure of its arguments; for each tensor its dtype,
 * shape, layout (strides, offset), backend and which other argument shares its storage; for each
 * key from key()/split()/foldIn() only that it is a key (keys are inputs: a replay draws from the
 * new key); every other leaf by value (numbers, strings, booleans) or by identity (functions,
 * class instances). A call whose signature has no program traces again; at most `maxTraces`
 * programs are kept (least recently used first out).
 *
 * As in JAX, a jitted function must be a pure function of its arguments: tensors it closes over
 * and host values it computes with are captured by value when it is traced.
 */
import { WgradError } from '../core/backend.js';
import type { Backend, RecordedWork, Storage, View, WorkRecorder } from '../core/backend.js';
import { threefry2x32 } from '../core/random/threefry.js';
import { isKey } from '../random/key-track.js';
import type { Key } from '../random/random.js';
import { backend } from './engine.js';
import { Capture, captureError, type Derivation, type Slot, type Step } from './jit-capture.js';
import { graphAlive, inScope } from './lifetime.js';
import { StorageRef, Tensor } from './tensor.js';
import { treeTensors, treeUnflatten } from './tree.js';

/** Options of {@link jit}. */
export interface JitOptions {
  /** Programs kept, one per input signature (default 8); the least recently used goes first. */
  maxTraces?: number;
}

/**
 * A jitted function: `fn`'s own signature, plus what it has kept.
 * @typeParam F - the function that was jitted.
 */
export type Jitted<F extends (...args: never[]) => unknown> = F & {
  /** How many times `fn` has been traced (a call whose signature had no program). */
  readonly traces: number;
  /** How many calls were replays. */
  readonly replays: number;
  /** Drops every program (and the constants they keep). */
  clear(): void;
};

/** What a call looks like: its signature, its tensor leaves and its key leaves. */
interface Flat {
  signature: string;
  tensors: Tensor[];
  keys: Key[];
}

/** An output leaf: an argument or an outside tensor returned as it is, or a fresh tensor over a slot. */
type Out =
  | { kind: 'arg'; arg: number }
  | { kind: 'same'; tensor: Tensor }
  | { kind: 'fresh'; slot: number; tensor: Tensor };

interface Program {
  backend: Backend;
  slots: Slot[];
  steps: Step[];
  derivations: Derivation[];
  outputs: Out[];
  /** The result with its tensor leaves in treeTensors order (structure and non-tensor leaves). */
  result: unknown;
  /** Arguments the function disposed: a replay disposes them too. */
  disposedArgs: number[];
  /**
   * The work below the front end, where the backend records it (Backend.recordWork: WebGPU's
   * dispatches): a replay does it instead of the steps, and it makes `workSlots`.
   */
  work?: RecordedWork;
  workSlots: number[];
  /** The random draws among the steps, in order (the recorded work takes their keys). */
  draws: Extract<Step, { op: 'run' }>[];
}

const ids = new WeakMap<object, number>();
let nextObjectId = 0;
const idOf = (o: object) => ids.get(o) ?? (ids.set(o, ++nextObjectId), nextObjectId);

/** The signature of `args` (see the header), with their tensors and keys in walk order. */
function flatten(args: unknown[]): Flat {
  const tensors: Tensor[] = [], keys: Key[] = [], parts: string[] = [];
  const firstOfRef = new Map<StorageRef, number>(), firstOfKey = new Map<string, number>();
  const walk = (v: unknown): void => {
    if (v instanceof Tensor) {
      v._check('jit');
      const same = firstOfRef.get(v._ref);
      if (same === undefined) firstOfRef.set(v._ref, tensors.length);
      parts.push(`T${v.dtype}[${v.shape}|${v._strides}|${v._offset}]b${idOf(v.backend)}${same === undefined ? '' : `=${same}`}`);
      tensors.push(v);
    } else if (isKey(v)) {
      const text = `${v[0]},${v[1]}`, same = firstOfKey.get(text);
      if (same === undefined) firstOfKey.set(text, keys.length);
      parts.push(same === undefined ? 'K' : `K=${same}`);
      keys.push(v);
    } else if (Array.isArray(v)) {
      parts.push('[');
      v.forEach(walk);
      parts.push(']');
    } else if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype) {
      parts.push('{');
      for (const [k, x] of Object.entries(v)) {
        parts.push(JSON.stringify(k));
        walk(x);
      }
      parts.push('}');
    } else if ((typeof v === 'object' && v !== null) || typeof v === 'function') parts.push(`@${idOf(v)}`);
    else parts.push(typeof v === 'number' && Object.is(v, -0) ? '-0' : typeof v === 'string' ? JSON.stringify(v) : String(v));
  };
  walk(args);
  return { signature: parts.join(' '), tensors, keys };
}

/**
 * Compiles a function with `jit`: the first call with a given signature runs `fn` eagerly while
 * recording the primitives it applies; later calls with that signature replay the record on their
 * arguments. Results are bit-identical to an eager call (the same backend calls in the same order).
 *
 * `fn` runs as in `tidy`: tensors it makes and does not return are disposed. It must be a pure
 * function of its arguments — see docs/internals.md#10-jit-the-same-step-replayed for what is captured and what is not. A
 * call made while a gradient is being traced (jit inside `grad`), or inside another jitted
 * function's trace, runs `fn` as it is.
 *
 * @throws WgradError naming what it cannot capture: a value read back mid-trace (`data()`,
 *   `item()`, `array()`: data-dependent control flow), an async function, tensors kept alive that
 *   it does not return.
 * @typeParam F - the function to jit: tensors (and pytrees of them, keys, plain values) in, tensors out.
 */
export function jit<F extends (...args: never[]) => unknown>(fn: F, opts: JitOptions = {}): Jitted<F> {
  const maxTraces = opts.maxTraces ?? 8;
  if (!Number.isInteger(maxTraces) || maxTraces < 1) throw new WgradError('jit', `maxTraces must be a positive integer, got ${maxTraces}`);
  const cache = new Map<string, Program>();
  const name = fn.name ? `function ${fn.name}` : 'the function';
  let traces = 0, replays = 0;
  const jitted = function (this: unknown, ...args: Parameters<F>): ReturnType<F> {
    if (tracing || graphAlive()) return fn.apply(this, args) as ReturnType<F>;
    const flat = flatten(args);
    const sig = `${flat.tensors.length ? '' : `b${idOf(backend())} `}${flat.signature}`;
    const program = cache.get(sig);
    if (program) {
      cache.delete(sig);
      cache.set(sig, program);
      replays++;
      return replay(program, flat) as ReturnType<F>;
    }
    const [result, made] = trace(name, () => fn.apply(this, args), flat);
    traces++;
    cache.set(sig, made);
    if (cache.size > maxTraces) {
      const [oldest, old] = cache.entries().next().value as [string, Program];
      cache.delete(oldest);
      drop(old);
    }
    return result as ReturnType<F>;
  };
  Object.defineProperties(jitted, {
    name: { value: fn.name || 'jitted' },
    traces: { get: () => traces },
    replays: { get: () => replays },
    clear: { value: () => { for (const p of cache.values()) drop(p); cache.clear(); } },
  });
  return jitted as unknown as Jitted<F>;
}

/** True while a jitted function is being traced (a jitted call inside it runs as it is). */
let tracing = false;

/** Runs `call` under a capture; returns its result and the program that replays it. */
function trace(name: string, call: () => unknown, flat: Flat): [unknown, Program] {
  const cap = new Capture(flat.tensors, flat.keys);
  let made = new Set<unknown>();
  let result: unknown;
  let recorder: WorkRecorder | undefined;
  tracing = true;
  cap.begin();
  try {
    recorder = (flat.tensors[0]?.backend ?? backend()).recordWork?.(argStorages(cap.slots, flat));
    result = inScope(call, (r, scope) => {
      made = new Set(scope);
      return new Set(treeTensors(r));
    });
  } catch (e) {
    recorder?.discard();
    cap.discard();
    throw e;
  } finally {
    cap.end();
    tracing = false;
  }
  try {
    checkCapturable(name, cap, result);
    const program = compile(cap, flat, result, made);
    checkNoLeaks(name, cap, program);
    if (recorder) {
      const outs = program.outputs.flatMap((o) => (o.kind === 'fresh' ? [o] : []));
      program.workSlots = [...new Set(outs.map((o) => o.slot))];
      program.work = recorder.finish(program.workSlots.map((slot) => outs.find((o) => o.slot === slot)!.tensor._ref.storage));
    }
    return [result, program];
  } catch (e) {
    recorder?.discard();
    cap.discard();
    throw e;
  }
}

/** The storages of the argument slots, in slot order (what Backend.recordWork and a replay of its work take). */
const argStorages = (slots: readonly Slot[], flat: Flat): Storage[] => slots.flatMap((s) => (s.kind === 'arg' ? [flat.tensors[s.arg]._ref.storage] : []));

function checkCapturable(name: string, cap: Capture, result: unknown): void {
  if (result instanceof Promise) {
    result.catch(() => undefined);
    throw captureError(name, `it returned a Promise${cap.reads.length ? ` after reading ${cap.reads[0]} back` : ''}; a jitted function is synchronous (read values back outside it)`);
  }
  if (cap.reads.length) {
    throw captureError(name, `it reads a value back mid-trace (data(), item() or array() of ${cap.reads.join(', ')}); a replay cannot reproduce host decisions on tensor values (data-dependent control flow): compute on tensors (where, maximum, ...) or read outside the jitted function`);
  }
}

/** The program of a finished capture: its steps plus how to rebuild the result. */
function compile(cap: Capture, flat: Flat, result: unknown, made: Set<unknown>): Program {
  const argIndex = new Map(flat.tensors.map((t, i) => [t, i]));
  const outputs = treeTensors(result).map((t): Out => {
    const arg = argIndex.get(t);
    if (arg !== undefined) return { kind: 'arg', arg };
    if (!made.has(t)) return { kind: 'same', tensor: t };
    return { kind: 'fresh', slot: cap.slotFor(t), tensor: t };
  });
  const disposedArgs = flat.tensors.flatMap((t, i) => (t.isDisposed ? [i] : []));
  const b = flat.tensors[0]?.backend ?? backend();
  return { backend: b, slots: cap.slots, steps: cap.steps, derivations: cap.derivations, outputs, result, disposedArgs, workSlots: [],
    draws: cap.steps.flatMap((s) => (s.op === 'run' && s.prim === 'random' ? [s] : [])) };
}

/** Storage a primitive made that the function neither freed nor returned: something kept it (keep(), a cache). */
function checkNoLeaks(name: string, cap: Capture, p: Program): void {
  const returned = new Set(p.outputs.flatMap((o) => (o.kind === 'fresh' ? [o.slot] : [])));
  const kept = cap.slots.flatMap((s, i) => (s.kind === 'run' && !s.freed && !returned.has(i) ? [s.what] : []));
  if (kept.length) {
    throw captureError(name, `it keeps ${kept.length} tensor(s) alive that it does not return (${kept.slice(0, 3).join('; ')}${kept.length > 3 ? '; ...' : ''}); a replay makes only what the function returns: return them, or dispose them inside it`);
  }
}

/** Releases the constants a program keeps, and its recorded work's buffers (unless their backend was replaced since). */
function drop(p: Program): void {
  if (p.backend !== backend()) return;
  for (const s of p.slots) if (s.kind === 'const') s.ref.release();
  p.work?.dispose();
}

/** The key table of a replay: the input keys, then each derivation's result in order. */
function deriveKeys(p: Program, keys: readonly Key[]): Key[] {
  const table = [...keys];
  for (const d of p.derivations) table.push(threefry2x32(table[d.parent][0], table[d.parent][1], d.counter, d.domain));
  return table;
}

/** Issues the program's backend calls (or its recorded work) on the arguments in `flat`; returns the new result. */
function replay(p: Program, flat: Flat): unknown {
  const b = p.backend;
  const keys = p.derivations.length || flat.keys.length ? deriveKeys(p, flat.keys) : [];
  if (p.work) {
    const store: (Storage | undefined)[] = [];
    const made = p.work.replay(argStorages(p.slots, flat), randomKeys(p, keys));
    p.workSlots.forEach((slot, i) => (store[slot] = made[i]));
    return finish(p, flat, store);
  }
  const store: (Storage | undefined)[] = p.slots.map((s) => (s.kind === 'arg' ? flat.tensors[s.arg]._ref.storage : s.kind === 'const' ? s.ref.storage : undefined));
  try {
    for (const step of p.steps) {
      if (step.op === 'free') {
        b.release(store[step.slot]!);
        store[step.slot] = undefined;
        continue;
      }
      const inputs = step.inputs.map((v): View => ({ storage: store[v.slot]!, dtype: v.dtype, shape: v.shape, strides: v.strides, offset: v.offset }));
      const params = step.key === undefined ? step.params : { ...(step.params as object), key: [keys[step.key][0], keys[step.key][1]] };
      store[step.slot] = b.run(step.prim, inputs, params as never, step.out);
    }
  } catch (e) {
    p.slots.forEach((s, i) => {
      if (s.kind === 'run' && store[i]) b.release(store[i]!);
    });
    throw e;
  }
  return finish(p, flat, store);
}

/** The key of each random draw of the program, in order: the new one where it derives from a key argument. */
function randomKeys(p: Program, keys: readonly Key[]): (readonly [number, number])[] {
  return p.draws.map((s) => (s.key === undefined ? (s.params as { key: Key }).key : keys[s.key]));
}

/** The replay's result: fresh tensors over its output slots, arguments and outside tensors as they are. */
function finish(p: Program, flat: Flat, store: (Storage | undefined)[]): unknown {
  const refs = new Map<number, StorageRef>();
  const refOf = (slot: number): StorageRef => {
    const s = p.slots[slot];
    if (s.kind === 'arg') return flat.tensors[s.arg]._ref.retain();
    if (s.kind === 'const') return s.ref.retain();
    const shared = refs.get(slot);
    if (shared) return shared.retain();
    const ref = new StorageRef(p.backend, store[slot]!);
    refs.set(slot, ref);
    return ref;
  };
  const leaves = p.outputs.map((o) => {
    if (o.kind === 'arg') return flat.tensors[o.arg];
    if (o.kind === 'same') return o.tensor;
    const t = o.tensor;
    return new Tensor(refOf(o.slot), t.shape, t.dtype, t._strides, t._offset);
  });
  for (const i of p.disposedArgs) flat.tensors[i].dispose();
  return treeUnflatten(p.result, leaves);
}

/**
 * jit's recorder: runs a function once, eagerly, and writes down what reached the backend — each
 * compute primitive applied (its parameters and its inputs' layouts) and each storage released —
 * as a `Program` over numbered storage slots. A replay (./jit.ts) issues the same backend calls in
 * the same order on new input storage, so it computes what the eager run would, bit for bit, and
 * frees what it would free when it would.
 *
 * A slot is where a storage comes from:
 *   - 'arg':   the storage of the i-th tensor argument (a view of it reads the same slot);
 *   - 'const': storage that existed before the call (a tensor the function closes over) or that
 *              the function uploaded (host data: `tensor([...])`, scalar constants). Both are
 *              captured by value: the program keeps a reference, and a replay reads the same storage;
 *   - 'run':   the output of a recorded primitive, made anew by each replay.
 * Keys: a random draw whose key derives (split / foldIn) from a key argument records that
 * derivation (random/key-track.ts), so a replay draws from the new key; any other key is a constant.
 */
import { WgradError } from '../core/backend.js';
import type { DType } from '../core/dtype.js';
import type { ComputePrim } from '../core/prims.js';
import { fmtShape } from '../core/shape.js';
import type { Key } from '../random/random.js';
import { setKeyObserver } from '../random/key-track.js';
import { setPrimCapture, type PrimCapture } from './engine.js';
import { setReadObserver, type StorageRef, type Tensor } from './tensor.js';

export type Slot =
  | { kind: 'arg'; arg: number }
  | { kind: 'const'; ref: StorageRef }
  | { kind: 'run'; what: string; freed: boolean };

/** An input of a recorded primitive: a slot read through a fixed layout. */
export interface SlotView {
  slot: number;
  dtype: DType;
  shape: readonly number[];
  strides: readonly number[];
  offset: number;
}

export type Step =
  | { op: 'run'; prim: ComputePrim; params: unknown; inputs: SlotView[]; out: { shape: readonly number[]; dtype: DType }; slot: number;
      /** A random draw's key: an index into the replay's key table (input keys, then derived ones). */
      key?: number }
  | { op: 'free'; slot: number };

/** A key derived during the trace: keys[parent] → threefry2x32(parent, counter, domain). */
export interface Derivation {
  parent: number;
  counter: number;
  domain: number;
}

const keyText = (k: Key) => `${k[0]},${k[1]}`;

/** Records one run of a function (see the header). `begin` installs it, `end` removes it. */
export class Capture implements PrimCapture {
  readonly slots: Slot[] = [];
  readonly steps: Step[] = [];
  readonly derivations: Derivation[] = [];
  /** What the function read back mid-trace (data(), item(), array()): a replay cannot. */
  readonly reads: string[] = [];
  private readonly slotOf = new Map<StorageRef, number>();
  private readonly keyIds = new Map<string, number>();
  private active = false;
  /** The next index of the key table (input keys first, then each derivation). */
  private nextKey: number;
  private saved: [PrimCapture | undefined, ReturnType<typeof setKeyObserver>] | undefined;

  constructor(args: readonly Tensor[], keys: readonly Key[]) {
    args.forEach((t, arg) => {
      if (!this.slotOf.has(t._ref)) this.slotOf.set(t._ref, this.slots.push({ kind: 'arg', arg }) - 1);
    });
    keys.forEach((k, i) => {
      if (!this.keyIds.has(keyText(k))) this.keyIds.set(keyText(k), i);
    });
    this.nextKey = keys.length;
  }

  begin(): void {
    this.active = true;
    this.saved = [setPrimCapture(this), setKeyObserver((parent, counter, domain, child) => this.derived(parent, counter, domain, child))];
    setReadObserver((t) => this.reads.push(`${t.dtype} ${fmtShape(t.shape)}`));
  }

  end(): void {
    this.active = false;
    setPrimCapture(this.saved?.[0]);
    setKeyObserver(this.saved?.[1]);
    setReadObserver(undefined);
  }

  run(prim: ComputePrim, inputs: readonly Tensor[], params: unknown, out: Tensor): void {
    const views = inputs.map((t): SlotView => ({ slot: this.slotFor(t), dtype: t.dtype, shape: t.shape, strides: t._strides, offset: t._offset }));
    const slot = this.slots.push({ kind: 'run', what: `${prim} → ${out.dtype} ${fmtShape(out.shape)}`, freed: false }) - 1;
    this.slotOf.set(out._ref, slot);
    out._ref.onFree = () => this.freed(slot);
    const key = prim === 'random' ? this.keyIds.get(keyText((params as { key: Key }).key)) : undefined;
    this.steps.push({ op: 'run', prim, params, inputs: views, out: { shape: out.shape, dtype: out.dtype }, slot, ...(key === undefined ? {} : { key }) });
  }

  upload(out: Tensor): void {
    this.slotOf.set(out._ref, this.slots.push({ kind: 'const', ref: out._ref.retain() }) - 1);
  }

  /** The slot a tensor reads: its storage's, or a new constant for storage made before the call. */
  slotFor(t: Tensor): number {
    const known = this.slotOf.get(t._ref);
    if (known !== undefined) return known;
    const slot = this.slots.push({ kind: 'const', ref: t._ref.retain() }) - 1;
    this.slotOf.set(t._ref, slot);
    return slot;
  }

  private freed(slot: number): void {
    if (!this.active) return;
    (this.slots[slot] as { freed: boolean }).freed = true;
    this.steps.push({ op: 'free', slot });
  }

  private derived(parent: Key, counter: number, domain: number, child: Key): void {
    const p = this.keyIds.get(keyText(parent));
    if (p === undefined || this.keyIds.has(keyText(child))) return;
    this.derivations.push({ parent: p, counter, domain });
    this.keyIds.set(keyText(child), this.nextKey++);
  }

  /** Drops the references the program would have kept (the trace failed). */
  discard(): void {
    for (const s of this.slots) if (s.kind === 'const') s.ref.release();
  }
}

/** The WgradError of a function jit cannot capture: what it did, and what to do instead. */
export function captureError(name: string, what: string): WgradError {
  return new WgradError('jit', `cannot capture ${name}: ${what}`);
}

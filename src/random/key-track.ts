/**
 * Which keys came from `key`, `split` and `foldIn`, and (while jit captures a function) how each new
 * key derives from an earlier one. Keys are plain pairs of numbers on the host, so jit cannot see
 * them flow the way it sees tensors: random.ts reports every key it makes here, and jit
 * (tensor/jit-capture.ts) replays the derivations on a new input key instead of re-running the
 * function. Every derivation is one Threefry block, threefry2x32(parent, counter, domain).
 */
/** random.ts's Key (declared again here: random.ts imports this module). */
type Key = readonly [number, number];

const made = new WeakSet<object>();

/** A derivation: `child` = threefry2x32(parent, counter, domain) (split: domain 1, foldIn: domain 2). */
export type KeyObserver = (parent: Key, counter: number, domain: number, child: Key) => void;

let observer: KeyObserver | undefined;

/** @internal Called by random.ts for every key it returns; `from` is how it derived it (not for key(seed)). */
export function noteKey<K extends Key>(k: K, from?: { parent: Key; counter: number; domain: number }): K {
  made.add(k);
  if (from) observer?.(from.parent, from.counter, from.domain, k);
  return k;
}

/** @internal True for a key that key(), split() or foldIn() returned (jit treats it as an input, not a constant). */
export function isKey(v: unknown): v is Key {
  return typeof v === 'object' && v !== null && made.has(v);
}

/** @internal Sets (or clears) the observer of derivations; returns the one it replaces. */
export function setKeyObserver(o: KeyObserver | undefined): KeyObserver | undefined {
  const saved = observer;
  observer = o;
  return saved;
}

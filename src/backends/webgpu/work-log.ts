/**
 * jit's replay below the front end on WebGPU (Backend.recordWork, src/tensor/jit.ts).
 *
 * Why: replaying a step call by call through `backend.run` still builds the fusion graphs,
 * generates each kernel's WGSL and key and looks its pipeline up, every step. While jit traces a
 * function, the runtime writes down what reached the device instead — each buffer allocated, each
 * dispatch (its pipeline, uniforms, workgroups and the buffers it binds) and each buffer released —
 * as a plan over numbered buffers. A replay allocates from the pool, records the same dispatches
 * on the new buffers and releases where the trace released: no fusion, no code generation, no
 * pipeline lookup. The kernels are those the trace realized; fusion on and off agree bit for bit
 * (test/fusion.test.ts), so a replay gives the eager results bit for bit wherever a batch
 * boundary happened to cut the eager step's fused chains.
 *
 * A buffer of the plan is one of:
 *   - 'alloc':    allocated during the trace (an intermediate or an output): a replay allocates it anew;
 *   - 'external': a buffer that existed before (an argument's, or one a constant holds) or that the
 *                 trace uploaded (jit keeps uploads as constants): a replay binds the argument's
 *                 buffer, or the same buffer.
 * The key of a `random` call is in its kernel's uniforms: a replay writes the new key there.
 * Work that does not fit (a buffer made during the trace and kept by something else, a constant
 * released, a key that cannot be found in the uniforms) gives no plan: jit replays it call by call.
 */
import type { GpuBufferHandle } from './buffer-pool.js';
import type { PipelineEntry } from './pipeline-cache.js';

/** One dispatch of the plan. */
export interface PlannedDispatch {
  key: string;
  entry: PipelineEntry;
  uniforms: ArrayBuffer;
  uniformBytes: number;
  workgroups: readonly [number, number, number];
  readOnly: number;
}

type Event =
  | { op: 'alloc'; id: number; size: number }
  | ({ op: 'dispatch'; ids: number[]; keyPatch?: { word: number; call: number } } & PlannedDispatch)
  | { op: 'release'; id: number };

/** What a replay needs of the runtime. */
export interface ReplayRuntime {
  alloc(size: number): GpuBufferHandle;
  release(h: GpuBufferHandle): void;
  dispatchPlanned(d: PlannedDispatch, handles: GpuBufferHandle[]): void;
}

/** The runtime's record of a trace (runtime.ts calls it while `recording` is set). */
export class WorkLog {
  private readonly events: Event[] = [];
  private readonly ids = new Map<GpuBufferHandle, number>();
  /** By buffer id: the trace's handle, whether the trace allocated it, whether it released it. */
  private readonly handles: GpuBufferHandle[] = [];
  private readonly allocated: boolean[] = [];
  private readonly released: boolean[] = [];
  private randomCalls = 0;
  /** Why the work cannot be planned (the first reason found). */
  private problem: string | undefined;

  alloc(h: GpuBufferHandle): void {
    const id = this.newId(h, true);
    this.events.push({ op: 'alloc', id, size: h.size });
  }

  /** An uploaded buffer: jit keeps it as a constant, so a replay reads the same one. */
  upload(h: GpuBufferHandle): void {
    this.newId(h, false);
  }

  release(h: GpuBufferHandle): void {
    const id = this.idOf(h);
    this.released[id] = true;
    this.events.push({ op: 'release', id });
  }

  dispatch(d: PlannedDispatch, handles: readonly GpuBufferHandle[]): void {
    this.events.push({ op: 'dispatch', ...d, uniforms: d.uniforms.slice(0), ids: handles.map((h) => this.idOf(h)) });
  }

  /** The dispatches logged since event `from` ran a `random` call with `key`: a replay writes its new key there. */
  randomCall(from: number, key: readonly [number, number]): void {
    const call = this.randomCalls++;
    for (const ev of this.events.slice(from)) {
      if (ev.op !== 'dispatch') continue;
      const words = new Uint32Array(ev.uniforms, 0, ev.uniforms.byteLength >> 2), at: number[] = [];
      for (let w = 0; w + 1 < words.length; w++) if (words[w] === key[0] >>> 0 && words[w + 1] === key[1] >>> 0) at.push(w);
      if (at.length !== 1) this.problem ??= `the key of a random draw is ${at.length ? 'ambiguous' : 'not'} in its kernel's uniforms`;
      else ev.keyPatch = { word: at[0], call };
    }
  }

  /** The number of events so far (see randomCall). */
  get length(): number {
    return this.events.length;
  }

  /**
   * The plan of the recorded work on arguments `args` (the buffers of the recorded call's argument
   * storages) returning `outputs`, or undefined when it does not fit (see the header).
   */
  plan(args: readonly GpuBufferHandle[], outputs: readonly GpuBufferHandle[]): WorkPlan | undefined {
    const argOf = new Map(args.map((h, i) => [h, i]));
    const outputIds = outputs.map((h) => this.ids.get(h));
    const isOutput = new Set(outputIds);
    this.handles.forEach((h, id) => {
      if (this.allocated[id] && !this.released[id] && !isOutput.has(id)) this.problem ??= 'a buffer made during the trace outlives it without being returned';
      if (!this.allocated[id] && this.released[id] && !argOf.has(h)) this.problem ??= 'a buffer it did not make was released during the trace';
    });
    if (outputIds.some((id) => id === undefined || !this.allocated[id] || this.released[id])) this.problem ??= 'an output is not a buffer the trace made';
    if (this.problem) return undefined;
    // An argument released during the trace (the function disposed it) is released by jit after a replay.
    const events = this.events.filter((ev) => !(ev.op === 'release' && !this.allocated[ev.id]));
    const external = this.handles.map((h, id) => (this.allocated[id] ? undefined : { arg: argOf.get(h), handle: h }));
    return new WorkPlan(events, external, outputIds as number[], this.handles.length);
  }

  private newId(h: GpuBufferHandle, allocated: boolean): number {
    const id = this.handles.push(h) - 1;
    this.ids.set(h, id);
    this.allocated[id] = allocated;
    this.released[id] = false;
    return id;
  }

  private idOf(h: GpuBufferHandle): number {
    return this.ids.get(h) ?? this.newId(h, false);
  }
}

/** Recorded work, replayable on new argument buffers (see the header). */
export class WorkPlan {
  constructor(
    private readonly events: readonly Event[],
    /** By buffer id, for buffers the trace did not allocate: the argument it is, or the buffer itself. */
    private readonly external: readonly ({ arg: number | undefined; handle: GpuBufferHandle } | undefined)[],
    private readonly outputs: readonly number[],
    private readonly buffers: number,
  ) {}

  /** Records the work on `args`, with `keys[i]` the key of the i-th random call; returns the outputs' buffers. */
  replay(rt: ReplayRuntime, args: readonly GpuBufferHandle[], keys: readonly (readonly [number, number])[]): GpuBufferHandle[] {
    const h: (GpuBufferHandle | undefined)[] = new Array(this.buffers);
    this.external.forEach((e, id) => {
      if (e) h[id] = e.arg === undefined ? e.handle : args[e.arg];
    });
    const made: GpuBufferHandle[] = [];
    try {
      for (const ev of this.events) {
        if (ev.op === 'alloc') made.push((h[ev.id] = rt.alloc(ev.size)));
        else if (ev.op === 'release') rt.release(h[ev.id]!);
        else rt.dispatchPlanned(withKey(ev, keys), ev.ids.map((id) => h[id]!));
      }
    } catch (e) {
      for (const b of made) if (!b.released) rt.release(b);
      throw e;
    }
    return this.outputs.map((id) => h[id]!);
  }
}

/** A random call's dispatch with its new key written into (a copy of) its uniforms. */
function withKey(ev: Extract<Event, { op: 'dispatch' }>, keys: readonly (readonly [number, number])[]): PlannedDispatch {
  if (!ev.keyPatch) return ev;
  const uniforms = ev.uniforms.slice(0);
  const key = keys[ev.keyPatch.call];
  new Uint32Array(uniforms, ev.keyPatch.word * 4, 2).set([key[0], key[1]]);
  return { ...ev, uniforms };
}

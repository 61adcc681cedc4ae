/**
 * jit's replay below the front end on WebGPU (Backend.recordWork, src/tensor/jit.ts).
 *
 * Why: replaying a step call by call through `backend.run` still builds the fusion graphs,
 * generates each kernel's WGSL and key, looks its pipeline up and makes bind groups, every step.
 * While jit traces a function, the runtime writes down what reached the device instead — each
 * buffer allocated, each dispatch (its pipeline, uniforms, workgroups and the buffers it binds) and
 * each buffer released — and turns it into a plan over numbered buffers:
 *   - 'arg':   an argument's buffer: a replay binds the new argument's;
 *   - 'fixed': a buffer that existed before (one a constant holds) or that the trace uploaded (jit
 *              keeps uploads as constants): a replay binds the same one;
 *   - 'temp':  an intermediate (allocated and released during the trace): it lives in a buffer of
 *              the plan's own, kept across replays, which a later intermediate of the same size
 *              shares once the first is released (the buffer plan);
 *   - 'out':   an output: allocated from the pool by each replay (the caller owns it), preferably
 *              in the buffer it had two replays ago (see WorkPlan.lastSlots).
 * A replay records the same dispatches on those buffers: no fusion, no code generation, no
 * pipeline lookup, and the bind group of a dispatch that binds only temps and fixed buffers is made
 * once. The kernels are those the trace realized; fusion on and off agree bit for bit
 * (test/fusion.test.ts), so a replay gives the eager results bit for bit wherever a batch boundary
 * happened to cut the eager step's fused chains. The key of a `random` call is in its kernel's
 * uniforms: a replay writes the new key there. Work that does not fit (a buffer made during the
 * trace and kept by something else, a constant released, a key that cannot be found in the
 * uniforms) gives no plan: jit replays it call by call.
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
  /** A buffer from the pool: the one of slot `preferSlot` when it is free. */
  alloc(size: number, preferSlot?: number): GpuBufferHandle;
  release(h: GpuBufferHandle): void;
  /** Records `d` on `handles`, with `bindGroup` when one is known for them; returns the bind group. */
  dispatchPlanned(d: PlannedDispatch, handles: GpuBufferHandle[], bindGroup?: GPUBindGroup): GPUBindGroup;
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
    const where = this.handles.map((h, id): Where => {
      if (!this.allocated[id]) return argOf.has(h) ? { kind: 'arg', arg: argOf.get(h)! } : { kind: 'fixed', handle: h };
      return this.released[id] ? { kind: 'temp', index: -1 } : { kind: 'out' };
    });
    const tempSizes = assignTemps(this.events, where);
    // What a replay does: allocate the outputs and dispatch (the temporaries are the plan's; an
    // argument released during the trace, which the function disposed, is released by jit).
    const events = this.events.filter((ev) => ev.op === 'dispatch' || (ev.op === 'alloc' && where[ev.id].kind === 'out'));
    return new WorkPlan(events, where, tempSizes, outputIds as number[]);
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

/** Where a replay finds a buffer of the plan. */
type Where =
  | { kind: 'arg'; arg: number }
  | { kind: 'fixed'; handle: GpuBufferHandle }
  /** An intermediate: the plan's own buffer `index`, kept across replays. */
  | { kind: 'temp'; index: number }
  /** An output: allocated anew by each replay (the caller owns it). */
  | { kind: 'out' };

/**
 * The buffer plan of the intermediates: each gets one of the plan's own buffers, which a later
 * intermediate of the same size reuses once the first is released (the dispatches run in order, as
 * in the pool's reuse within a batch). Sets each temp's index; returns the buffers' sizes.
 */
function assignTemps(events: readonly Event[], where: Where[]): number[] {
  const sizes: number[] = [], free = new Map<number, number[]>(), sizeOf = new Map<number, number>();
  for (const ev of events) {
    if (ev.op === 'dispatch' || where[ev.id].kind !== 'temp') continue;
    if (ev.op === 'alloc') {
      const index = free.get(ev.size)?.pop() ?? sizes.push(ev.size) - 1;
      where[ev.id] = { kind: 'temp', index };
      sizeOf.set(ev.id, ev.size);
    } else {
      const size = sizeOf.get(ev.id)!;
      free.set(size, [...(free.get(size) ?? []), (where[ev.id] as { index: number }).index]);
    }
  }
  return sizes;
}

/**
 * Recorded work, replayable on new argument buffers (see the header). Its intermediates live in
 * buffers of its own, kept across replays, so a dispatch that binds only those and fixed buffers
 * keeps its bind group too; only the arguments and outputs change.
 */
export class WorkPlan {
  private temps: GpuBufferHandle[] | null = null;
  /** By event: the bind group of a dispatch that binds no argument and no output (made at the first replay). */
  private bindGroups: (GPUBindGroup | undefined)[] = [];
  private readonly fixedBindings: boolean[];
  /**
   * By event: the slots an output had in the last two replays. A replay asks for the one of two
   * replays ago: in a training loop the step's arguments are the last step's outputs, and the
   * outputs of the step before are free again, so the buffers alternate and the bind groups of
   * the dispatches binding them are found in the cache.
   */
  private readonly lastSlots: [number | undefined, number | undefined][] = [];

  constructor(
    private readonly events: readonly Event[],
    private readonly where: readonly Where[],
    private readonly tempSizes: readonly number[],
    private readonly outputs: readonly number[],
  ) {
    this.fixedBindings = events.map((ev) => ev.op === 'dispatch' && ev.ids.every((id) => where[id].kind === 'temp' || where[id].kind === 'fixed'));
  }

  /** Records the work on `args`, with `keys[i]` the key of the i-th random call; returns the outputs' buffers. */
  replay(rt: ReplayRuntime, args: readonly GpuBufferHandle[], keys: readonly (readonly [number, number])[]): GpuBufferHandle[] {
    const temps = this.ownBuffers(rt);
    const h: (GpuBufferHandle | undefined)[] = this.where.map((w) => (w.kind === 'arg' ? args[w.arg] : w.kind === 'fixed' ? w.handle : w.kind === 'temp' ? temps[w.index] : undefined));
    const made: GpuBufferHandle[] = [];
    try {
      this.events.forEach((ev, i) => {
        if (ev.op === 'alloc') {
          const last = (this.lastSlots[i] ??= [undefined, undefined]);
          const b = (h[ev.id] = rt.alloc(ev.size, last[0]));
          made.push(b);
          this.lastSlots[i] = [last[1], b.slot.id];
        }
        else if (ev.op === 'dispatch') {
          const bg = rt.dispatchPlanned(withKey(ev, keys), ev.ids.map((id) => h[id]!), this.bindGroups[i]);
          if (this.fixedBindings[i]) this.bindGroups[i] = bg;
        }
      });
    } catch (e) {
      for (const b of made) if (!b.released) rt.release(b);
      throw e;
    }
    return this.outputs.map((id) => h[id]!);
  }

  /** Gives the plan's own buffers back to the pool (the program is dropped). */
  dispose(rt: ReplayRuntime): void {
    for (const t of this.temps ?? []) if (!t.released) rt.release(t);
    this.temps = null;
    this.bindGroups = [];
  }

  /** The intermediates' buffers: allocated at the first replay, and again after a batch that wrote them failed. */
  private ownBuffers(rt: ReplayRuntime): GpuBufferHandle[] {
    if (this.temps?.some((t) => t.failedBy || t.slot.invalid)) this.dispose(rt);
    if (!this.temps) {
      const temps: GpuBufferHandle[] = [];
      try {
        for (const size of this.tempSizes) temps.push(rt.alloc(size));
      } catch (e) {
        for (const t of temps) rt.release(t);
        throw e;
      }
      this.temps = temps;
    }
    return this.temps;
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

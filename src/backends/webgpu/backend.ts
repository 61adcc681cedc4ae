/**
 * The WebGPU backend: storage is pooled GPU buffers (runtime.ts). Every elementwise primitive runs
 * through fusion (fusion.ts), its WGSL taken from the typed table of kernels/elementwise-ops.ts;
 * `fusion: false` only makes fusion realize each value at once. Every other primitive runs its
 * kernel from the rule table of rules.ts (reductions read unrealized inputs in place).
 *
 * Rules the front end must respect:
 *  - `run`, `upload`, `release` only record work; nothing is submitted until `read`, `flush`,
 *    `sync`, or a full batch (256 dispatches). Call `flush()` at the end of a training step if
 *    nothing is read, so the GPU can start.
 *  - Storage returned by `run`/`upload` has exactly one owner; `release` it once (a second release
 *    throws). Releasing storage still referenced by recorded-but-unsubmitted work is safe: the
 *    buffer is reused only by later dispatches of the same batch (which run after) or, after the
 *    submit, by anything.
 *  - Inputs are any strided views (offset/strides in elements, negative and zero strides allowed);
 *    outputs are fresh and contiguous. Zero-size outputs never reach a kernel.
 *  - After the device is lost every call throws a WgradError asking to call init() again.
 */
import { WgradError, type AdapterReport, type Backend, type MemoryInfo, type OutputSpec, type WorkRecorder } from '../../core/backend.js';
import { storageArray, type AnyStorageArray, type DType } from '../../core/dtype.js';
import { isElementwisePrim, isReduceOp, type ComputePrim, type PrimParams } from '../../core/prims.js';
import type { View } from '../../core/backend.js';
import { fmtShape, numel } from '../../core/shape.js';
import type { GpuStorage, GpuView } from '../../kernels/runtime.js';
import { isRowMajor } from '../../kernels/wgsl.js';
import { runUnary } from '../../kernels/elementwise.js';
import { elementwiseOp } from '../../kernels/elementwise-ops.js';
import { Fusion, type WebStorage } from './fusion.js';
import { gpuRules, readsFused, readsInPlace, type KernelPrim } from './rules.js';
import { GpuBufferHandle, WebGpuRuntime } from './runtime.js';
import { WorkLog } from './work-log.js';

function arrayFor(dtype: DType, buf: ArrayBuffer): AnyStorageArray {
  switch (dtype) {
    case 'float32': return new Float32Array(buf);
    case 'int32': return new Int32Array(buf);
    case 'uint32': case 'bool': return new Uint32Array(buf);
  }
}

function accepts(dtype: DType, data: unknown): boolean {
  switch (dtype) {
    case 'float32': return data instanceof Float32Array;
    case 'int32': return data instanceof Int32Array;
    case 'uint32': case 'bool': return data instanceof Uint32Array;
  }
}

export class WebGpuBackend implements Backend<WebStorage> {
  readonly kind = 'webgpu' as const;
  /** Runs every elementwise primitive; with `fusion: false` it realizes each value at once. */
  private readonly fusion: Fusion;

  constructor(
    readonly runtime: WebGpuRuntime,
    readonly report: AdapterReport,
    /** Kept referenced so the WebGPU instance outlives the device (see node-gpu.ts). */
    readonly owner: { gpu?: GPU; adapter?: GPUAdapter } = {},
    opts: { fusion?: boolean } = {},
  ) {
    this.fusion = new Fusion(runtime, opts.fusion === false);
  }

  get device(): GPUDevice {
    return this.runtime.device;
  }

  upload(data: AnyStorageArray, dtype: DType): GpuStorage {
    this.runtime.check('upload');
    if (!accepts(dtype, data)) throw new WgradError('upload', `a ${data.constructor.name} cannot hold dtype ${dtype}`);
    this.checkFits('upload', { shape: [data.length], dtype });
    this.runtime.activeOp = 'upload';
    return this.runtime.upload(data, data.length);
  }

  async read(lazyView: View<WebStorage>): Promise<AnyStorageArray> {
    this.runtime.check('read');
    const n = numel(lazyView.shape);
    if (n === 0) return storageArray(lazyView.dtype, 0);
    const view = this.concrete(lazyView);
    let storage = view.storage;
    let offset = view.offset;
    let temp: GpuStorage | null = null;
    if (!isRowMajor(view.shape, view.strides)) {
      this.runtime.activeOp = 'read';
      temp = this.runtime.attempt(() => runUnary(this.runtime, 'copy', view, { shape: view.shape, dtype: view.dtype }));
      storage = temp;
      offset = 0;
    }
    try {
      const buf = await this.runtime.readRange(storage, offset, n);
      return arrayFor(view.dtype, buf);
    } finally {
      if (temp) this.runtime.release(temp);
    }
  }

  release(storage: WebStorage): void {
    this.fusion.release(storage);
  }

  run<P extends ComputePrim>(prim: P, inputs: View<WebStorage>[], params: PrimParams[P], out: OutputSpec): WebStorage {
    this.runtime.check(prim);
    // An elementwise op's dtypes are checked (core's rules, by its WGSL lookup) even for an empty output.
    const op = isElementwisePrim(prim) ? elementwiseOp(prim, inputs, params as PrimParams[typeof prim], out.dtype) : undefined;
    const n = numel(out.shape);
    if (n === 0) return this.runtime.alloc(0);
    // Checked here, at the op, even for a fused value that would only be allocated later: a value
    // that can never be realized must not be created (it would fail inside some later op).
    this.checkFits(prim, out);
    this.runtime.activeOp = prim;
    this.fusion.tick();
    this.runtime.activeOp = prim;
    if (op) return this.fusion.fuse(op, inputs, out, prim);
    if (isReduceOp(prim)) {
      const rows = this.fusion.reduceLastAxis(prim, inputs[0], (params as PrimParams[typeof prim]).axes, out);
      if (rows) return rows;
    }
    const log = this.runtime.recording, from = log?.length ?? 0;
    const result = this.runKernel(prim as KernelPrim, inputs, params as PrimParams[KernelPrim], out);
    if (log && prim === 'random') log.randomCall(from, (params as PrimParams['random']).key);
    return result;
  }

  /**
   * jit's recording below the front end (work-log.ts): from here until `finish`, the runtime logs
   * every allocation, dispatch and release. Work pending from before is realized first, so it is
   * not part of the log, and so are the arguments (a replay binds their buffers).
   */
  recordWork(args: readonly WebStorage[]): WorkRecorder<WebStorage> {
    this.runtime.check('jit');
    if (this.runtime.recording) throw new WgradError('jit', 'a recording is already under way on this backend');
    try {
      this.fusion.realizeAll();
    } catch (e) {
      // Not the traced function's error: reported at the next flush, sync or read (as tick() does).
      if (!(e instanceof WgradError)) throw e;
      this.runtime.deferError(e);
    }
    const argBuffers = args.map((s) => this.buffer(s));
    const log = new WorkLog();
    this.runtime.recording = log;
    const stop = () => {
      if (this.runtime.recording === log) this.runtime.recording = null;
    };
    return {
      finish: (outputs) => {
        let outBuffers: GpuBufferHandle[];
        try {
          outBuffers = outputs.map((s) => this.buffer(s));
        } finally {
          stop();
        }
        const plan = log.plan(argBuffers, outBuffers);
        return plan && {
          replay: (newArgs, keys) => {
            this.runtime.check('jit');
            const buffers = newArgs.map((s) => this.buffer(s));
            this.runtime.activeOp = 'jit replay';
            return plan.replay(this.runtime, buffers, keys);
          },
          dispose: () => plan.dispose(this.runtime),
        };
      },
      discard: stop,
    };
  }

  /** The buffer holding `s` (realizing a fused value). */
  private buffer(s: WebStorage): GpuBufferHandle {
    return this.runtime.own(this.fusion.realize(s), 'jit');
  }

  /** A non-elementwise primitive: its rule, on realized inputs (or unrealized ones it reads in place). */
  private runKernel<P extends KernelPrim>(prim: P, inputs: View<WebStorage>[], params: PrimParams[P], out: OutputSpec): GpuStorage {
    const rule = gpuRules[prim];
    const sources = inputs.map((v) => {
      const source = readsFused(prim) ? this.fusion.source(v) : null;
      return source && readsInPlace(prim, v as unknown as GpuView, params, source) ? source : null;
    });
    // An input read in place stands for its geometry only (see rules.ts).
    const views = inputs.map((v, k) => (sources[k] ? (v as unknown as GpuView) : this.fusion.concrete(v)));
    this.runtime.activeOp = prim;
    return this.runtime.attempt(() => rule(this.runtime, views, params, out, sources));
  }

  /** Throws (naming `op`, the size and the limit) when `out` cannot fit in one storage buffer. */
  private checkFits(op: string, out: OutputSpec): void {
    const n = numel(out.shape);
    const max = this.runtime.maxBindingBytes;
    if (!(n * 4 <= max)) {
      throw new WgradError(op, `the result (${out.dtype} ${fmtShape(out.shape)}, ${n} elements, ${n * 4} bytes) exceeds the device's maximum storage buffer binding size of ${max} bytes; split the work into smaller tensors`);
    }
  }

  /** `v` over a real buffer (realizing a fused value). */
  private concrete(v: View<WebStorage>): GpuView {
    return this.fusion.concrete(v);
  }

  flush(): void {
    this.runtime.check('flush');
    this.fusion.realizeAll();
    this.runtime.flush();
  }

  sync(): Promise<void> {
    this.fusion.realizeAll();
    return this.runtime.sync();
  }

  memory(): MemoryInfo {
    return this.runtime.memory();
  }

  destroy(): void {
    this.runtime.destroy();
    this.device.destroy();
  }
}


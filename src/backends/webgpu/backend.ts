/**
 * The WebGPU backend: storage is pooled GPU buffers (runtime.ts), primitives run through the rule
 * table of rules.ts.
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
import { WgradError, type AdapterReport, type Backend, type MemoryInfo, type OutputSpec } from '../../core/backend.js';
import { storageArray, type AnyStorageArray, type DType } from '../../core/dtype.js';
import type { ComputePrim, PrimParams } from '../../core/prims.js';
import { numel } from '../../core/shape.js';
import type { GpuStorage, GpuView } from '../../kernels/runtime.js';
import { isRowMajor } from '../../kernels/wgsl.js';
import { gpuRules } from './rules.js';
import { WebGpuRuntime } from './runtime.js';

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

export class WebGpuBackend implements Backend<GpuStorage> {
  readonly kind = 'webgpu' as const;

  constructor(
    readonly runtime: WebGpuRuntime,
    readonly report: AdapterReport,
    /** Kept referenced so the WebGPU instance outlives the device (see node-gpu.ts). */
    readonly owner: { gpu?: GPU; adapter?: GPUAdapter } = {},
  ) {}

  get device(): GPUDevice {
    return this.runtime.device;
  }

  upload(data: AnyStorageArray, dtype: DType): GpuStorage {
    this.runtime.check('upload');
    if (!accepts(dtype, data)) throw new WgradError('upload', `a ${data.constructor.name} cannot hold dtype ${dtype}`);
    return this.runtime.upload(data, data.length);
  }

  async read(view: GpuView): Promise<AnyStorageArray> {
    this.runtime.check('read');
    const n = numel(view.shape);
    if (n === 0) return storageArray(view.dtype, 0);
    let storage = view.storage;
    let offset = view.offset;
    let temp: GpuStorage | null = null;
    if (!isRowMajor(view.shape, view.strides)) {
      temp = this.run('copy', [view], {}, { shape: view.shape, dtype: view.dtype });
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

  release(storage: GpuStorage): void {
    this.runtime.release(storage);
  }

  run<P extends ComputePrim>(prim: P, inputs: GpuView[], params: PrimParams[P], out: OutputSpec): GpuStorage {
    this.runtime.check(prim);
    const n = numel(out.shape);
    if (n === 0) return this.runtime.alloc(0);
    const rule = gpuRules[prim];
    return rule(this.runtime, inputs, params, out);
  }

  flush(): void {
    this.runtime.check('flush');
    this.runtime.flush();
  }

  sync(): Promise<void> {
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


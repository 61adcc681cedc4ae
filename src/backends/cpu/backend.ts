/**
 * The CPU reference backend: plain-TypeScript storage and the rule table of rules.ts. It is the
 * oracle the WebGPU kernels are tested against and, in float64 mode (float32 tensors held and
 * computed in Float64Arrays), the engine of the gradient checker's finite differences.
 */
import { WgradError, type AdapterReport, type Backend, type MemoryInfo, type OutputSpec } from '../../core/backend.js';
import type { AnyStorageArray, DType } from '../../core/dtype.js';
import type { ComputePrim, PrimParams } from '../../core/prims.js';
import { numel } from '../../core/shape.js';
import { cpuRules } from './rules.js';
import { readStrided } from './strided.js';
import { allocData, type CpuContext, type CpuData, type CpuStorage, type CpuView } from './types.js';

export type { CpuStorage } from './types.js';

export interface CpuBackendOptions {
  /** Hold and compute float32 tensors in float64 (for finite-difference gradient checks). */
  float64?: boolean;
}

/** True when `data` is a typed array `dtype` may be uploaded from. */
function acceptsArray(dtype: DType, data: AnyStorageArray | Float64Array): boolean {
  switch (dtype) {
    case 'float32': return data instanceof Float32Array || data instanceof Float64Array;
    case 'int32': return data instanceof Int32Array;
    case 'uint32': case 'bool': return data instanceof Uint32Array;
  }
}

export class CpuBackend implements Backend<CpuStorage> {
  readonly kind = 'cpu' as const;
  readonly report: AdapterReport;
  private readonly ctx: CpuContext;
  private readonly live = new Set<CpuStorage>();

  constructor(options: CpuBackendOptions = {}) {
    const float64 = options.float64 ?? false;
    this.ctx = { float64 };
    this.report = {
      backend: 'cpu',
      vendor: 'wgrad',
      architecture: '',
      device: '',
      description: 'CPU reference (plain TypeScript)' + (float64 ? ' float64' : ''),
      features: [],
      limits: {},
    };
  }

  get float64(): boolean {
    return this.ctx.float64;
  }

  /** Storage owning `data` as it is (no copy): the caller hands over an array no one else holds
   *  (the wasm backend's recycled arrays). */
  adopt(data: CpuData): CpuStorage {
    const storage: CpuStorage = { size: data.length, data };
    this.live.add(storage);
    return storage;
  }

  /** Copies `data` (Float64Array also accepted for float32) into new storage. */
  upload(data: AnyStorageArray | Float64Array, dtype: DType): CpuStorage {
    if (!acceptsArray(dtype, data)) {
      throw new WgradError('upload', `a ${data.constructor.name} cannot hold dtype ${dtype}`);
    }
    const copy = allocData(dtype, data.length, this.ctx);
    copy.set(data);
    return this.adopt(copy);
  }

  async read(view: CpuView): Promise<CpuData> {
    return readStrided(view);
  }

  release(storage: CpuStorage): void {
    if (!this.live.delete(storage)) {
      throw new WgradError('release', 'storage is not live on this backend (double release?)');
    }
  }

  run<P extends ComputePrim>(prim: P, inputs: CpuView[], params: PrimParams[P], out: OutputSpec): CpuStorage {
    const rule = cpuRules[prim];
    const data = rule(inputs, params, out, this.ctx);
    const expected = numel(out.shape);
    if (data.length !== expected) {
      throw new WgradError(prim, `CPU rule returned ${data.length} elements, expected ${expected}`);
    }
    return this.adopt(data);
  }

  flush(): void {}

  async sync(): Promise<void> {}

  memory(): MemoryInfo {
    let liveBytes = 0;
    for (const s of this.live) liveBytes += s.data.byteLength;
    return { liveBuffers: this.live.size, liveBytes, pooledBuffers: 0, pooledBytes: 0 };
  }

  destroy(): void {
    this.live.clear();
  }
}

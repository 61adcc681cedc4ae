/**
 * The wasm backend: WebAssembly SIMD kernels (kernels.ts, emitted by builder.ts at start-up) for
 * the hot primitives, the CPU reference rules for the rest.
 *
 * Storage: each tensor owns a plain typed array, exactly the CPU reference's storage (this backend
 * holds a CpuBackend and delegates upload, read, release and memory accounting to it), so explicit
 * ownership, scopes and leak counts behave identically and every primitive without a kernel runs
 * the reference rule on the same storage with no conversion — or, for a fused elementwise value
 * not yet needed, a pending expression over such arrays (fusion.ts). A kernel call copies its
 * operands into one scratch Wasm memory (arena.ts), runs, and copies the result out into a fresh
 * array (a released array of the same type and length where one is spare: spares.ts). For the
 * GEMM the copy-in IS the packing every fast GEMM does anyway (and it absorbs transposes, flips and
 * broadcast batch axes); for a fused program it is one strided copy per
 * distinct leaf (none for scalars). The arena grows to the largest call and is reused, so a loop
 * of equal shapes holds memory flat.
 *
 * Accelerated (every other primitive, and these on other dtypes, runs the CPU reference rule on
 * realized inputs):
 *   matmul                       float32, batched, any strides: packed 4 × 8 register-blocked GEMM
 *   conv2d, conv2dWeightGrad     float32: im2col, then the GEMM (conv.ts)
 *   conv2dInputGrad              float32: the GEMM into columns, then a Wasm col2im scatter
 *   elementwise ops with Wasm code (ops.ts: float32 arithmetic, compares, where, casts, exact
 *     unary ops; copy on any dtype): lazy, fused into one program per chain (fusion.ts, fused.ts),
 *     bit-exact with the reference
 *   sum max min                  float32, read in place by a loop nest (a fused input straight from
 *                                the arena), bit-exact (sum in f64, in the reference's order);
 *                                max / min over 2 × 2 windows four at a time (pool.ts)
 * Operands of kernels and leaves of fused programs are copied in with `copyIn` (elementwise.ts): a
 * memcpy per long contiguous run, else the Wasm strided copy.
 *
 * Next step, designed for — threads: the arena becomes a shared WebAssembly.Memory (builder.ts
 * emits shared memory imports); workers (worker_threads / Web Workers) instantiate the same module
 * bytes over it and each runs `gemm` on its own range of MC row blocks (they write disjoint rows of
 * C, so no locks; one Atomics.wait/notify barrier per call). Packing stays on the calling thread.
 */
import type { AdapterReport, Backend, MemoryInfo, OutputSpec, View } from '../../core/backend.js';
import type { AnyStorageArray, DType } from '../../core/dtype.js';
import { isElementwisePrim, type ComputePrim, type ElementwisePrim, type PrimParams } from '../../core/prims.js';
import { elementwiseOp } from '../../kernels/elementwise-ops.js';
import { CpuBackend } from '../cpu/backend.js';
import type { CpuStorage, CpuView } from '../cpu/types.js';
import { Arena } from './arena.js';
import { Spares } from './spares.js';
import { wasmConv2d, wasmConv2dInputGrad, wasmConv2dWeightGrad } from './conv.js';
import { runReduce } from './elementwise.js';
import { FusedPrograms, type WasmNode } from './fused.js';
import { WasmFusion, type WasmStorage } from './fusion.js';
import { wasmMatmul } from './gemm.js';
import { compileKernels, type WasmKernels } from './kernels.js';
import { REDUCE_OPS, type ReduceKind } from './kernels-map.js';

export interface WasmBackendOptions {
  /** Use f32x4.relaxed_madd in the GEMM (default: when the engine validates it). */
  relaxedSimd?: boolean;
}

const isReduce = (p: string): p is ReduceKind => (REDUCE_OPS as readonly string[]).includes(p);

export class WasmBackend implements Backend<WasmStorage> {
  readonly kind = 'wasm' as const;
  readonly report: AdapterReport;
  private readonly cpu = new CpuBackend();
  private readonly kernels: WasmKernels;
  private readonly arena: Arena;
  private readonly programs: FusedPrograms;
  private readonly fusion: WasmFusion;
  private evaluated: { storage: CpuStorage; at: number; generation: number } | null = null;
  private readonly spares = new Spares();

  constructor(options: WasmBackendOptions = {}) {
    this.kernels = compileKernels(options.relaxedSimd);
    this.arena = new Arena(this.kernels.memory);
    this.programs = new FusedPrograms(this.kernels.memory);
    this.fusion = new WasmFusion({
      evaluate: (root, out) => this.evaluate(root, out),
      release: (array) => {
        this.cpu.release(array);
        this.spares.put(array.data);
      },
    });
    const simd = this.kernels.relaxed ? 'SIMD128 + relaxed-SIMD FMA' : 'SIMD128';
    this.report = {
      backend: 'wasm', vendor: 'wgrad', architecture: '', device: '',
      description: `WebAssembly ${simd}, single-threaded (other primitives: CPU reference)`,
      features: this.kernels.relaxed ? ['simd128', 'relaxed-simd'] : ['simd128'],
      limits: {},
    };
  }

  upload(data: AnyStorageArray | Float64Array, dtype: DType): CpuStorage {
    return this.cpu.upload(data, dtype);
  }

  read(view: View<WasmStorage>): Promise<AnyStorageArray | Float64Array> {
    this.fusion.realizeAll();
    return this.cpu.read(this.fusion.concrete(view));
  }

  release(storage: WasmStorage): void {
    this.fusion.release(storage);
  }

  run<P extends ComputePrim>(prim: P, inputs: View<WasmStorage>[], params: PrimParams[P], out: OutputSpec): WasmStorage {
    if (isElementwisePrim(prim)) {
      const op = elementwiseOp(prim as ElementwisePrim, inputs, params as PrimParams[ElementwisePrim], out.dtype);
      const lazy = this.fusion.fuse(op, inputs, out);
      if (lazy) return lazy;
    }
    const concrete = inputs.map((v) => this.fusion.concrete(v));
    const result = this.runKernel(prim, concrete, params, out);
    return result ? this.store(result, out.dtype) : this.cpu.run(prim, concrete, params, out);
  }

  /** A kernel's result (a view of the arena) copied into a recycled array where one fits, else a fresh one. */
  private store(result: AnyStorageArray, dtype: DType): CpuStorage {
    const data = this.spares.take(result);
    if (!data) return this.cpu.upload(result, dtype);
    data.set(result);
    return this.cpu.adopt(data);
  }

  /** A fused elementwise program's result in a fresh array (fusion.ts realizes values through this). */
  private evaluate(root: WasmNode, out: OutputSpec): CpuStorage {
    const result = this.programs.run(this.arena, this.kernels.maps.copy, root, out);
    const storage = this.store(result, out.dtype);
    this.evaluated = { storage, at: result.byteOffset, generation: this.arena.generation };
    return storage;
  }

  /** The byte address of `storage` in the arena where it is the result of the last program run
   *  and the arena has not been reset since (a reduction then reads it there, not staged again). */
  private inArena(storage: CpuStorage): number | undefined {
    const e = this.evaluated;
    return e && e.storage === storage && e.generation === this.arena.generation ? e.at : undefined;
  }

  /** The result of `prim` from a Wasm kernel (a view of the arena), or null where none applies. */
  private runKernel<P extends ComputePrim>(prim: P, inputs: CpuView[], params: PrimParams[P], out: OutputSpec): AnyStorageArray | null {
    const { kernels: k, arena } = this;
    if (!inputs.every((v) => v.dtype === 'float32') || out.dtype !== 'float32') return null;
    if (isReduce(prim)) return runReduce(arena, k.maps, prim, inputs[0], (params as PrimParams['sum']).axes, out, this.inArena(inputs[0].storage));
    if (prim === 'matmul') return wasmMatmul(k, arena, inputs[0], inputs[1], out);
    if (prim === 'conv2d') return wasmConv2d(k, arena, inputs, params as PrimParams['conv2d'], out);
    if (prim === 'conv2dInputGrad') return wasmConv2dInputGrad(k, arena, inputs, params as PrimParams['conv2dInputGrad'], out);
    if (prim === 'conv2dWeightGrad') return wasmConv2dWeightGrad(k, arena, inputs, params as PrimParams['conv2dWeightGrad'], out);
    return null;
  }

  /** Realizes every pending fused value (see fusion.ts). */
  flush(): void {
    this.fusion.realizeAll();
  }

  async sync(): Promise<void> {
    this.fusion.realizeAll();
  }

  /** Tensors' arrays and pending fused values as live buffers; the scratch arena and the spare
   *  arrays (spares.ts) as pooled buffers. */
  memory(): MemoryInfo {
    const cpu = this.cpu.memory();
    const pending = this.fusion.pendingCount;
    return {
      liveBuffers: cpu.liveBuffers + pending.values, liveBytes: cpu.liveBytes + pending.bytes,
      pooledBuffers: 1 + this.spares.count, pooledBytes: this.arena.bytes + this.spares.bytes,
    };
  }

  destroy(): void {
    this.cpu.destroy();
  }
}

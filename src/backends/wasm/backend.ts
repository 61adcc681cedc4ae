/**
 * The wasm backend: WebAssembly SIMD kernels (kernels.ts, emitted by builder.ts at start-up) for
 * the hot primitives, the CPU reference rules for the rest.
 *
 * Storage: each tensor owns a plain typed array, exactly the CPU reference's storage (this backend
 * holds a CpuBackend and delegates upload, read, release and memory accounting to it), so explicit
 * ownership, scopes and leak counts behave identically and every primitive without a kernel runs
 * the reference rule on the same storage with no conversion. A kernel call copies its operands into
 * one scratch Wasm memory (arena.ts), runs, and copies the result out into a fresh array. For the
 * GEMM the copy-in IS the packing every fast GEMM does anyway (and it absorbs transposes, flips and
 * broadcast batch axes); for elementwise kernels it is one strided copy per operand. The arena grows to
 * the largest call and is reused, so a loop of equal shapes holds memory flat.
 *
 * Accelerated (every other primitive, and these on other dtypes, runs the CPU reference rule):
 *   matmul                       float32, batched, any strides: packed 4 × 8 register-blocked GEMM
 *   conv2d, conv2dWeightGrad     float32: im2col, then the GEMM (conv.ts)
 *   conv2dInputGrad              float32: the GEMM into columns, then a Wasm col2im scatter
 *   add sub mul div maximum minimum   float32 operands: f32x4, bit-exact with the reference
 *   eq ne lt le gt ge, where, cast    f32x4 / i32x4 maps, bit-exact (kernels-map.ts)
 *   neg abs sqrt reciprocal floor ceil round sign; copy   float32 (copy: any dtype), bit-exact
 *   sum max min                  float32 rows (kept axes first), bit-exact (sum in f64, as the reference)
 * Operands of maps and reductions are copied in with `copyIn` (elementwise.ts): a memcpy per long
 * contiguous run, else the Wasm strided copy.
 *
 * Next steps, designed for:
 *   - Threads: the arena becomes a shared WebAssembly.Memory (builder.ts emits shared memory
 *     imports); workers (worker_threads / Web Workers) instantiate the same module bytes over it and
 *     each runs `gemm` on its own range of MC row blocks (they write disjoint rows of C, so no
 *     locks; one Atomics.wait/notify barrier per call). Packing stays on the calling thread.
 *   - Fused elementwise programs: the expression IR of src/kernels/expr.ts gets a second renderer
 *     that emits a builder function body (one f32x4 loop over the program's leaves) instead of WGSL;
 *     the per-op `binary_*` kernels here are that renderer's leaves.
 */
import type { AdapterReport, Backend, MemoryInfo, OutputSpec } from '../../core/backend.js';
import type { AnyStorageArray, DType } from '../../core/dtype.js';
import { checkElementwiseCall, type ComputePrim, type PrimParams } from '../../core/prims.js';
import { CpuBackend } from '../cpu/backend.js';
import type { CpuStorage, CpuView } from '../cpu/types.js';
import { Arena } from './arena.js';
import { wasmConv2d, wasmConv2dInputGrad, wasmConv2dWeightGrad } from './conv.js';
import { wasmMatmul } from './gemm.js';
import { runMap, runReduce } from './elementwise.js';
import { compileKernels, SIMD_BINARY, type SimdBinaryOp, type WasmKernels } from './kernels.js';
import { CASTS, COMPARE, REDUCE_OPS, UNARY, type CastKind, type CompareOp, type ReduceKind, type UnaryKind } from './kernels-map.js';

export interface WasmBackendOptions {
  /** Use f32x4.relaxed_madd in the GEMM (default: when the engine validates it). */
  relaxedSimd?: boolean;
}

const isSimdBinary = (p: string): p is SimdBinaryOp => Object.hasOwn(SIMD_BINARY, p);
const isCompare = (p: string): p is CompareOp => Object.hasOwn(COMPARE, p);
const isUnary = (p: string): p is UnaryKind => Object.hasOwn(UNARY, p);
const isCast = (k: string): k is CastKind => (CASTS as readonly string[]).includes(k);
const isReduce = (p: string): p is ReduceKind => (REDUCE_OPS as readonly string[]).includes(p);

export class WasmBackend implements Backend<CpuStorage> {
  readonly kind = 'wasm' as const;
  readonly report: AdapterReport;
  private readonly cpu = new CpuBackend();
  private readonly kernels: WasmKernels;
  private readonly arena: Arena;

  constructor(options: WasmBackendOptions = {}) {
    this.kernels = compileKernels(options.relaxedSimd);
    this.arena = new Arena(this.kernels.memory);
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

  read(view: CpuView): Promise<AnyStorageArray | Float64Array> {
    return this.cpu.read(view);
  }

  release(storage: CpuStorage): void {
    this.cpu.release(storage);
  }

  run<P extends ComputePrim>(prim: P, inputs: CpuView[], params: PrimParams[P], out: OutputSpec): CpuStorage {
    const result = this.runKernel(prim, inputs, params, out);
    return result ? this.cpu.upload(result, out.dtype) : this.cpu.run(prim, inputs, params, out);
  }

  /** The result of `prim` from a Wasm kernel (a view of the arena), or null where none applies. */
  private runKernel<P extends ComputePrim>(prim: P, inputs: CpuView[], params: PrimParams[P], out: OutputSpec): AnyStorageArray | null {
    const { kernels: k, arena } = this;
    const f32 = inputs.every((v) => v.dtype === 'float32');
    if (isCompare(prim) && f32) {
      checkElementwiseCall(prim, inputs, {}, out.dtype);
      return runMap(arena, k.maps.copy, prim, k.maps.compare[prim], inputs, out);
    }
    if (isUnary(prim) && (f32 || prim === 'copy')) {
      checkElementwiseCall(prim, inputs, {}, out.dtype);
      return runMap(arena, k.maps.copy, prim, k.maps.unary[prim], inputs, out);
    }
    if (prim === 'where') {
      checkElementwiseCall(prim, inputs, {}, out.dtype);
      return runMap(arena, k.maps.copy, prim, k.maps.where, inputs, out);
    }
    if (prim === 'cast') {
      const kind = `${inputs[0].dtype}>${(params as PrimParams['cast']).dtype}`;
      if (!isCast(kind)) return null;
      checkElementwiseCall(prim, inputs, params as PrimParams['cast'], out.dtype);
      return runMap(arena, k.maps.copy, prim, k.maps.cast[kind], inputs, out);
    }
    if (!f32 || out.dtype !== 'float32') return null;
    if (isReduce(prim)) return runReduce(arena, k.maps.copy, prim, k.maps.reduce[prim], inputs[0], (params as PrimParams['sum']).axes, out);
    if (prim === 'matmul') return wasmMatmul(k, arena, inputs[0], inputs[1], out);
    if (prim === 'conv2d') return wasmConv2d(k, arena, inputs, params as PrimParams['conv2d'], out);
    if (prim === 'conv2dInputGrad') return wasmConv2dInputGrad(k, arena, inputs, params as PrimParams['conv2dInputGrad'], out);
    if (prim === 'conv2dWeightGrad') return wasmConv2dWeightGrad(k, arena, inputs, params as PrimParams['conv2dWeightGrad'], out);
    if (isSimdBinary(prim)) {
      checkElementwiseCall(prim, inputs, {}, out.dtype);
      return runMap(arena, k.maps.copy, prim, k.binary[prim], inputs, out);
    }
    return null;
  }

  flush(): void {}

  async sync(): Promise<void> {}

  /** Tensors' arrays as live buffers; the scratch arena as one pooled buffer. */
  memory(): MemoryInfo {
    return { ...this.cpu.memory(), pooledBuffers: 1, pooledBytes: this.arena.bytes };
  }

  destroy(): void {
    this.cpu.destroy();
  }
}

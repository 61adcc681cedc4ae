/**
 * The wasm backend's compiled kernels: one module, emitted by builder.ts at start-up, over one
 * imported memory (the scratch arena a kernel call packs its operands into; see backend.ts).
 *
 *   gemm(a, b, c, ldc, mPanels, nPanels, kc)   C[MR·mPanels × NR·nPanels] += Apack · Bpack
 *     A packed as mPanels panels of kc × MR floats (k-major: MR row values per k), B as nPanels
 *     panels of kc × NR floats, C row-major with `ldc` bytes per row. The loop order is GotoBLAS'
 *     macro-kernel: column panel outer (its kc × NR floats stay in L1), row panel inner.
 *   The micro-kernel holds an MR × NR tile of C in MR·NR/4 f32x4 accumulators and per k does
 *   MR·NR/4 multiply-adds: f32x4.relaxed_madd (one fused FMA on x64/arm64) when the engine
 *   validates it, else f32x4.mul + f32x4.add.
 *   scatter_add(src, dst, images, srcImg, dstImg, rows, cols, srcRow, dstRow, dstCol)
 *     dst[i·dstImg + r·dstRow + c·dstCol] += src[i·srcImg + r·srcRow + c·4] (byte strides; src rows
 *     contiguous): col2im's scatter of one tap row (conv.ts). f32x4 when dstCol is 4 bytes.
 */
import { emitMaps, mapKernels, type MapKernels } from './kernels-map.js';
import { I32, ModuleBuilder, OP, SIMD, V128, type FunctionBuilder } from './builder.js';

/** Micro-kernel tile: MR rows × NR columns of C (NR a multiple of 4). 4 × 8 = 8 accumulators + 2 B
 *  vectors + 1 broadcast A fit the 16 vector registers of x64 without spills. */
export const MR = 4;
export const NR = 8;

/** True when this engine validates f32x4.relaxed_madd (the relaxed SIMD proposal). */
export function hasRelaxedSimd(): boolean {
  const m = new ModuleBuilder().function('f', [], [V128], (f) => {
    f.f32x4Const(1).f32x4Const(2).f32x4Const(3).simd(SIMD.f32x4_relaxed_madd);
  });
  return WebAssembly.validate(m.encode());
}

/** Emits the GEMM macro-kernel (see the header). */
export function emitGemm(m: ModuleBuilder, relaxed: boolean): void {
  m.function('gemm', [I32, I32, I32, I32, I32, I32, I32], [], (f) => {
    const [a, b, c, ldc, mPanels, nPanels, kc] = [0, 1, 2, 3, 4, 5, 6];
    const [i, j, k, pa, pb, pc] = Array.from({ length: 6 }, () => f.local(I32));
    const acc = Array.from({ length: MR * (NR / 4) }, () => f.local(V128));
    const bv = Array.from({ length: NR / 4 }, () => f.local(V128));
    const av = f.local(V128);
    f.forRange(j, 0, nPanels, 1, () => {
      f.forRange(i, 0, mPanels, 1, () => {
        // pa = a + i·kc·MR·4, pb = b + j·kc·NR·4
        f.localGet(a).localGet(i).localGet(kc).op(OP.i32_mul).i32Const(MR * 4).op(OP.i32_mul).op(OP.i32_add).localSet(pa);
        f.localGet(b).localGet(j).localGet(kc).op(OP.i32_mul).i32Const(NR * 4).op(OP.i32_mul).op(OP.i32_add).localSet(pb);
        for (const r of acc) f.f32x4Const(0).localSet(r);
        f.localGet(kc).localSet(k);
        f.block(() => {
          f.localGet(k).op(OP.i32_eqz).brIf(0);
          f.loop(() => emitMicroStep(f, { pa, pb, k, acc, bv, av }, relaxed));
        });
        // pc = c + i·MR·ldc + j·NR·4; each row of the tile: C += acc
        f.localGet(c).localGet(i).i32Const(MR).op(OP.i32_mul).localGet(ldc).op(OP.i32_mul).op(OP.i32_add)
          .localGet(j).i32Const(NR * 4).op(OP.i32_mul).op(OP.i32_add).localSet(pc);
        for (let r = 0; r < MR; r++) {
          for (let h = 0; h < NR / 4; h++) {
            f.localGet(pc).localGet(pc).simd(SIMD.v128_load, { offset: 16 * h })
              .localGet(acc[r * (NR / 4) + h]).simd(SIMD.f32x4_add).simd(SIMD.v128_store, { offset: 16 * h });
          }
          if (r < MR - 1) f.localGet(pc).localGet(ldc).op(OP.i32_add).localSet(pc);
        }
      });
    });
  });
}

interface MicroLocals { pa: number; pb: number; k: number; acc: number[]; bv: number[]; av: number }

/** One k step of the micro-kernel: load NR values of B, then per row broadcast A and multiply-add. */
function emitMicroStep(f: FunctionBuilder, l: MicroLocals, relaxed: boolean): void {
  l.bv.forEach((v, h) => f.localGet(l.pb).simd(SIMD.v128_load, { offset: 16 * h }).localSet(v));
  for (let r = 0; r < MR; r++) {
    f.localGet(l.pa).simd(SIMD.v128_load32_splat, { offset: 4 * r, alignLog2: 2 }).localSet(l.av);
    l.bv.forEach((v, h) => {
      const t = l.acc[r * (NR / 4) + h];
      if (relaxed) f.localGet(l.av).localGet(v).localGet(t).simd(SIMD.f32x4_relaxed_madd);
      else f.localGet(t).localGet(l.av).localGet(v).simd(SIMD.f32x4_mul).simd(SIMD.f32x4_add);
      f.localSet(t);
    });
  }
  f.localGet(l.pa).i32Const(MR * 4).op(OP.i32_add).localSet(l.pa);
  f.localGet(l.pb).i32Const(NR * 4).op(OP.i32_add).localSet(l.pb);
  f.localGet(l.k).i32Const(1).op(OP.i32_sub).localTee(l.k).brIf(0);
}

/** Emits scatter_add (see the header). */
export function emitScatterAdd(m: ModuleBuilder): void {
  m.function('scatter_add', Array(10).fill(I32), [], (f) => {
    const [src, dst, images, srcImg, dstImg, rows, cols, srcRow, dstRow, dstCol] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    const [im, r, c, cols4, s, d] = Array.from({ length: 6 }, () => f.local(I32));
    f.localGet(cols).i32Const(~3).op(OP.i32_and).localSet(cols4);
    f.forRange(im, 0, images, 1, () => {
      f.forRange(r, 0, rows, 1, () => {
        // s = src + im·srcImg + r·srcRow, d likewise
        f.localGet(src).localGet(im).localGet(srcImg).op(OP.i32_mul).op(OP.i32_add).localGet(r).localGet(srcRow).op(OP.i32_mul).op(OP.i32_add).localSet(s);
        f.localGet(dst).localGet(im).localGet(dstImg).op(OP.i32_mul).op(OP.i32_add).localGet(r).localGet(dstRow).op(OP.i32_mul).op(OP.i32_add).localSet(d);
        f.i32Const(0).localSet(c);
        f.localGet(dstCol).i32Const(4).op(OP.i32_eq).if(() => {
          f.forRange(c, 0, cols4, 4, () => {
            f.localGet(d).localGet(d).simd(SIMD.v128_load, { alignLog2: 2 }).localGet(s).simd(SIMD.v128_load, { alignLog2: 2 })
              .simd(SIMD.f32x4_add).simd(SIMD.v128_store, { alignLog2: 2 });
            f.localGet(s).i32Const(16).op(OP.i32_add).localSet(s);
            f.localGet(d).i32Const(16).op(OP.i32_add).localSet(d);
          });
          f.localGet(cols4).localSet(c);
        });
        f.block(() => {
          f.localGet(c).localGet(cols).op(OP.i32_ge_s).brIf(0);
          f.loop(() => {
            f.localGet(d).localGet(d).mem(OP.f32_load).localGet(s).mem(OP.f32_load).op(OP.f32_add).mem(OP.f32_store);
            f.localGet(s).i32Const(4).op(OP.i32_add).localSet(s);
            f.localGet(d).localGet(dstCol).op(OP.i32_add).localSet(d);
            f.localGet(c).i32Const(1).op(OP.i32_add).localTee(c).localGet(cols).op(OP.i32_lt_s).brIf(0);
          });
        });
      });
    });
  });
}

export interface WasmKernels {
  readonly memory: WebAssembly.Memory;
  /** Whether the GEMM uses f32x4.relaxed_madd. */
  readonly relaxed: boolean;
  gemm(a: number, b: number, c: number, ldc: number, mPanels: number, nPanels: number, kc: number): void;
  /** Row reductions and the strided copy (kernels-map.ts). */
  maps: MapKernels;
  scatterAdd(src: number, dst: number, images: number, srcImg: number, dstImg: number, rows: number, cols: number, srcRow: number, dstRow: number, dstCol: number): void;
}

/** Compiles the kernel module over a fresh memory (synchronously: the module is a few KiB). */
export function compileKernels(relaxed = hasRelaxedSimd()): WasmKernels {
  const m = new ModuleBuilder().importMemory({ module: 'env', name: 'memory', initial: 1 });
  emitGemm(m, relaxed);
  emitScatterAdd(m);
  emitMaps(m);
  const memory = new WebAssembly.Memory({ initial: 1 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(m.encode()), { env: { memory } });
  const ex = instance.exports as Record<string, (...args: number[]) => void>;
  return { memory, relaxed, gemm: ex.gemm, scatterAdd: ex.scatter_add, maps: mapKernels(ex) };
}

/**
 * The Wasm module builder (src/backends/wasm/builder.ts): LEB128 known answers from the spec's
 * examples, and small modules assembled, validated (WebAssembly.validate) and run in Node: scalar
 * i32 / f32 code, locals, loops, an imported memory, SIMD loads / stores / arithmetic, a shared
 * memory import, and relaxed SIMD's f32x4.relaxed_madd (in a child Node with the feature flag where
 * this engine does not ship it).
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { F32, I32, ModuleBuilder, OP, SIMD, V128, sleb, uleb } from '../src/backends/wasm/builder.js';
import { hasRelaxedSimd } from '../src/backends/wasm/kernels.js';

type Fn = (...args: number[]) => number;

function instantiate(m: ModuleBuilder, imports: WebAssembly.Imports = {}): Record<string, Fn> {
  const bytes = m.encode();
  expect(WebAssembly.validate(bytes)).toBe(true);
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), imports).exports as Record<string, Fn>;
}

describe('LEB128', () => {
  it('encodes the spec and DWARF examples', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(uleb(0xffffffff)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(sleb(0)).toEqual([0]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-64)).toEqual([0x40]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(sleb(-0x80000000)).toEqual([0x80, 0x80, 0x80, 0x80, 0x78]);
  });

  it('refuses values outside u32 / i32', () => {
    expect(() => uleb(-1)).toThrow(RangeError);
    expect(() => uleb(2 ** 32)).toThrow(RangeError);
    expect(() => sleb(2 ** 31)).toThrow(RangeError);
    expect(() => sleb(1.5)).toThrow(RangeError);
  });
});

describe('modules', () => {
  it('runs scalar functions with parameters, locals and large constants', () => {
    const ex = instantiate(new ModuleBuilder()
      .function('add', [I32, I32], [I32], (f) => { f.localGet(0).localGet(1).op(OP.i32_add); })
      .function('big', [], [I32], (f) => { f.i32Const(-123456789); })
      .function('fma', [F32, F32, F32], [F32], (f) => {
        const t = f.local(F32);
        f.localGet(0).localGet(1).op(OP.f32_mul).localSet(t).localGet(t).localGet(2).op(OP.f32_add);
      })
      .function('half', [], [F32], (f) => { f.f32Const(0.5); }));
    expect(ex.add(2, 40)).toBe(42);
    expect(ex.add(0x7fffffff, 1)).toBe(-0x80000000);
    expect(ex.big()).toBe(-123456789);
    expect(ex.fma(1.5, 2, 0.25)).toBe(3.25);
    expect(ex.half()).toBe(0.5);
  });

  it('runs loops (forRange, including an empty range) and block / br_if', () => {
    const ex = instantiate(new ModuleBuilder().function('sumTo', [I32], [I32], (f) => {
      const [i, s] = [f.local(I32), f.local(I32)];
      f.forRange(i, 0, 0, 1, () => { f.localGet(s).localGet(i).op(OP.i32_add).localSet(s); });
      f.localGet(s);
    }).function('firstOver', [I32], [I32], (f) => {
      const i = f.local(I32);
      f.block(() => f.loop(() => {
        f.localGet(i).localGet(0).op(OP.i32_gt_s).brIf(1);
        f.localGet(i).i32Const(3).op(OP.i32_add).localSet(i).br(0);
      }));
      f.localGet(i);
    }));
    expect(ex.sumTo(100)).toBe(4950);
    expect(ex.sumTo(0)).toBe(0);
    expect(ex.sumTo(-5)).toBe(0);
    expect(ex.firstOver(10)).toBe(12);
  });

  it('reads and writes an imported memory with scalar and SIMD instructions', () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const ex = instantiate(new ModuleBuilder().importMemory({ module: 'env', name: 'mem', initial: 1 })
      .function('axpy4', [I32, I32, I32], [], (f) => { // out = x * 2 + y, 4 lanes
        f.localGet(2).localGet(0).simd(SIMD.v128_load).f32x4Const(2).simd(SIMD.f32x4_mul)
          .localGet(1).simd(SIMD.v128_load).simd(SIMD.f32x4_add).simd(SIMD.v128_store);
      })
      .function('splatMax', [I32, I32], [], (f) => { // out[0..3] = max(x[0], 0) broadcast
        f.localGet(1).localGet(0).simd(SIMD.v128_load32_splat, { alignLog2: 2 }).f32x4Const(0).simd(SIMD.f32x4_max)
          .simd(SIMD.v128_store);
      })
      .function('lane2', [I32], [F32], (f) => { f.localGet(0).simd(SIMD.v128_load).simd(SIMD.f32x4_extract_lane).op(2); })
      .function('sqrtAt', [I32], [], (f) => { f.localGet(0).localGet(0).mem(OP.f32_load, 4).op(OP.f32_sqrt).mem(OP.f32_store, 8); }),
    { env: { mem: memory } });
    const f32 = new Float32Array(memory.buffer);
    f32.set([1, -2, 3.5, NaN], 0);
    f32.set([10, 20, 30, 40], 4);
    ex.axpy4(0, 16, 32);
    expect(Array.from(f32.subarray(8, 12))).toEqual([12, 16, 37, NaN]);
    f32[12] = -3;
    ex.splatMax(48, 64);
    expect(Array.from(f32.subarray(16, 20))).toEqual([0, 0, 0, 0]);
    expect(ex.lane2(0)).toBe(3.5);
    f32.set([0, 16, 0], 20);
    ex.sqrtAt(80);
    expect(f32[22]).toBe(4);
  });

  it('imports a shared memory (for worker threads) and refuses one without a maximum', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
    const ex = instantiate(new ModuleBuilder().importMemory({ module: 'env', name: 'mem', initial: 1, maximum: 4, shared: true })
      .function('store', [I32, I32], [], (f) => { f.localGet(0).localGet(1).mem(OP.i32_store); }), { env: { mem: memory } });
    ex.store(8, 77);
    expect(new Int32Array(memory.buffer)[2]).toBe(77);
    expect(() => new ModuleBuilder().importMemory({ module: 'env', name: 'mem', initial: 1, shared: true })).toThrow('maximum');
  });

  it('encodes f32x4.relaxed_madd so that it validates and computes a·b + c', () => {
    const m = new ModuleBuilder().function('madd', [], [F32], (f) => {
      f.f32x4Const(3).f32x4Const(4).f32x4Const(0.5).simd(SIMD.f32x4_relaxed_madd).simd(SIMD.f32x4_extract_lane).op(0);
    });
    const bytes = Buffer.from(m.encode()).toString('base64');
    const script = `const b = Buffer.from('${bytes}', 'base64');`
      + 'console.log(WebAssembly.validate(b), new WebAssembly.Instance(new WebAssembly.Module(b)).exports.madd());';
    // Engines that ship relaxed SIMD run it as is; Node 20's V8 has it behind a flag.
    const flags = hasRelaxedSimd() ? [] : ['--experimental-wasm-relaxed-simd'];
    const r = spawnSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('true 12.5');
    expect(V128).toBe(0x7b);
  });
});

/**
 * random {key, shape, dist}: counter-based Threefry-2x32 (20 rounds), the same function as
 * src/core/random/threefry.ts. Element i (row-major) is bits_i = threefry2x32(key, [i, 0])[0]; 'uniform'
 * maps bits to [0, 1) as bitcast((bits >> 9) | 0x3f800000) - 1 (exact); 'normal' is
 * normalFromBits(w.x, w.y) of both words (src/core/random/normal.ts: integer operations only, so its
 * bits match the CPU's on every device). Element-parallel
 * (wgsl.ts `flatMain`: 256 lanes × 16 elements per workgroup, a 2-D grid for large outputs); the key is a uniform, so every
 * call shares one pipeline per dist. Bits are identical to the CPU's by construction.
 */
import type { OutputSpec } from '../core/backend.js';
import { numel } from '../core/shape.js';
import type { GpuRuntime, GpuStorage } from './runtime.js';
import { normalWgsl } from '../core/random/normal.js';
import { flatGrid, FLAT_END, flatMain, storageDecl, Uniforms, WG } from './wgsl.js';

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24];

/** WGSL `threefry2x32(k0, k1, c0, c1) -> vec2<u32>`, fully unrolled. */
export function threefryWgsl(): string {
  const lines: string[] = [];
  for (let block = 0; block < 5; block++) {
    for (let r = 0; r < 4; r++) {
      const rot = ROTATIONS[(block % 2) * 4 + r];
      lines.push(`x0 = x0 + x1; x1 = ((x1 << ${rot}u) | (x1 >> ${32 - rot}u)) ^ x0;`);
    }
    lines.push(`x0 = x0 + ks${(block + 1) % 3}; x1 = x1 + ks${(block + 2) % 3} + ${block + 1}u;`);
  }
  return `fn threefry2x32(k0: u32, k1: u32, c0: u32, c1: u32) -> vec2<u32> {
  let ks0 = k0;
  let ks1 = k1;
  let ks2 = 0x1bd11bdau ^ k0 ^ k1;
  var x0 = c0 + ks0;
  var x1 = c1 + ks1;
  ${lines.join('\n  ')}
  return vec2<u32>(x0, x1);
}`;
}

export function runRandom(
  rt: GpuRuntime,
  params: { key: [number, number]; shape: number[]; dist: 'bits' | 'uniform' | 'normal' },
  out: OutputSpec,
): GpuStorage {
  const n = numel(out.shape);
  const result = rt.alloc(n);
  if (n === 0) return result;
  const u = new Uniforms();
  const nE = u.u32(n);
  const k0 = u.u32(params.key[0]);
  const k1 = u.u32(params.key[1]);
  const store = {
    bits: 'ob[i] = w.x;',
    uniform: 'ob[i] = bitcast<f32>((w.x >> 9u) | 0x3f800000u) - 1.0;',
    normal: 'ob[i] = normalFromBits(w.x, w.y);',
  }[params.dist];
  const code = () => `${u.decl()}
${storageDecl(1, 'ob', params.dist === 'bits' ? 'u32' : 'f32', false)}
${threefryWgsl()}
${params.dist === 'normal' ? normalWgsl() : ''}
${flatMain(WG, nE)}
  let w = threefry2x32(${k0}, ${k1}, i, 0u);
  ${store}
${FLAT_END}`;
  rt.dispatch(
    { key: `random:${params.dist}`, code, uniforms: u.buffer(), readOnly: 0, workgroups: flatGrid(n, WG, rt.limits.maxComputeWorkgroupsPerDimension) },
    [result],
  );
  return result;
}

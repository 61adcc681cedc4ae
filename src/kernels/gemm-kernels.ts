/**
 * WGSL of the two GEMM kernel families of gemm.ts ('tiled' and 'sg'; the algorithm, workgroup
 * layouts, tiling and passes are described there), and the types the generators share with the
 * operand loaders. Each generator returns the whole shader for one `Variant` (every compile-time
 * choice); sizes and strides arrive as uniforms (`CommonUniforms`, loader uniforms).
 */

/** Tile configuration of the GEMM kernel. */
export interface MatmulConfig {
  /** Workgroup size (x is the lane dimension; keep it a multiple of 8). */
  wx: number;
  wy: number;
  /** Rows / columns per invocation (multiples of 4). */
  r: number;
  c: number;
  /** K slice depth. */
  tk: number;
  /** Unroll factor of the inner k loop (divides tk). */
  unroll: number;
  /** Walk the copy units with a loop instead of unrolling them (smaller shader, faster JIT). */
  loopCopy: boolean;
  /** Kernel family: 'tiled' (workgroup-memory tiles, barriers), 'sg' (one 8-lane subgroup per
   *  workgroup, no workgroup memory or barriers, A rows shared by subgroupBroadcast), or 'auto'. */
  kind: 'auto' | 'tiled' | 'sg';
  /** Register block of the 'sg' kernel: rows (multiple of 8) × columns per lane (multiple of 4). */
  sgR: number;
  sgC: number;
  /** Block used instead for large products (M·N·K·batch ≥ sgLargeMacs): faster per flop, but its
   *  larger shader takes LLVM several times longer to compile, which small products never repay. */
  sgLargeR: number;
  sgLargeC: number;
  sgLargeMacs: number;
  /** K depth per iteration of the 'sg' kernel's loop (4 or 8). */
  sgK: number;
}

/** WGSL names available to a loader's unit code. */
export interface UnitCtx {
  /** Binding name of the operand. */
  X: string;
  /** i32 variable holding the batch base offset. */
  base: string;
  /** u32 outer coordinate (m for A, n for B) and k coordinate of the unit's first element; the
   *  unit runs along the outer axis or along k, as the loader's `k4` says. */
  o: string;
  k: string;
  /** u32 extents of the outer axis and of K. */
  O: string;
  K: string;
  checked: boolean;
  /** The unit's 4 elements run along the outer axis ('o') or along K ('k'). */
  along: 'o' | 'k';
}

export interface LoaderCode {
  /** i32 expression of the batch base offset; may use the u32 batch indices i0, i1, i2. */
  base: string;
  /** Optional WGSL run once per invocation before the K loop (hoisted setup). */
  prelude?: string;
  /** Optional module-scope WGSL (helper functions); identical strings are emitted once. */
  helpers?: string;
  /** WGSL statements defining `let val: vec4<f32>` = the unit's 4 elements, 0 outside the matrix. */
  unit(ctx: UnitCtx): string;
}

export interface Variant {
  cfg: MatmulConfig;
  kind: 'tiled' | 'sg';
  a: string;
  b: string;
  checked: boolean;
  vecOut: boolean;
  split: boolean;
}

export function variantKey(v: Variant): string {
  const c = v.cfg;
  if (v.kind === 'sg') {
    return `gemm:sg:r${c.sgR}c${c.sgC}k${c.sgK}:A${v.a}:B${v.b}:${v.checked ? 'chk' : 'fast'}:${v.vecOut ? 'ov4' : 'os'}${v.split ? ':split' : ''}`;
  }
  return `gemm:${c.wx}x${c.wy}:r${c.r}c${c.c}:tk${c.tk}u${c.unroll}${c.loopCopy ? 'L' : ''}:A${v.a}:B${v.b}:${v.checked ? 'chk' : 'fast'}:${v.vecOut ? 'ov4' : 'os'}${v.split ? ':split' : ''}`;
}

export interface CommonUniforms {
  M: string; N: string; K: string; b1: string; b2: string; xOff: string; yOff: string; zOff: string; nSplit: string; kPer: string;
}

/**
 * The copy pass of one operand into its k-major tile T[k][o] (vec4 along o). Units are either 4
 * consecutive o at one k ("o4": one vec4 store) or 4 consecutive k at one o ("k4": 4 scalar stores
 * into the k-major tile). With `loopCopy` the units are walked by a loop (smaller shader, faster
 * JIT) instead of being unrolled.
 */
function copyPass(X: string, T: string, lc: LoaderCode, k4: boolean, TO: number, o0: string, base: string, O: string, v: Variant, NT: number): string {
  const { tk } = v.cfg;
  const TO4 = TO / 4;
  const units = tk * TO4;
  const head = k4
    ? `let kq = unit / ${TO}u; let ol = unit % ${TO}u; let o = ${o0} + ol; let k = t + kq * 4u;`
    : `let kl = unit / ${TO4}u; let ol = (unit % ${TO4}u) * 4u; let o = ${o0} + ol; let k = t + kl;`;
  const body = lc.unit({ X, base, o: 'o', k: 'k', O, K: 'K', checked: v.checked, along: k4 ? 'k' : 'o' });
  const store = k4
    ? [0, 1, 2, 3].map((q) => `${T}[(kq * 4u + ${q}u) * ${TO4}u + ol / 4u][ol % 4u] = val[${q}];`).join(' ')
    : `${T}[unit] = val;`;
  const one = (u: string) => `{
      let unit = ${u}; ${head}
      ${body}
      ${store}
    }`;
  if (v.cfg.loopCopy) {
    const guard = units % NT === 0 ? '' : `if (unit >= ${units}u) { break; }`;
    return `    for (var u0 = 0u; u0 < ${units}u; u0 = u0 + ${NT}u) {
      let uu = li + u0; ${guard ? guard.replace('unit', 'uu') : ''}
      ${one('uu')}
    }`;
  }
  const out: string[] = [];
  for (let e = 0; e * NT < units; e++) {
    const guard = (e + 1) * NT > units ? `if (li + ${e * NT}u < ${units}u) ` : '';
    out.push(`    ${guard}${one(`li + ${e * NT}u`)}`);
  }
  return out.join('\n');
}

/** Module-scope WGSL of both kernel families: the loaders' helpers (once each) and the bindings. */
function moduleScope(v: Variant, la: LoaderCode, lb: LoaderCode, aVec: boolean, bVec: boolean): string[] {
  return [
    ...new Set([la.helpers ?? '', lb.helpers ?? '']),
    `@group(0) @binding(1) var<storage, read> A: array<${aVec ? 'vec4<f32>' : 'f32'}>;`,
    `@group(0) @binding(2) var<storage, read> B: array<${bVec ? 'vec4<f32>' : 'f32'}>;`,
    `@group(0) @binding(3) var<storage, read_write> O: array<${v.vecOut ? 'vec4<f32>' : 'f32'}>;`,
  ];
}

/**
 * Kernel-body WGSL shared by both families after m0 / n0: the batch entry (i0, i1, i2) and split
 * slice of this workgroup, the operands' batch bases and preludes, and the K range [kBegin, kEnd).
 */
function batchPrelude(v: Variant, cu: CommonUniforms, la: LoaderCode, lb: LoaderCode): string {
  return `  let zz = wid.z + ${cu.zOff};
  var bi = zz;
  ${v.split ? `let split = bi % ${cu.nSplit}; bi = bi / ${cu.nSplit};` : ''}
  let i2 = bi % ${cu.b2}; bi = bi / ${cu.b2};
  let i1 = bi % ${cu.b1}; let i0 = bi / ${cu.b1};
  let aBase = ${la.base};
  let bBase = ${lb.base};
  ${la.prelude ?? ''}
  ${lb.prelude ?? ''}
  ${v.split ? `let kBegin = split * ${cu.kPer}; let kEnd = min(K, kBegin + ${cu.kPer});` : 'let kBegin = 0u; let kEnd = K;'}`;
}

/**
 * Stores the accumulators acc{i}_{j} (rows i < R, vec4 columns j < C4) of one invocation: row i at
 * `row(i)`, vec4 column j from `col(j)`; vec4 stores when the output allows, masked when checked.
 */
function storeTile(v: Variant, R: number, C4: number, row: (i: number) => string, col: (j: number) => string): string[] {
  const L = ['  let oBase = zz * M * N;'];
  for (let i = 0; i < R; i++) {
    L.push(`  {
    let row = ${row(i)};`);
    for (let j = 0; j < C4; j++) {
      const cj = col(j);
      if (v.vecOut) {
        const st = `O[(oBase + row * N + ${cj}) / 4u] = acc${i}_${j};`;
        L.push(v.checked ? `    if (row < M && ${cj} < N) { ${st} }` : `    ${st}`);
      } else {
        for (let q = 0; q < 4; q++) {
          const st = `O[oBase + row * N + ${cj} + ${q}u] = acc${i}_${j}[${q}];`;
          L.push(v.checked ? `    if (row < M && ${cj} + ${q}u < N) { ${st} }` : `    ${st}`);
        }
      }
    }
    L.push('  }');
  }
  return L;
}

export function gemmCode(v: Variant, cu: CommonUniforms, la: LoaderCode, lb: LoaderCode, aVec: boolean, bVec: boolean, aK4: boolean, bK4: boolean, decl: string): string {
  const { wx, wy, r, c, tk, unroll } = v.cfg;
  const TM = wy * r;
  const TN = wx * c;
  const NT = wx * wy;
  const TM4 = TM / 4;
  const TN4 = TN / 4;
  const R4 = r / 4;
  const C4 = c / 4;
  const L: string[] = [];
  L.push(decl);
  L.push(...moduleScope(v, la, lb, aVec, bVec));
  L.push(`var<workgroup> As: array<vec4<f32>, ${tk * TM4}>;`);
  L.push(`var<workgroup> Bs: array<vec4<f32>, ${tk * TN4}>;`);
  L.push(`@compute @workgroup_size(${wx}, ${wy}, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let M = ${cu.M}; let N = ${cu.N}; let K = ${cu.K};
  let tx = lid.x; let ty = lid.y;
  let m0 = (wid.y + ${cu.yOff}) * ${TM}u; let n0 = (wid.x + ${cu.xOff}) * ${TN}u;
${batchPrelude(v, cu, la, lb)}`);
  for (let i = 0; i < r; i++) for (let j = 0; j < C4; j++) L.push(`  var acc${i}_${j} = vec4<f32>(0.0);`);
  L.push(`  for (var t = kBegin; t < kEnd; t = t + ${tk}u) {`);
  L.push(copyPass('A', 'As', la, aK4, TM, 'm0', 'aBase', 'M', v, NT));
  L.push(copyPass('B', 'Bs', lb, bK4, TN, 'n0', 'bBase', 'N', v, NT));
  L.push(`    workgroupBarrier();`);
  const step = (kk: string) => {
    const out: string[] = [];
    for (let i = 0; i < R4; i++) out.push(`      let a${i} = As[(${kk}) * ${TM4}u + ty * ${R4}u + ${i}u];`);
    for (let j = 0; j < C4; j++) out.push(`      let b${j} = Bs[(${kk}) * ${TN4}u + tx * ${C4}u + ${j}u];`);
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < C4; j++) out.push(`      acc${i}_${j} = fma(vec4<f32>(a${i >> 2}[${i & 3}]), b${j}, acc${i}_${j});`);
    }
    return out;
  };
  L.push(`    for (var kk = 0u; kk < ${tk}u; kk = kk + ${unroll}u) {`);
  for (let q = 0; q < unroll; q++) {
    L.push('     {');
    L.push(...step(q === 0 ? 'kk' : `kk + ${q}u`));
    L.push('     }');
  }
  L.push(`    }`);
  L.push(`    workgroupBarrier();`);
  L.push(`  }`);
  L.push(...storeTile(v, r, C4, (i) => `m0 + ty * ${r}u + ${i}u`, (j) => `n0 + tx * ${c}u + ${4 * j}u`));
  L.push('}');
  return L.join('\n');
}

/**
 * The 'sg' kernel (lavapipe): a workgroup is ONE 8-lane subgroup owning an R × 8C output tile; lane
 * l owns columns l·C .. l·C+C−1 of it for all R rows. Per 4-deep k step, lane l loads A rows
 * 8q + l (q < R/8) as a unit of 4 k, and its own B columns (C/4 units of 4 n per k); row i's A
 * values reach every lane through subgroupBroadcast(·, i mod 8). No workgroup memory and no
 * barrier, so llvmpipe needs no coroutine and keeps accumulators in registers, and every B element
 * is loaded exactly once per workgroup straight into the lane that uses it.
 */
export function sgCode(v: Variant, cu: CommonUniforms, la: LoaderCode, lb: LoaderCode, aVec: boolean, bVec: boolean, decl: string): string {
  const R = v.cfg.sgR;
  const C = v.cfg.sgC;
  const C4 = C / 4;
  const R8 = R / 8;
  const L: string[] = [];
  L.push('enable subgroups;');
  L.push(decl);
  L.push(...moduleScope(v, la, lb, aVec, bVec));
  L.push(`@compute @workgroup_size(8, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = ${cu.M}; let N = ${cu.N}; let K = ${cu.K};
  let l = lid.x;
  let m0 = (wid.y + ${cu.yOff}) * ${R}u; let n0 = (wid.x + ${cu.xOff}) * ${8 * C}u;
${batchPrelude(v, cu, la, lb)}`);
  for (let i = 0; i < R; i++) for (let j = 0; j < C4; j++) L.push(`  var acc${i}_${j} = vec4<f32>(0.0);`);
  const KS = v.cfg.sgK;
  L.push(`  for (var t = kBegin; t < kEnd; t = t + ${KS}u) {`);
  for (let h = 0; h < KS / 4; h++) {
    for (let q = 0; q < R8; q++) {
      L.push(`    var av${h}_${q}: vec4<f32>;
    {
      let o = m0 + ${8 * q}u + l; let k = t + ${4 * h}u;
      ${la.unit({ X: 'A', base: 'aBase', o: 'o', k: 'k', O: 'M', K: 'K', checked: v.checked, along: 'k' })}
      av${h}_${q} = val;
    }`);
    }
  }
  for (let kk = 0; kk < KS; kk++) {
    for (let j = 0; j < C4; j++) {
      L.push(`    var b${kk}_${j}: vec4<f32>;
    {
      let o = n0 + l * ${C}u + ${4 * j}u; let k = t + ${kk}u;
      ${lb.unit({ X: 'B', base: 'bBase', o: 'o', k: 'k', O: 'N', K: 'K', checked: v.checked, along: 'o' })}
      b${kk}_${j} = val;
    }`);
    }
  }
  for (let i = 0; i < R; i++) {
    L.push('    {');
    for (let h = 0; h < KS / 4; h++) {
      L.push(`      let ar${h} = subgroupBroadcast(av${h}_${i >> 3}, ${i & 7}u);`);
      for (let kk = 0; kk < 4; kk++) {
        for (let j = 0; j < C4; j++) L.push(`      acc${i}_${j} = fma(vec4<f32>(ar${h}[${kk}]), b${4 * h + kk}_${j}, acc${i}_${j});`);
      }
    }
    L.push('    }');
  }
  L.push('  }');
  L.push(...storeTile(v, R, C4, (i) => `m0 + ${i}u`, (j) => `n0 + l * ${C}u + ${4 * j}u`));
  L.push('}');
  return L.join('\n');
}


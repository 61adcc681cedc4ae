/**
 * The walkthroughs of docs/walkthroughs.md end in these tests: each walkthrough's code lives in
 * examples/walkthrough-*.ts and is run here (CPU backend, tiny shapes), so a walkthrough cannot
 * drift from the library it teaches.
 *
 * A new SSL method as a record (examples/walkthrough-method.ts), with its property tests: the
 * adversarial view lies in the ε-ball and the box and raises NT-Xent against the anchor; the
 * record's flags are validated; a step is a pure function of its key; training runs through the
 * method registry.
 *
 * A new differentiable primitive (examples/walkthrough-primitive.patch adds `erf`): the patch is
 * applied with `git apply` to a `git archive HEAD` copy (so it must still apply to the committed
 * code), and examples/walkthrough-primitive.ts runs there: the CPU rule against an independent
 * float64 reference, checkGrads to second order, the WGSL kernel against the CPU on WebGPU.
 *
 * Tuning a kernel shape: the walkthrough's quickest measurement line (bench/matmul.ts with two
 * configurations taking turns) runs, and its table has the shape the walkthrough describes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { FGSM_VIEW, fgsmView, main, tinySetup } from '../examples/walkthrough-method.js';
import { erfBySimpson, newOp, ulpDistance } from '../examples/walkthrough-primitive.js';
import { skipUnlessCi } from './helpers/ci.js';
import { codeBlocks, root } from './helpers/markdown.js';

beforeAll(async () => {
  await wg.init({ backend: 'cpu' });
});

/** NT-Xent of [z(v); z(a)] under the model in eval mode (what the attack maximizes). */
async function ntXentAgainst(p: wg.ssl.ModelParams, s: wg.ssl.ModelState, v: wg.Tensor, a: wg.Tensor): Promise<number> {
  const embed = wg.ssl.evalEmbedding(p, s);
  return wg.tidy(() => wg.losses.ntXent([embed(v), embed(a)], { temperature: 0.5 })).item();
}

describe('walkthrough: a new SSL method as a record (examples/walkthrough-method.ts)', () => {
  it('the adversarial view lies in the ε-ball around x and in the box, and raises NT-Xent against the anchor', async () => {
    const { params, state, x } = tinySetup();
    await fc.assert(fc.asyncProperty(fc.double({ min: 1e-3, max: 0.05, noNaN: true }), fc.nat(1000), async (eps, seed) => {
      const [kNoise, kAttack] = wg.random.split(wg.random.key(seed));
      const a = wg.ssl.noiseView(kNoise, x, 0.05);
      const adv = fgsmView(params, state, x, a, kAttack, eps, null);
      const shift = await wg.tidy(() => wg.max(wg.abs(wg.sub(adv, x)))).item();
      expect(shift).toBeLessThanOrEqual(eps + 1e-6); // x + δ is rounded to float32
      expect(await ntXentAgainst(params, state, adv, a)).toBeGreaterThanOrEqual(await ntXentAgainst(params, state, x, a));
      const boxed = fgsmView(params, state, wg.clip(x, 0, 1), a, kAttack, eps, [0, 1]);
      expect([await wg.min(boxed).item(), await wg.max(boxed).item()]).toSatisfy(([lo, hi]: number[]) => lo >= 0 && hi <= 1);
      wg.dispose([a, adv, boxed]);
    }), { numRuns: 6, seed: 23 });
  });

  it('its flags are checked against their bounds, naming the flag (ε = 0 is refused: FGSM needs a step)', () => {
    expect(wg.ssl.methodOptions(FGSM_VIEW, { eps: 0.1 })).toEqual({ eps: 0.1, sigma: 0.05 });
    expect(() => wg.ssl.methodOptions(FGSM_VIEW, { eps: 2 })).toThrow(/fgsm-view: option eps \(--fgsm-view-eps\) = 2/);
    expect(() => wg.ssl.methodOptions(FGSM_VIEW, { eps: 0 })).toThrow(/--fgsm-view-eps\) = 0/);
  });

  it('a step is a pure function of its key, with a finite loss', async () => {
    const { ctx, params, state, x } = tinySetup();
    const step = FGSM_VIEW.step(FGSM_VIEW.defaults, ctx);
    const s0 = wg.ssl.initState(params, state, ctx.optimizer);
    const [r1, r2] = [step(params, s0, x, wg.random.key(7)), step(params, s0, x, wg.random.key(7))];
    expect(Number.isFinite(await r1.loss.item())).toBe(true);
    const leaves = (t: wg.ssl.ModelParams) => Promise.all(wg.treeLeaves(t).map(([, l]) => l.data()));
    expect(await leaves(r1.params)).toEqual(await leaves(r2.params));
    expect(await leaves(r1.params)).not.toEqual(await leaves(params));
  });

  it('registers with one call and trains through the method registry', async () => {
    const losses = await main(3);
    expect(wg.ssl.methodNames()).toContain('fgsm-view');
    expect(losses).toHaveLength(3);
    expect(losses.every(Number.isFinite)).toBe(true);
  });
});

/** What examples/walkthrough-primitive.ts prints. */
interface PrimitiveReport {
  forward: { points: number; maxUlp: number };
  grads: wg.CheckGradsReport;
  wgsl?: { unavailable: string } | {
    adapter: string; maxUlp: number; maxRelError: number;
    specials: { nanIsNaN: boolean; inf: number; negInf: number; negZero: boolean };
  };
}

const PATCH = 'examples/walkthrough-primitive.patch';

/** HEAD exported into `dir` with node_modules linked in; then the walkthrough's patch applied there. */
function exportHeadWithPatch(dir: string): void {
  const tar = execFileSync('git', ['archive', '--format=tar', 'HEAD'], { cwd: root, maxBuffer: 1 << 30 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  try {
    execFileSync('git', ['apply', PATCH], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`${PATCH} no longer applies to HEAD: redo the walkthrough's change on the current code and regenerate the patch `
      + `(docs/walkthroughs.md#a-new-differentiable-primitive-erf)\n${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`);
  }
}

describe('walkthrough: a new differentiable primitive, erf (examples/walkthrough-primitive.patch)', () => {
  let dir = '';
  let report: PrimitiveReport;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wgrad-walkthrough-'));
    exportHeadWithPatch(dir);
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/walkthrough-primitive.ts'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    report = JSON.parse(out.trim().split('\n').at(-1)!) as PrimitiveReport;
  }, 120_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the unpatched library has no erf (the patch is what adds it), and the checks\' own helpers are right', () => {
    expect(() => newOp('erf')).toThrow(/apply examples\/walkthrough-primitive.patch/);
    // Simpson's reference against tabulated values (Abramowitz & Stegun, table 7.1) and its symmetry.
    expect(erfBySimpson(0.5)).toBeCloseTo(0.5204998778, 10);
    expect(erfBySimpson(-1.5)).toBeCloseTo(-0.9661051465, 10);
    expect(Object.is(erfBySimpson(-0), -0)).toBe(true);
    expect(ulpDistance(1, Math.fround(1 + 2 ** -23))).toBe(1);
    expect(ulpDistance(-0, 0)).toBe(0);
    expect(ulpDistance(Math.fround(-1e-45), Math.fround(1e-45))).toBe(2);
  });

  it('patched: the CPU rule is float64 erf rounded once to float32 (0 ulp from an independent reference), specials included', () => {
    expect(report.forward.points).toBeGreaterThanOrEqual(200);
    expect(report.forward.maxUlp).toBe(0);
  });

  it('patched: the VJP rule matches finite differences to second order (checkGrads)', () => {
    expect(report.grads.checks).toBeGreaterThan(0);
    expect(report.grads.maxRelError).toBeLessThan(1e-4);
  });

  it('patched: the WGSL kernel matches the CPU reference on WebGPU within the transcendental tolerance', (ctx) => {
    const w = report.wgsl!;
    if ('unavailable' in w) skipUnlessCi(ctx, `no WebGPU adapter for the WGSL check: ${w.unavailable}`);
    expect(w.maxRelError).toBeLessThanOrEqual(4e-6); // test/kernels-elementwise.test.ts's rtol for transcendentals
    expect(w.specials).toEqual({ nanIsNaN: true, inf: 1, negInf: -1, negZero: true });
  });

  it('every diff block of the walkthrough is part of the patch, and each file its tsc output names holds a table typed over the primitives', () => {
    const patch = readFileSync(join(root, PATCH), 'utf8');
    const blocks = codeBlocks(readFileSync(join(root, 'docs/walkthroughs.md'), 'utf8'));
    const diffs = blocks.filter((b) => b.lang === 'diff');
    expect(diffs.length).toBeGreaterThanOrEqual(6);
    for (const b of diffs) expect(patch, `docs/walkthroughs.md line ${b.line}`).toContain(b.code);
    const tscOutput = blocks.find((b) => b.lang === 'text' && b.code.includes("Property 'erf' is missing"))!;
    const files = tscOutput.code.split('\n').map((l) => l.split(':')[0]);
    expect(files).toHaveLength(5);
    for (const f of files) {
      expect(readFileSync(join(root, f), 'utf8'), f).toMatch(/\[(P|op) in (Prim|ComputePrim|ElementwisePrim|UnaryOp)\]/);
      expect(patch, f).toContain(`diff --git a/${f} `);
    }
  });
});

describe('walkthrough: tuning a kernel shape for an adapter (bench/matmul.ts)', () => {
  const QUICK = 'npx tsx bench/matmul.ts --sizes 64 --reps 3 --cfg sg:16,4 --cfg sg:8,4';

  it('the quickest measurement line of the walkthrough runs and prints one row per configuration with its ratio to the first', (ctx) => {
    expect(readFileSync(join(root, 'docs/walkthroughs.md'), 'utf8')).toContain(`\n${QUICK}\n`);
    const [, , file, ...args] = QUICK.split(' ');
    let out: string;
    try {
      out = execFileSync(process.execPath, ['--import', 'tsx', file, ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = `${(e as { stderr?: string }).stderr ?? e}`;
      if (/adapter|subgroups|WebGPU/i.test(err)) skipUnlessCi(ctx, `bench/matmul.ts needs a WebGPU adapter with subgroups: ${err.slice(0, 300)}`);
      throw e;
    }
    const table = out.slice(out.indexOf('| config |')).trim().split('\n');
    expect(table[0]).toBe('| config | size | ms | GFLOP/s | CPU ms | GFLOP/CPU-s | time ÷ first config (wall / CPU) | first call ms | max rel. err (64 samples) |');
    const rows = table.slice(2).map((r) => r.split('|').slice(1, -1).map((c) => c.trim()));
    expect(rows.map((r) => [r[0], r[1]])).toEqual([['sg: 8-lane wg, 16×4/lane', '64²'], ['sg: 8-lane wg, 8×4/lane', '64²']]);
    expect(rows[0][6]).toBe('1.00 / 1.00');
    for (const r of rows) {
      expect(r).toHaveLength(9);
      for (const c of [r[2], r[3], r[4], r[5], r[7]]) expect(Number(c)).toBeGreaterThan(0);
      expect(r[6]).toMatch(/^\d+\.\d\d \/ \d+\.\d\d$/);
      expect(Number(r[8])).toBeLessThan(1e-5);
    }
  }, 60_000);
});

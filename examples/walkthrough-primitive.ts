/**
 * A walkthrough (docs/walkthroughs.md#a-new-differentiable-primitive-erf): the checks of a new
 * primitive, `erf`, which examples/walkthrough-primitive.patch adds to wgrad. Run it on a tree the
 * patch is applied to; test/walkthroughs.test.ts does that on a `git archive HEAD` copy.
 *
 *   git apply examples/walkthrough-primitive.patch
 *   npx tsx examples/walkthrough-primitive.ts          the CPU reference, then WGSL on WebGPU
 *   npx tsx examples/walkthrough-primitive.ts --cpu    the CPU reference only
 *
 * It prints one JSON report:
 *   forward   the CPU rule against an independent float64 reference (Simpson's rule on
 *             2/√π ∫₀ˣ e^(−t²) dt, not the series the rule sums), in float32 ulps
 *   grads     checkGrads' report (float64 finite differences, first and second order)
 *   wgsl      the WebGPU result against the CPU reference on the same inputs (absent with --cpu;
 *             `unavailable` with the reason where no WebGPU adapter starts)
 */
import { pathToFileURL } from 'node:url';
import * as wg from '../src/node.js';

type Unary = (x: wg.Tensor) => wg.Tensor;

/** The new op, looked up by name so that this file also compiles on a tree without the patch. */
export function newOp(name = 'erf'): Unary {
  const op = (wg as unknown as Record<string, Unary | undefined>)[name];
  if (typeof op !== 'function') throw new Error(`wg.${name} is missing: apply examples/walkthrough-primitive.patch first (docs/walkthroughs.md)`);
  return op;
}

/** erf(x) by composite Simpson's rule with 2n intervals, in float64 (odd, so integrated on [0, |x|]). */
export function erfBySimpson(x: number, n = 20000): number {
  if (Number.isNaN(x)) return x;
  const a = Math.min(Math.abs(x), 10); // erf(10) = 1 − 2e−45: 1 in float64
  const h = a / (2 * n);
  const f = (t: number) => Math.exp(-t * t);
  let s = f(0) + f(a);
  for (let i = 1; i < 2 * n; i++) s += (i % 2 ? 4 : 2) * f(i * h);
  const r = ((2 / Math.sqrt(Math.PI)) * h * s) / 3;
  return x < 0 || Object.is(x, -0) ? -r : r;
}

/** Distance in float32 ulps between two float32 values (0 for equal bits, ±0 and NaN = NaN included). */
export function ulpDistance(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  const bits = (v: number) => {
    const i = new Int32Array(new Float32Array([v]).buffer)[0];
    return i < 0 ? -(i & 0x7fffffff) : i; // a monotone integer line through ±0
  };
  return Math.abs(bits(a) - bits(b));
}

/** The inputs: the special values, tiny and huge magnitudes, both sides of every branch, random points. */
export async function inputs(count = 200, seed = 1): Promise<number[]> {
  const specials = [0, -0, Infinity, -Infinity, NaN, 1e-30, -1e-8, 1e-3, 0.5, 1, -1.999, 2, 2.001, 3.3, -3.9, 4, 4.5, 30];
  const rand = wg.random.uniform(wg.random.key(seed), [count], { minval: -5, maxval: 5 });
  const xs = [...specials, ...((await rand.data()) as Float32Array)];
  rand.dispose();
  return xs.map(Math.fround);
}

/** erf of `xs` on the current backend, as numbers. */
async function run(op: Unary, xs: number[]): Promise<number[]> {
  const x = wg.tensor(xs);
  const y = op(x);
  const out = Array.from((await y.data()) as Float32Array);
  wg.dispose([x, y]);
  return out;
}

const maxOf = (v: number[]) => v.reduce((m, e) => Math.max(m, e), 0);

/** The report; `webgpu: false` leaves out the WGSL comparison. */
export async function main(webgpu = true) {
  const op = newOp();
  await wg.init({ backend: 'cpu' });
  const xs = await inputs();
  const cpu = await run(op, xs);
  const forward = { points: xs.length, maxUlp: maxOf(cpu.map((y, i) => ulpDistance(y, Math.fround(erfBySimpson(xs[i]))))) };
  const x = wg.random.uniform(wg.random.key(2), [3, 4], { minval: -3, maxval: 3 });
  const grads = await wg.checkGrads(op, [x], { order: 2 });
  x.dispose();
  if (!webgpu) return { forward, grads };
  let adapter: wg.AdapterReport;
  try {
    adapter = await wg.init({ backend: 'webgpu' });
  } catch (e) {
    return { forward, grads, wgsl: { unavailable: (e as Error).message } };
  }
  const gpu = await run(op, xs);
  const err = (i: number) => Math.abs(gpu[i] - cpu[i]) / Math.max(Math.abs(cpu[i]), 1e-30);
  const finite = xs.map((_, i) => i).filter((i) => Number.isFinite(cpu[i]));
  const wgsl = {
    adapter: adapter.description,
    maxUlp: maxOf(finite.map((i) => ulpDistance(gpu[i], cpu[i]))),
    maxRelError: maxOf(finite.map(err)),
    // NaN stays NaN, erf(±∞) = ±1, erf(−0) = −0 (JSON has no NaN: a flag says it)
    specials: { nanIsNaN: Number.isNaN(gpu[xs.findIndex(Number.isNaN)]), inf: gpu[xs.indexOf(Infinity)], negInf: gpu[xs.indexOf(-Infinity)], negZero: Object.is(gpu[1], -0) },
  };
  return { forward, grads, wgsl };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await main(!process.argv.includes('--cpu'))));
}

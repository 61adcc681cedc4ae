/**
 * The gradient checker and the backward driver's own checks can fail: a NaN gradient, a gradient of
 * the wrong shape (a broken rule or un-broadcast) and a gradient of the wrong dtype are all errors
 * that name what went wrong. Every other gradient test stands on these checks.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { checkCotangent, unbroadcast } from '../src/autograd/backward.js';
import { vjpRules } from '../src/autograd/vjp.js';

beforeAll(async () => {
  await wg.init({ backend: 'cpu' });
});

/** Runs `f` with one VJP rule replaced, restoring it afterwards. */
const saved: [keyof typeof vjpRules, unknown][] = [];
function patchRule<K extends keyof typeof vjpRules>(prim: K, rule: (typeof vjpRules)[K]): void {
  saved.push([prim, vjpRules[prim]]);
  vjpRules[prim] = rule;
}
afterEach(() => {
  for (const [prim, rule] of saved.splice(0).reverse()) (vjpRules as Record<string, unknown>)[prim] = rule;
});

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(wg.WgradError);
    return (e as Error).message;
  }
  return expect.fail('expected a WgradError, got none');
}

describe('checkGrads fails on non-finite differences', () => {
  it('sqrt(x·x) at 0: autodiff NaN (∞·0) against a finite numeric 0 is a mismatch', async () => {
    const f = (x: wg.Tensor) => wg.sqrt(wg.mul(x, x));
    const msg = await rejection(wg.checkGrads(f, [wg.tensor([0, 1])]));
    expect(msg).toMatch(/checkGrads: gradient mismatch at input 0 \[2\]: autodiff NaN vs finite differences .* \(non-finite\)/);
    // Away from 0 the same function passes.
    await wg.checkGrads(f, [wg.tensor([0.5, 1])]);
  });

  it('NaN on both sides passes only with allowSameNonFinite; different non-finite values never do', async () => {
    const nanEverywhere = (x: wg.Tensor) => wg.mul(x, NaN);
    await rejection(wg.checkGrads(nanEverywhere, [wg.tensor([1, 2])]));
    const report = await wg.checkGrads(nanEverywhere, [wg.tensor([1, 2])], { allowSameNonFinite: true });
    expect(report.checks).toBe(2);
    // Autodiff ±∞ (v·∞) against numeric NaN (∞ − ∞): still a mismatch with the option.
    const msg = await rejection(wg.checkGrads((x) => wg.mul(x, Infinity), [wg.tensor([2])], { allowSameNonFinite: true }));
    expect(msg).toMatch(/autodiff -?Infinity vs finite differences NaN/);
  });

  it('a finite numeric value against an infinite autodiff value (reciprocal at 0) fails', async () => {
    // Σ v·(x·x)/x: numeric gradient v, autodiff through 1/x at 0 → ±∞ and NaN.
    const f = (x: wg.Tensor) => wg.mul(wg.mul(x, x), wg.reciprocal(x));
    await rejection(wg.checkGrads(f, [wg.tensor([0, 2])]));
  });
});

describe('the backward driver checks every cotangent against its input', () => {
  it('a rule giving a cotangent that does not broadcast from the input names the primitive', async () => {
    patchRule('neg', (g) => [wg.concat([g, g], 1)]);
    const msg = await rejection(wg.checkGrads((x) => wg.neg(x), [wg.tensor([[1, 2, 3]])]));
    expect(msg).toContain('neg: VJP rule gave input 0 a cotangent of float32 [1, 6]');
    expect(msg).toContain('float32 [1, 3]');
  });

  it('a rule giving a cotangent of the wrong dtype names the primitive', () => {
    patchRule('sin', (g) => [wg.cast(g, 'int32')]);
    expect(() => wg.grad((x: wg.Tensor) => wg.sum(wg.sin(x)))(wg.tensor([1, 2]))).toThrow(
      /sin: cotangent of input 0 is int32 \[2\], expected the input's float32 \[2\]/,
    );
  });

  it('un-broadcast: a [1, 3] operand of a [2, 3] result gets a [1, 3] gradient (summed), exactly', async () => {
    // With the un-broadcast broken (the [2, 3] cotangent passed through), the driver's shape check
    // throws "add: cotangent of input 0 is float32 [2, 3], expected the input's float32 [1, 3]".
    const [gx, gy] = wg.grad((x: wg.Tensor, y: wg.Tensor) => wg.sum(wg.mul(wg.add(x, y), y)), { argnums: [0, 1] })(
      wg.tensor([[1, 2, 3]]), wg.tensor([[1, 1, 1], [2, 2, 2]]),
    );
    expect(gx.shape).toEqual([1, 3]);
    expect(Array.from(await gx.data())).toEqual([3, 3, 3]);
    expect(gy.shape).toEqual([2, 3]);
    // Axes of size 1 and missing leading axes are summed, nothing else.
    const u = unbroadcast(wg.ones([4, 2, 3]), [1, 3]);
    expect(u.shape).toEqual([1, 3]);
    expect(Array.from(await u.data())).toEqual([8, 8, 8]);
    expect(unbroadcast(wg.ones([2, 3]), [2, 3]).shape).toEqual([2, 3]);
    // What a broken un-broadcast would hand on, through the check the driver applies after it.
    expect(() => checkCotangent('add', 'input 0', wg.ones([2, 3]), wg.ones([1, 3]))).toThrow(
      "add: cotangent of input 0 is float32 [2, 3], expected the input's float32 [1, 3]",
    );
    expect(checkCotangent('add', 'input 0', u, wg.ones([1, 3]))).toBe(u);
  });

  it('a view rule that forgets to reshape back is an error naming it, not a NaN downstream', () => {
    // A reshape rule that forgets to reshape back hands the [3] input a [3, 1] cotangent.
    patchRule('reshape', (g) => [g]);
    expect(() => wg.grad((x: wg.Tensor) => wg.sum(wg.mul(wg.reshape(wg.neg(x), [3, 1]), 2)))(wg.tensor([1, 2, 3]))).toThrow(
      /reshape: VJP rule gave input 0 a cotangent of float32 \[3, 1\], which does not broadcast from the input's float32 \[3\]/,
    );
  });
});

/**
 * The attacks' value checks (src/attacks/checks.ts): a model that outputs NaN makes every attack
 * raise naming itself and the step (instead of returning NaN images, or a no-op that passes for
 * robustness); a clean x outside the box (standardized inputs under the default [0, 1]) is refused
 * instead of clipped; ε, α and temperatures are checked in float32 terms; and the checks leak
 * nothing whether they pass or fail.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import { attacks, evaluation } from '../src/index.js';

const { key } = wg.random;
type T = wg.Tensor;

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

/** A linear 3-class model on 4 inputs; `poison` puts a NaN in its weights (a diverged run). */
function model(poison = false) {
  const w = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 1));
  if (poison) w[5] = NaN;
  const wt = wg.tensor(w, { shape: [4, 3] });
  return (x: T) => wg.matmul(x, wt);
}
const x01 = () => wg.random.uniform(key(1), [5, 4], { minval: 0.1, maxval: 0.9 });
const labels = [0, 1, 2, 0, 1];

describe('a model that outputs NaN', () => {
  it('makes each attack raise, naming the attack and the step', async () => {
    const ce = attacks.crossEntropy(model(true), labels);
    const x = x01();
    await expect(attacks.checked(() => attacks.pgd(ce, x, key(0), { eps: 0.1, steps: 5 })))
      .rejects.toThrow(/^pgd: 20 gradient values of 20 are NaN or ±∞ \(the loss is NaN\) at step 1 of 5: the model or the loss gives non-finite values there/);
    await expect(attacks.checked(() => attacks.pgd(ce, x, key(0), { eps: 0.1, steps: 3, restarts: 2 }))).rejects.toThrow(/pgd: .* at step 1 of 3 \(restart 1 of 2\)/);
    await expect(attacks.checked(() => attacks.fgsm(ce, x, key(0), { eps: 0.1 }))).rejects.toThrow(/fgsm: .* at its step/);
    await expect(attacks.checked(() => attacks.apgd(ce, x, key(0), { eps: 0.1, steps: 4 }))).rejects.toThrow(/apgd: .* at the start point/);
    const nanFeatures = (xa: T) => wg.mul(xa, NaN);
    await expect(attacks.checked(() => attacks.representationDistance(nanFeatures, x, key(0), { eps: 0.1, steps: 2 }))).rejects.toThrow(/pgd: .* at step 1 of 2/);
    await expect(attacks.checked(() => attacks.latentAttack(wg.sum, x, key(0), { eps: 0.1, encode: nanFeatures, decode: (z) => z })))
      .rejects.toThrow(/latentAttack: .* at its latent step/);
    // A gradient that is NaN only in some entries is named by count.
    const partly = (xa: T) => wg.sum(wg.sqrt(wg.sub(xa, 0.5))); // √ of a negative: NaN where x < 0.5
    await expect(attacks.checked(() => attacks.pgd(partly, x, key(0), { eps: 0.01, steps: 1, randomStart: false })))
      .rejects.toThrow(/pgd: \d+ gradient values? of 20 (is|are) NaN or ±∞ \(the loss is NaN\) at step 1 of 1/);
  });

  it('makes robust accuracy raise (it passed for robust: PGD with a NaN gradient moved nothing)', async () => {
    const m = model(true);
    const data = { images: x01(), labels: wg.tensor(Int32Array.from(labels), { shape: [5] }) };
    const attack: evaluation.Attack = (x, y, k) => attacks.pgd(attacks.crossEntropy(m, y), x, k, { eps: 0.1, steps: 4 });
    await expect(evaluation.robustAccuracy(m, data, attack)).rejects.toThrow(/^pgd: 20 gradient values of 20 are NaN or ±∞ \(the loss is NaN\) at step 1 of 4/);
  });
});

describe('x must lie in the box', () => {
  it('standardized inputs under the default box [0, 1] are refused, not clipped (‖xAdv − x‖∞ was 2)', async () => {
    const m = model();
    const x = wg.tensor(Float32Array.from({ length: 20 }, (_, i) => -2 + (4 * i) / 19), { shape: [5, 4] }); // [−2, 2]
    const ce = attacks.crossEntropy(m, labels);
    const message = /pgd: x must lie in the box \[0, 1\] .*but x spans \[-2, 2\] \(15 of 20 values outside\); for inputs in another range .*pass box: null/;
    await expect(attacks.checked(() => attacks.pgd(ce, x, key(0), { eps: 0.05 }))).rejects.toThrow(message);
    await expect(attacks.checked(() => attacks.apgd(ce, x, key(0), { eps: 0.05, steps: 2 }))).rejects.toThrow(/apgd: x must lie in the box \[0, 1\]/);
    await expect(attacks.checked(() => attacks.fgsm(ce, x, key(0), { eps: 0.05, box: [-1, 1] }))).rejects.toThrow(/fgsm: x must lie in the box \[-1, 1\]/);
    const data = { images: x, labels: wg.tensor(Int32Array.from(labels), { shape: [5] }) };
    const attack: evaluation.Attack = (xx, y, k) => attacks.pgd(attacks.crossEntropy(m, y), xx, k, { eps: 0.05 });
    await expect(evaluation.robustAccuracy(m, data, attack)).rejects.toThrow(message);
    // With box: null the attack stays within ε of x.
    const xAdv = await attacks.checked(() => attacks.pgd(ce, x, key(0), { eps: 0.05, box: null }));
    expect(await wg.max(wg.abs(wg.sub(xAdv, x))).item()).toBeLessThanOrEqual(0.05 + 1e-6);
    // A non-finite x is named as such.
    const nanX = wg.tensor(Float32Array.from([NaN, 0.5, 0.5, 0.5]), { shape: [1, 4] });
    await expect(attacks.checked(() => attacks.pgd(attacks.crossEntropy(m, [0]), nanX, key(0), { box: null }))).rejects.toThrow(/pgd: x holds 1 non-finite value \(NaN or ±∞\) of 4/);
  });
});

describe('options in float32 terms', () => {
  it('ε, α and temperatures beyond what float32 arithmetic holds are refused (ε = 1e39 gave NaN images)', async () => {
    const ce = attacks.crossEntropy(model(), labels);
    const x = x01();
    const radius = /must be a finite number in \[−1\.0e\+18, 1\.0e\+18\], got 1e\+39/;
    expect(() => attacks.pgd(ce, x, key(0), { eps: 1e39 })).toThrow(new RegExp(`pgd: eps ${radius.source}`));
    expect(() => attacks.pgd(ce, x, key(0), { eps: 0.1, alpha: 1e39 })).toThrow(new RegExp(`pgd: alpha ${radius.source}`));
    expect(() => attacks.fgsm(ce, x, key(0), { eps: 1e39 })).toThrow(/fgsm: eps must be a finite number in/);
    expect(() => attacks.apgd(ce, x, key(0), { eps: 1e39 })).toThrow(/apgd: eps must be a finite number in/);
    expect(() => attacks.apgd(ce, x, key(0), { eps: 0.1, rho: 1e39 })).toThrow(/apgd: rho must be a finite number in/);
    expect(() => attacks.latentAttack(wg.sum, x, key(0), { eps: 1e39, encode: (t) => t, decode: (t) => t })).toThrow(/latentAttack: eps must be a finite number in/);
    expect(() => attacks.pgd(ce, x, key(0), { box: [0, 1e39] })).toThrow(/pgd: box\[1\] must be a finite number in the float32 range/);
    expect(() => attacks.instanceContrastive((t) => t, x, x, key(0), { temperature: 1e-39 })).toThrow(/instanceContrastive: temperature must be a number in \[1\.2e-38, 3\.4e38\]/);
    // The largest accepted ε still gives finite images (random start, 2ε, L2 sums of squares).
    for (const norm of ['linf', 'l2'] as const) {
      const xAdv = attacks.pgd(ce, x, key(0), { eps: 1e18, alpha: 1e18, steps: 2, norm, box: null });
      await expect(wg.sum(wg.abs(xAdv)).item()).resolves.toBeLessThan(Infinity);
    }
  });
});

describe('the checks themselves', () => {
  it('leak nothing when they pass, when they fail, and when the attack throws; outside a scope nothing is computed', async () => {
    const ce = attacks.crossEntropy(model(), labels);
    const nan = attacks.crossEntropy(model(true), labels);
    const x = x01();
    // Warm up: the first calls cache constants.
    (await attacks.checked(() => attacks.apgd(ce, x, key(0), { eps: 0.1, steps: 5 }))).dispose();
    attacks.pgd(ce, x, key(0), { steps: 3 }).dispose();
    const before = wg.memoryStats().tensors;
    const ok = await attacks.checked(() => attacks.apgd(ce, x, key(0), { eps: 0.1, steps: 5 }));
    ok.dispose();
    await expect(attacks.checked(() => attacks.apgd(nan, x, key(0), { eps: 0.1, steps: 5 }))).rejects.toThrow(/apgd/);
    await expect(attacks.checked(() => attacks.pgd(() => { throw new Error('boom'); }, x, key(0), { steps: 3 }))).rejects.toThrow(/boom/);
    const [plain, checks] = attacks.collectChecks(() => attacks.pgd(ce, x, key(0), { steps: 3 }));
    expect(checks.size).toBe(4); // x in the box, then one per step
    checks.dispose();
    plain.dispose();
    const unchecked = attacks.pgd(ce, x, key(0), { steps: 3 });
    expect(wg.memoryStats().tensors).toBe(before + 1);
    unchecked.dispose();
    expect(wg.memoryStats().tensors).toBe(before);
  });
});

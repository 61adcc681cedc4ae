/**
 * The walkthroughs of docs/walkthroughs.md end in these tests: each walkthrough's code lives in
 * examples/walkthrough-*.ts and is run here (CPU backend, tiny shapes), so a walkthrough cannot
 * drift from the library it teaches.
 *
 * A new SSL method as a record (examples/walkthrough-method.ts), with its property tests: the
 * adversarial view lies in the ε-ball and the box and raises NT-Xent against the anchor; the
 * record's flags are validated; a step is a pure function of its key; training runs through the
 * method registry.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { FGSM_VIEW, fgsmView, main, tinySetup } from '../examples/walkthrough-method.js';

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

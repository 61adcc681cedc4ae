/**
 * Issue 20's fidelity items for NT-Xent, RoCL, the robustness regularizer and IDAA, on the CPU
 * backend with tiny shapes:
 *   - NT-Xent's anchor-only similarity gradient (RoCL's `pairwise_similarity`) and RoCL's loss
 *     against a float64 PyTorch transcription of RoCL's loss.py (test/helpers/idaa_torch.py);
 *     RoCL's attack steps along the anchor-only gradient;
 *   - a batch of 1 (no negatives) is refused by NT-Xent and every NT-Xent step;
 *   - the regularizer: R = 0 at δ = 0 (f(x) and f(x + δ) under one normalization) and its
 *     scale-free option;
 *   - IDAA's VAE: architecture and loss against a PyTorch transcription of IDAA's vae.py and
 *     train_vae.py, the KL normalization, the optimizer, the convergence rule and training on
 *     augmented views; IDAA's step reports the perturbation's pixel-space size.
 * Without python3-torch the PyTorch cross-checks skip, except in CI (test/helpers/torch.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import { ntXent } from '../src/losses/contrastive.js';
import * as model from '../src/ssl/model.js';
import { simclrStep } from '../src/ssl/simclr.js';
import { roclAttack, roclObjective, roclStep, ROCL_DEFAULTS } from '../src/ssl/rocl.js';
import { IDAA_BRANCHES, idaaAttack, idaaStep } from '../src/ssl/idaa.js';
import { regularizerAttack, regularizerTerm, REGULARIZER_DEFAULTS } from '../src/ssl/regularizer.js';
import { evalEmbedding, twoViews, type SslState } from '../src/ssl/common.js';
import * as vae from '../src/ssl/vae.js';
import { requireTorch } from './helpers/torch.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

/** Deterministic pseudo-random host values in [−1, 1]. */
const values = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) % 1);
const randn = (shape: number[], seed: number) => wg.tensor(values(shape.reduce((a, b) => a * b, 1), seed), { shape });
const host = async (t: wg.Tensor) => Array.from((await t.data()) as ArrayLike<number>);

/** Runs test/helpers/idaa_torch.py on `payload`; returns its JSON answer. */
function runTorch<T>(py: string, payload: unknown): T {
  const dir = mkdtempSync(join(tmpdir(), 'idaa-torch-'));
  try {
    const file = join(dir, 'case.json');
    writeFileSync(file, JSON.stringify(payload));
    return JSON.parse(execFileSync(py, [fileURLToPath(new URL('./helpers/idaa_torch.py', import.meta.url)), file]).toString()) as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** |a − b| ≤ rtol·max(|b|, floor) elementwise, with the index in the message. */
function expectClose(a: number[], b: number[], rtol: number, what: string, floor = 1e-6): void {
  expect(a.length, what).toBe(b.length);
  const scale = Math.max(floor, ...b.map(Math.abs));
  a.forEach((v, i) => expect(Math.abs(v - b[i]), `${what}[${i}]: ${v} vs ${b[i]}`).toBeLessThanOrEqual(rtol * scale));
}

const SMALL: model.ModelConfig = { imageSize: 8, width: 2, featureDim: 8, projHidden: 8, projDim: 4 };
const AUGMENT = { crop: { scale: [0.5, 1] as [number, number] } };

/** A small model (IDAA's with its two BN branches), Adam, its state and a batch of `n` images. */
function setup(opts: { branches?: boolean; n?: number } = {}) {
  const { params, state } = model.init(wg.random.key(5), { ...SMALL, bnBranches: opts.branches ? IDAA_BRANCHES : undefined });
  const optimizer = wg.optim.adam({ lr: 0.02 });
  const st: SslState = { model: state, opt: optimizer.init(params) };
  return { params, st, optimizer, x: wg.random.uniform(wg.random.key(6), [opts.n ?? 6, 1, 8, 8]) };
}

describe("NT-Xent's similarity gradient: 'anchor' is RoCL's pairwise_similarity", () => {
  it('matches a float64 PyTorch transcription of RoCL loss.py (2 and 3 views, and RoCL\'s whole loss)', async (ctx) => {
    const py = requireTorch(ctx);
    const [a, b, adv] = [randn([4, 3], 1), randn([4, 3], 2), randn([4, 3], 3)];
    const lambda = 4;
    const ref = runTorch<Record<string, { loss: number; grads: number[][] }>>(py, {
      kind: 'ntxent', shape: [4, 3], views: await Promise.all([a, b, adv].map(host)), temperature: 0.5, lambda,
    });
    const cases: [string, (x: wg.Tensor, y: wg.Tensor, z: wg.Tensor) => wg.Tensor][] = [
      ['two anchor', (x, y) => ntXent([x, y], { gradient: 'anchor' })],
      ['two full', (x, y) => ntXent([x, y])],
      ['three anchor', (x, y, z) => ntXent([x, y, z], { positives: 'sum', gradient: 'anchor' })],
      ['rocl anchor', (x, y, z) => roclObjective(x, y, z, { lambda })[0]], // RoCL's default: 'anchor'
    ];
    for (const [name, f] of cases) {
      const [value, grads] = wg.valueAndGrad(f, { argnums: [0, 1, 2] })(a, b, adv);
      expect(await value.item(), name).toBeCloseTo(ref[name].loss, 5);
      for (let v = 0; v < 3; v++) expectClose(await host(grads[v]), ref[name].grads[v], 2e-5, `${name}: view ${v}`);
    }
    // The two gradients really differ (else the comparison above could not tell them apart).
    const g = (gradient: 'full' | 'anchor') => wg.grad((x: wg.Tensor) => ntXent([x, b], { gradient }))(a);
    expect(Math.max(...(await host(wg.abs(wg.sub(g('anchor'), g('full'))))))).toBeGreaterThan(1e-2);
    expect(ROCL_DEFAULTS.similarityGradient).toBe('anchor');
  });

  it("the instance-wise attack steps along the chosen gradient, and RoCL's attack uses 'anchor'", async () => {
    // An L2 step (g/‖g‖) shows the direction: the two gradients are nearly parallel here (full ≈ 2 × anchor,
    // the softmax denominators being alike), so their sign steps coincide.
    const w = randn([16, 5], 4);
    const f = (x: wg.Tensor) => wg.tanh(wg.matmul(wg.reshape(wg.sub(x, 0.5), [x.shape[0], 16]), wg.mul(w, 3)));
    const [a, b] = [wg.random.uniform(wg.random.key(7), [6, 1, 4, 4]), wg.random.uniform(wg.random.key(8), [6, 1, 4, 4])];
    const zb = wg.stopGradient(f(b));
    const step = async (gradient: 'full' | 'anchor') => {
      const g = wg.grad((x: wg.Tensor) => ntXent([f(x), zb], { gradient }))(a);
      return host(wg.attacks.projectAround(a, wg.add(a, wg.mul(wg.attacks.ascentDirection(g, 'l2'), 0.05)), 0.2, 'l2', [0, 1]));
    };
    const o = { eps: 0.2, alpha: 0.05, steps: 1, randomStart: false, norm: 'l2' as const };
    const attack = async (gradient?: 'full' | 'anchor') => host(wg.attacks.instanceContrastive(f, a, b, wg.random.key(1), { ...o, gradient }));
    expect(await attack('anchor')).toEqual(await step('anchor'));
    expect(await attack('full')).toEqual(await step('full'));
    expect(await attack()).toEqual(await step('full')); // the attack's own default
    expect(await step('anchor')).not.toEqual(await step('full'));
    // RoCL's attack is the instance-wise attack with RoCL's similarityGradient (default 'anchor').
    const { params, st } = setup();
    const [a8, b8] = [wg.random.uniform(wg.random.key(7), [6, 1, 8, 8]), wg.random.uniform(wg.random.key(8), [6, 1, 8, 8])];
    const linf = { eps: 0.05, alpha: 0.01, steps: 2, randomStart: false };
    const direct = wg.attacks.instanceContrastive(evalEmbedding(params, st.model), a8, b8, wg.random.key(1), { ...linf, gradient: 'anchor' });
    expect(await host(roclAttack(params, st.model, a8, b8, wg.random.key(1), linf))).toEqual(await host(direct));
  });

  it("refuses a gradient other than 'full' or 'anchor'", () => {
    expect(() => ntXent([randn([2, 3], 1), randn([2, 3], 2)], { gradient: 'left' as never })).toThrow(/ntXent: gradient must be 'full' or 'anchor', got "left"/);
  });
});

describe('a batch of 1 has no negatives: NT-Xent and its steps refuse it', () => {
  it('ntXent', () => {
    expect(() => ntXent([randn([1, 3], 1), randn([1, 3], 2)])).toThrow(/ntXent: NT-Xent needs N ≥ 2 samples .* got views of shape \[1, 3\]: a batch of 1 has no negatives/);
  });

  it('simclrStep, roclStep and idaaStep, before any attack runs', () => {
    const s = setup({ n: 1 });
    expect(() => simclrStep(s.params, s.st, s.x, wg.random.key(1), { optimizer: s.optimizer })).toThrow(/ssl\.simclrStep: .*got x of shape \[1, 1, 8, 8\]: a batch of 1 has no negatives/);
    expect(() => roclStep(s.params, s.st, s.x, wg.random.key(1), { optimizer: s.optimizer })).toThrow(/ssl\.roclStep: .*no negatives/);
    const b = setup({ n: 1, branches: true });
    const g = vae.init(wg.random.key(1), { imageSize: 8, width: 4, latent: 3 });
    expect(() => idaaStep(b.params, b.st, b.x, wg.random.key(1), { optimizer: b.optimizer, vae: g })).toThrow(/ssl\.idaaStep: .*no negatives/);
  });
});

describe('the robustness regularizer: f(x) and f(x + δ) under one normalization', () => {
  const reg = { weight: 1, eps: 0.1, steps: 2, box: [0, 1] as const };

  it('R = 0 exactly at δ = 0, raw and normalized', async () => {
    const { params, st, x } = setup();
    for (const normalize of [false, true]) {
      expect(await regularizerTerm(params, st.model, x, x, { ...reg, normalize }).value.item()).toBe(0);
    }
  });

  it("a step at a tiny ε reports R ≈ 0 (R is not the gap between two BN batches)", async () => {
    const { params, st, optimizer, x } = setup();
    const r = simclrStep(params, st, x, wg.random.key(3), { optimizer, augment: AUGMENT, regularizer: { ...reg, eps: 1e-6 } });
    expect(await r.parts.reg.item()).toBeLessThan(1e-8);
  });

  it('the step\'s R is regularizerTerm at the attack\'s point, and the attack raises R above its start', async () => {
    const { params, st, optimizer, x } = setup();
    const key = wg.random.key(4);
    const [kViews, kReg] = wg.random.split(key);
    const [a] = twoViews(kViews, x, AUGMENT);
    const xAdv = regularizerAttack(params, st.model, a, kReg, reg);
    const at = await regularizerTerm(params, st.model, a, xAdv, reg).value.item();
    const start = wg.attacks.randomStart(kReg, a, reg.eps, 'linf', reg.box); // PGD's start (one restart)
    expect(at).toBeGreaterThan(await regularizerTerm(params, st.model, a, start, reg).value.item());
    const r = simclrStep(params, st, x, key, { optimizer, augment: AUGMENT, regularizer: reg });
    expect(await r.parts.reg.item()).toBeCloseTo(at, 6);
  });

  it('normalize: R does not change when the features are scaled (the raw R scales by c²)', async () => {
    const { params, st, x } = setup();
    const xAdv = wg.clip(wg.add(x, wg.mul(wg.sign(randn([6, 1, 8, 8], 9)), 0.1)), 0, 1);
    // Scaling the last BN's scale and bias by c scales the (post-relu) features by c.
    const enc = params.encoder as { bn3: { scale: wg.Tensor; bias: wg.Tensor } };
    const scaled = { ...params, encoder: { ...enc, bn3: { scale: wg.mul(enc.bn3.scale, 3), bias: wg.mul(enc.bn3.bias, 3) } } };
    const r = async (p: model.ModelParams, normalize: boolean) => regularizerTerm(p, st.model, x, xAdv, { ...reg, normalize }).value.item();
    expect(await r(scaled, true)).toBeCloseTo(await r(params, true), 6);
    expect(await r(scaled, false)).toBeCloseTo(9 * (await r(params, false)), 4);
    expect(REGULARIZER_DEFAULTS.normalize).toBe(false);
  });
});

describe("IDAA's VAE after the official code", () => {
  const CFG = { imageSize: 8, width: 4, latent: 3, inChannels: 2, mean: [0.3, 0.6], std: [0.2, 0.4] };

  it('architecture and loss match a float64 PyTorch transcription of vae.py and train_vae.py (value and gradients)', async (ctx) => {
    const py = requireTorch(ctx);
    const { params, state } = vae.init(wg.random.key(1), CFG);
    const x = wg.random.uniform(wg.random.key(2), [3, 2, 8, 8]);
    const k = wg.random.key(3);
    const [[loss, aux], grads] = wg.valueAndGrad((p: vae.VaeParams) => vae.vaeLoss(p, state, x, k, { beta: 0.1 }), { hasAux: true })(params);
    const noise = wg.random.normal(k, [3, 3]); // the ε vaeLoss draws from its key
    const leaves = Object.fromEntries(await Promise.all(wg.treeLeaves(params).map(async ([p, v]) => [p, { shape: v.shape, data: await host(v) }] as const)));
    const ref = runTorch<{ loss: number; mse: number; kl: number; grads: Record<string, number[]> }>(py, {
      kind: 'vae', channels: 2, size: 8, width: 4, latent: 3, beta: 0.1, mean: CFG.mean, std: CFG.std,
      x: await host(x), xShape: x.shape, noise: await host(noise), params: leaves,
    });
    expect(await loss.item()).toBeCloseTo(ref.loss, 5);
    expect(await aux.mse.item()).toBeCloseTo(ref.mse, 5);
    expect(await aux.kl.item()).toBeCloseTo(ref.kl, 5);
    const ours = Object.fromEntries(await Promise.all(wg.treeLeaves(grads).map(async ([p, v]) => [p, await host(v)] as const)));
    expect(Object.keys(ours).sort()).toEqual(Object.keys(ref.grads).sort());
    // A conv bias followed by BN has a zero gradient: float32 leaves ~1e-10 there, so the floor is the largest gradient's.
    const largest = Math.max(...Object.values(ref.grads).flat().map(Math.abs));
    for (const [p, g] of Object.entries(ours)) expectClose(g, ref.grads[p], 1e-4, p, largest);
  });

  it('a VAE of the earlier architecture is refused with a clear error, not a TypeError deep inside', () => {
    const { params, state } = vae.init(wg.random.key(1), CFG);
    const { out: _out, ...dec } = params.dec;
    expect(() => vae.frozen({ ...params, dec } as never, state)).toThrow(/ssl\.vae: this VAE has the earlier architecture/);
    const { input: _input, ...rest } = state;
    expect(() => vae.frozen(params, rest as never)).toThrow(/earlier architecture/);
  });

  it("divides the KL by N·C·L (IDAA's code), or by N·C·H·W with klNormalization: 'input'", async () => {
    const { params, state } = vae.init(wg.random.key(1), CFG);
    const x = wg.random.uniform(wg.random.key(2), [3, 2, 8, 8]);
    const [{ mu, logVar }] = vae.encode(params, state, x, { training: true });
    const [m, lv] = [await host(mu), await host(logVar)];
    const total = m.reduce((s, v, i) => s - 0.5 * (1 + lv[i] - v * v - Math.exp(lv[i])), 0);
    const kl = async (o: vae.VaeLossOptions) => vae.vaeLoss(params, state, x, wg.random.key(3), o)[1].kl.item();
    expect(await kl({})).toBeCloseTo(total / (3 * 2 * 3), 5);
    expect(await kl({ klNormalization: 'input' })).toBeCloseTo(total / (3 * 2 * 8 * 8), 6);
    expect(vae.VAE_DEFAULTS).toEqual({ beta: 0.1, klNormalization: 'latent' });
  });
});

describe("IDAA's step reports the perturbation's size in pixel space", () => {
  it('advLinf and advL2 are the batch means of ‖xᵃᵈᵛ − xᵢ‖∞ and ‖xᵃᵈᵛ − xᵢ‖₂', async () => {
    const { params, st, optimizer, x } = setup({ branches: true });
    const g = vae.init(wg.random.key(1), { imageSize: 8, width: 4, latent: 3 });
    const opts = { optimizer, vae: g, augment: AUGMENT, eps: 0.3 };
    const key = wg.random.key(2);
    const [kViews, kAttack] = wg.random.split(key, 3);
    const [a] = twoViews(kViews, x, AUGMENT);
    const d = await host(wg.sub(idaaAttack(params, st.model, a, kAttack, opts), a));
    const rows = Array.from({ length: 6 }, (_, i) => d.slice(i * 64, (i + 1) * 64));
    const linf = rows.reduce((s, r) => s + Math.max(...r.map(Math.abs)), 0) / 6;
    const l2 = rows.reduce((s, r) => s + Math.hypot(...r), 0) / 6;
    const r = idaaStep(params, st, x, key, opts);
    expect(linf).toBeGreaterThan(0);
    expect(await r.parts.advLinf.item()).toBeCloseTo(linf, 6);
    expect(await r.parts.advL2.item()).toBeCloseTo(l2, 5);
  });
});

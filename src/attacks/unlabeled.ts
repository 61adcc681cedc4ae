/**
 * Attacks without labels, the building blocks of the adversarial self-supervised methods
 * (docs/methods.md#instance-wise-attack, #representation-distance-attack, #latent-attack):
 *
 *   instanceContrastive   RoCL's instance-wise attack: PGD (L∞, random start) maximizing
 *                         NT-Xent([z(xAdv); z(positive)]) — the positive of row n is row n of the
 *                         other view, the negatives are the rest of the batch. RoCL's values are the
 *                         defaults: ε = 8/255, α = 0.007, 7 steps, τ = 0.5. z(positive) is computed
 *                         once (a constant of the attack).
 *   representationDistance  PGD maximizing Σₙ ‖f(xₙ + δₙ) − f(xₙ)‖² (the inner max of the
 *                         robustness regularizer); f(x) is a constant. The gradient vanishes at
 *                         δ = 0, so the random start matters (on by default).
 *                         Both PGD attacks take pgd's options, an explicit `start: δ₀` included.
 *   latentAttack          IDAA's adversarial view through a decoder G: z = μ(x), R = sg(x − G(z)),
 *                         δ = ε·sign(∇_z L(G(z) + R)), xAdv = G(z + δ) + R. No projection in latent
 *                         space (|δ| = ε per coordinate). Computed as x + (G(z + δ) − G(z)) with
 *                         both decodings in one batched call, so that at ε = 0 it returns x bit for
 *                         bit. Clipped to the box (default [0, 1]; IDAA's code does not clip: pass
 *                         `box: null`). Deterministic: the key is accepted for the common signature.
 *
 * Run the networks in eval mode inside these closures (see `evalMode`), as RoCL does.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { stopGradient } from '../tensor/alias.js';
import { ntXent } from '../losses/contrastive.js';
import { add, mul, sign, sub } from '../tensor/ops/elementwise.js';
import { concat, slice } from '../tensor/ops/movement.js';
import { sum } from '../tensor/ops/reduce.js';
import type { Key } from '../random/random.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { type Box, checkBall, checkInBox, checkInput, checkTemperature, clipBox, evaluate, squaredDistance } from './common.js';
import { pgd, type PgdOptions } from './pgd.js';

/** An encoder (and head): inputs [N, ...] → features [N, ...]. */
export type Embedding = (x: Tensor) => Tensor;

/** Options of `instanceContrastive`: pgd's options and the NT-Xent temperature and gradient. */
export interface ContrastiveAttackOptions extends PgdOptions {
  /** NT-Xent temperature τ (default 0.5). */
  temperature?: number;
  /** NT-Xent's similarity gradient (default 'full'; RoCL's code: 'anchor'; losses/contrastive.ts). */
  gradient?: 'full' | 'anchor';
}

/** RoCL's instance-wise attack: PGD maximizing NT-Xent between embed(xAdv) and embed(positive) (see the module header). */
export function instanceContrastive(embed: Embedding, x: Tensor, positive: Tensor, key: Key, opts: ContrastiveAttackOptions = {}): Tensor {
  checkInput('instanceContrastive', x);
  if (positive.shape.join() !== x.shape.join()) {
    throw new WgradError('instanceContrastive', `the positive view must have x's shape ${fmtShape(x.shape)}, got ${fmtShape(positive.shape)}`);
  }
  const { temperature = 0.5, gradient, ...rest } = opts;
  checkTemperature('instanceContrastive', 'temperature', temperature);
  const zPos = tidy(() => stopGradient(embed(positive)));
  try {
    const loss = (xa: Tensor) => ntXent([embed(xa), zPos], { temperature, gradient });
    return pgd(loss, x, key, { eps: 8 / 255, alpha: 0.007, steps: 7, ...rest });
  } finally {
    zPos.dispose();
  }
}

/** PGD maximizing Σₙ ‖f(xₙ + δₙ) − f(xₙ)‖², the inner maximization of the robustness regularizer. */
export function representationDistance(f: Embedding, x: Tensor, key: Key, opts: PgdOptions = {}): Tensor {
  checkInput('representationDistance', x);
  const fx = tidy(() => stopGradient(f(x)));
  try {
    const loss = (xa: Tensor) => {
      const fa = f(xa);
      if (fa.shape.join() !== fx.shape.join()) throw new WgradError('representationDistance', `f changed its output shape: ${fmtShape(fx.shape)} vs ${fmtShape(fa.shape)}`);
      const perExample = squaredDistance(fa, fx);
      return { loss: sum(perExample), perExample };
    };
    return pgd(loss, x, key, opts);
  } finally {
    fx.dispose();
  }
}

/** Options of `latentAttack`: the latent step ε, the encoder and decoder, and the box. */
export interface LatentAttackOptions {
  /** Step size in latent space (≥ 0; IDAA's README: 0.1). */
  eps: number;
  /** x → latent code (the VAE encoder's mean μ, in eval mode). */
  encode: (x: Tensor) => Tensor;
  /** z → reconstruction with x's shape (the VAE decoder). */
  decode: (z: Tensor) => Tensor;
  /** Default [0, 1]; null keeps G(z + δ) + R unclipped (IDAA's code). */
  box?: Box;
}

/** `loss(view)` is the scalar to maximize, e.g. NT-Xent between enc(x) and enc(view). */
export function latentAttack(loss: (view: Tensor) => Tensor, x: Tensor, _key: Key, opts: LatentAttackOptions): Tensor {
  checkInput('latentAttack', x);
  const { eps, box } = checkBall('latentAttack', { eps: opts.eps, box: opts.box });
  checkInBox('latentAttack', x, box);
  const n = x.shape[0];
  return tidy(() => {
    const z = stopGradient(opts.encode(x));
    const gz = stopGradient(opts.decode(z));
    if (gz.shape.join() !== x.shape.join()) {
      throw new WgradError('latentAttack', `decode(encode(x)) must have x's shape ${fmtShape(x.shape)}, got ${fmtShape(gz.shape)}`);
    }
    // The view G(z') + R with R = sg(x − G(z)), written x + (G(z') − sg(G(z))): equal to x at z' = z.
    const { grad } = evaluate('latentAttack', (zz) => loss(add(x, sub(opts.decode(zz), gz))), z, 'its latent step');
    const shifted = add(z, mul(sign(grad), eps));
    // Decode z and z + δ in one call, so at δ = 0 both halves are computed identically.
    const both = opts.decode(concat([z, shifted], 0));
    const change = sub(slice(both, [{ start: n, stop: 2 * n }]), slice(both, [{ start: 0, stop: n }]));
    return clipBox(add(x, change), box);
  });
}

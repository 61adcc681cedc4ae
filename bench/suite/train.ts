/**
 * Whole training steps, the same math on both sides: forward, reverse-mode gradients, plain SGD.
 *
 *  wgrad:  the library's own pieces: `wg.valueAndGrad(loss)` over a parameter pytree, layers from
 *          `wg.nn` (mlp, smallCnn, conv2d, linear), losses from `wg.losses` (softmaxCrossEntropy,
 *          ntXent), and `wg.optim.sgd` + `wg.optim.applyUpdates`, the step in `wg.tidy`.
 *  TF.js:  `tf.variableGrads` over tf.Variables, then `v.assign(v − lr·g)` in `tf.tidy` (what
 *          tf.train.sgd does).
 *  jax-js: a pure step function (valueAndGrad over the parameter list, SGD with its `.ref`
 *          ownership; train-jax.ts), whole under `jax.jit` for the jit peers.
 *
 * Both start from the same host-generated weights and data (converted to each library's layout),
 * so the cross-check compares the losses of the first two steps (the second one depends on the
 * first update being right).
 *
 * Models (the CPU ceiling in bench/ceiling/torch_steps.py builds the same ones):
 *  - mlp:    784 → 512 → 256 → 10, ReLU, softmax cross-entropy.
 *  - cnn:    conv 1→32 3×3 (pad 1), ReLU, maxpool 2, conv 32→64 3×3, ReLU, maxpool 2,
 *            FC 3136→128, ReLU, FC 128→10; input 28×28×1.
 *  - simclr: encoder conv 3→16 3×3, ReLU, pool 2, conv 16→32 3×3, ReLU, pool 2, FC 2048→128, ReLU;
 *            projection head FC 128→128, ReLU, FC 128→64; input 32×32×3. Two views
 *            clip(x + noise, 0, 1) with fixed host-drawn Gaussian noise (σ = 0.1); NT-Xent, τ = 0.5.
 *  - rocl:   SimCLR plus an instance-wise PGD attack before the update: 7 steps of
 *            x_adv ← clip(x_adv + α·sign(∇ NT-Xent(f(x_adv), f(view2))), view1 ± ε, [0, 1]),
 *            ε = 8/255, α = 0.007, random start in the ε-ball; then the loss
 *            NT-Xent(view1, view2) + NT-Xent(x_adv, view2) is minimized.
 */
import type { RowSpec, SideImpl } from '../harness.js';
import type { Tensor } from '../../src/node.js';
import type * as TFNS from '@tensorflow/tfjs-core';
import { type Ctx, needJax, needTf, needWg } from './context.js';
import { cnnLogits, jaxTrainer, mlpLogits, ntXent as jaxNtXent, sgdStep, sslEncoder, xent as jaxXent } from './train-jax.js';
import type { Array as JaxArray } from '@jax-js/jax';
import { flattenRowsChwToHwc, he, labels, nchwToNhwc, normal, oihwToHwio, oneHot, uniform } from './data.js';
import type { TfHandle, WG } from '../gpu.js';
import type { JaxModule } from '../peers.js';
import type { JaxStep } from './train-jax.js';
import { TFJS_WASM_NO_CONV_GRAD } from './ops.js';

type TfT = TFNS.Tensor;

export const TAU = 0.5;
export const EPS = 8 / 255;
export const ALPHA = 0.007;
export const ATTACK_STEPS = 7;

// ---------------------------------------------------------------- parameters (host)

interface ParamDef {
  /** wgrad shape and data. */
  shape: number[];
  data: Float32Array;
  /** TF.js shape and data (layout-converted). */
  tfShape: number[];
  tfData: Float32Array;
}

function convParam(o: number, i: number, k: number, seed: number): ParamDef[] {
  const w = he(o * i * k * k, i * k * k, seed);
  return [
    { shape: [o, i, k, k], data: w, tfShape: [k, k, i, o], tfData: oihwToHwio(w, o, i, k, k) },
    { shape: [o], data: new Float32Array(o), tfShape: [o], tfData: new Float32Array(o) },
  ];
}

function denseParam(i: number, o: number, seed: number, flatten?: [number, number, number]): ParamDef[] {
  const w = he(i * o, i, seed);
  const tfW = flatten ? flattenRowsChwToHwc(w, flatten[0], flatten[1], flatten[2], o) : w;
  return [
    { shape: [i, o], data: w, tfShape: [i, o], tfData: tfW },
    { shape: [o], data: new Float32Array(o), tfShape: [o], tfData: new Float32Array(o) },
  ];
}

// ---------------------------------------------------------------- generic SGD steppers

/**
 * A wgrad SGD trainer over the pytree `build(tensors)` (tensors in `defs` order). `prepare` runs
 * before the gradient, outside its trace (the views; the RoCL attack), and returns extra inputs.
 * With `jit` the whole step (prepare, gradient, update) runs under `wg.jit` (suite/train-jit.ts):
 * the optimizer's step count is on the device, so every step after the first is a replay.
 */
async function wgTrainer<P>(wg: WG, defs: ParamDef[], build: (t: Tensor[]) => P, consts: Tensor[], lr: number,
  loss: (p: P, extra: Tensor[]) => Tensor, prepare?: (p: P) => Tensor[], jit = false): Promise<SideImpl> {
  const stats = await runtimeStats();
  let params = build(defs.map((d) => wg.tensor(d.data, { shape: d.shape })));
  const opt = wg.optim.sgd({ lr });
  let state: unknown = opt.init(params);
  const vg = wg.valueAndGrad((p: P, extra: Tensor[]) => loss(p, extra));
  const body = (p: P, s: unknown) => {
    const extra = prepare ? prepare(p) : [];
    const [l, g] = vg(p, extra);
    const [updates, next] = opt.update(g, s as never, p);
    return [l, wg.optim.applyUpdates(p, updates), next] as const;
  };
  const run = jit ? wg.jit(body) : (p: P, s: unknown) => wg.tidy(() => body(p, s));
  const step = (): Tensor => {
    const [value, next, nextState] = run(params, state);
    wg.dispose(params);
    wg.dispose(state);
    params = next as P;
    state = nextState;
    return value;
  };
  return {
    async run() {
      const l = step();
      await wg.sync();
      l.dispose();
    },
    async check() {
      const out: number[] = [];
      for (let i = 0; i < 2; i++) {
        const l = step();
        out.push(await l.item());
        l.dispose();
      }
      return out;
    },
    // Host time: the step's JavaScript (trace, fuse, encode, the submits of full batches) and the
    // synchronous start of wg.sync() (realizing what is pending, the last submit), apart from the
    // wait for the device that follows.
    host: stats && (async () => {
      const d0 = stats.dispatches, s0 = stats.submits;
      const t0 = performance.now();
      const l = step();
      const done = wg.sync();
      const t1 = performance.now();
      await done;
      const t2 = performance.now();
      l.dispose();
      return { hostMs: t1 - t0, waitMs: t2 - t1, dispatches: stats.dispatches - d0, submits: stats.submits - s0 };
    }),
    dispose() {
      wg.dispose(params);
      wg.dispose(state);
      wg.dispose(consts);
    },
  };
}

/** The WebGPU runtime's counters (dispatches, submits), read-only; undefined on the CPU backend. */
async function runtimeStats(): Promise<{ dispatches: number; submits: number } | undefined> {
  // Imported here, like wgrad itself (gpu.ts), so that the suite loads where wgrad cannot.
  const engine = await import('../../src/tensor/engine.js');
  return (engine.backend() as unknown as { runtime?: { stats?: { dispatches: number; submits: number } } }).runtime?.stats;
}

let varCounter = 0;

/** The TF.js SGD trainer: tf.variableGrads + assign. */
function tfTrainer(h: TfHandle, defs: ParamDef[], consts: TfT[], lr: number,
  loss: (p: TfT[], extra: TfT[]) => TFNS.Scalar, prepare?: (p: TfT[]) => TfT[]): SideImpl {
  const { tf } = h;
  const vars = defs.map((d) => tf.variable(tf.tensor(d.tfData, d.tfShape), true, `bench_v${varCounter++}`));
  const step = (): TfT =>
    tf.tidy(() => {
      const extra = prepare ? prepare(vars) : [];
      const { value, grads } = tf.variableGrads(() => loss(vars, extra), vars);
      for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name], lr)));
      return value;
    });
  return {
    async run() {
      const l = step();
      await h.sync();
      l.dispose();
    },
    async check() {
      const out: number[] = [];
      for (let i = 0; i < 2; i++) {
        const l = step();
        out.push((await l.data())[0]);
        l.dispose();
      }
      return out;
    },
    dispose() {
      tf.dispose(vars);
      tf.dispose(consts);
    },
  };
}

// ---------------------------------------------------------------- losses, shared pieces

const tfXent = (tf: TfHandle['tf'], logits: TfT, y1h: TfT) => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits, -1), y1h), -1))) as TFNS.Scalar;

/** NT-Xent constants for 2n rows: −1e9 on the diagonal (masks self-similarity), and the positive-pair selector. */
function ntxentConsts(n: number): { negEye: Float32Array; pos: Float32Array } {
  const m = 2 * n;
  const negEye = new Float32Array(m * m), pos = new Float32Array(m * m);
  for (let i = 0; i < m; i++) {
    negEye[i * m + i] = -1e9;
    pos[i * m + ((i + n) % m)] = 1;
  }
  return { negEye, pos };
}

/** NT-Xent of z = [z1; z2] (2n × d): mean over rows of logsumexp_{j≠i}(s_ij) − s_i,pos(i), s = cos/τ (wg.losses.ntXent's math for 2 views). */
function tfNtxent(tf: TfHandle['tf'], z: TfT, negEye: TfT, pos: TfT): TFNS.Scalar {
  const norm = tf.sqrt(tf.sum(tf.mul(z, z), -1, true));
  const zn = tf.div(z, tf.maximum(norm, 1e-12));
  const sim = tf.add(tf.mul(tf.matMul(zn, zn, false, true), 1 / TAU), negEye);
  return tf.mean(tf.sub(tf.logSumExp(sim, -1), tf.sum(tf.mul(sim, pos), -1))) as TFNS.Scalar;
}

// ---------------------------------------------------------------- MLP

function mlpRow(ctx: Ctx, batch: number): RowSpec {
  const sizes = [784, 512, 256, 10];
  const defs = sizes.slice(0, -1).flatMap((s, i) => denseParam(s, sizes[i + 1], 100 + i));
  const x = uniform(batch * 784, 1, 0, 1), y = labels(batch, 10, 2), y1h = oneHot(y, 10);
  const lr = 0.05;
  const flops = 6 * batch * (784 * 512 + 512 * 256 + 256 * 10);
  return {
    group: 'train', id: 'train.mlp', name: 'training step: MLP', shape: `784-512-256-10, batch ${batch}`,
    metric: 'steps/s', work: 1, batch, tol: 1e-3, checkRuns: 2, note: `≈${(flops / 1e9).toFixed(2)} GFLOP per step`,
    wgrad: async () => {
      const wg = needWg(ctx);
      const X = wg.tensor(x, { shape: [batch, 784] }), Y = wg.tensor(y);
      const build = (t: Tensor[]) => ({ layers: [0, 1, 2].map((i) => ({ w: t[2 * i], b: t[2 * i + 1] })) });
      return wgTrainer(wg, defs, build, [X, Y], lr, (p) => wg.losses.softmaxCrossEntropy(wg.nn.mlp.apply(p, X), Y), undefined, ctx.jit);
    },
    tfjs: async () => {
      const h = needTf(ctx);
      const { tf } = h;
      const X = tf.tensor2d(x, [batch, 784]), Y = tf.tensor2d(y1h, [batch, 10]);
      return tfTrainer(h, defs, [X, Y], lr, (p) => {
        let hdn: TfT = X;
        for (let i = 0; i < 3; i++) {
          hdn = tf.add(tf.matMul(hdn, p[2 * i]), p[2 * i + 1]);
          if (i < 2) hdn = tf.relu(hdn);
        }
        return tfXent(tf, hdn, Y);
      });
    },
    jax: async () => {
      const h = needJax(ctx);
      const { jax } = h, np = jax.numpy;
      const data = [np.array(x).reshape([batch, 784]), np.array(y1h).reshape([batch, 10])];
      return jaxTrainer(h, defs, data, lr, sgdStep(jax, lr, (p, X, Y) => jaxXent(jax, mlpLogits(jax, p, X), Y)));
    },
  };
}

// ---------------------------------------------------------------- small CNN

function cnnRow(ctx: Ctx, batch: number): RowSpec {
  const defs = [...convParam(32, 1, 3, 200), ...convParam(64, 32, 3, 201), ...denseParam(3136, 128, 202, [64, 7, 7]), ...denseParam(128, 10, 203)];
  const x = uniform(batch * 784, 3, 0, 1), y = labels(batch, 10, 4), y1h = oneHot(y, 10);
  const xTf = nchwToNhwc(x, batch, 1, 28, 28);
  const lr = 0.05;
  return {
    group: 'train', id: 'train.cnn', name: 'training step: small CNN',
    shape: `conv 1→32, pool, conv 32→64, pool, FC 3136→128→10; batch ${batch}`,
    metric: 'steps/s', work: 1, batch, tol: 1e-3, maxRepeats: 5, checkRuns: 2,
    wgrad: async () => {
      const wg = needWg(ctx);
      const X = wg.tensor(x, { shape: [batch, 1, 28, 28] }), Y = wg.tensor(y);
      const build = (t: Tensor[]) => ({ conv1: { w: t[0], b: t[1] }, conv2: { w: t[2], b: t[3] }, fc1: { w: t[4], b: t[5] }, fc2: { w: t[6], b: t[7] } });
      return wgTrainer(wg, defs, build, [X, Y], lr, (p) => wg.losses.softmaxCrossEntropy(wg.nn.smallCnn.apply(p, X), Y), undefined, ctx.jit);
    },
    tfjs: async () => {
      const h = needTf(ctx);
      const { tf } = h;
      const X = tf.tensor4d(xTf, [batch, 28, 28, 1]), Y = tf.tensor2d(y1h, [batch, 10]);
      return tfTrainer(h, defs, [X, Y], lr, (p) => {
        let hdn: TfT = tf.maxPool(tf.relu(tf.add(tf.conv2d(X, p[0] as TFNS.Tensor4D, 1, 1), p[1])) as TFNS.Tensor4D, 2, 2, 'valid');
        hdn = tf.maxPool(tf.relu(tf.add(tf.conv2d(hdn as TFNS.Tensor4D, p[2] as TFNS.Tensor4D, 1, 1), p[3])) as TFNS.Tensor4D, 2, 2, 'valid');
        hdn = tf.reshape(hdn, [batch, 3136]);
        hdn = tf.relu(tf.add(tf.matMul(hdn, p[4]), p[5]));
        return tfXent(tf, tf.add(tf.matMul(hdn, p[6]), p[7]), Y);
      });
    },
    jax: async () => {
      const h = needJax(ctx);
      const { jax } = h, np = jax.numpy;
      const data = [np.array(x).reshape([batch, 1, 28, 28]), np.array(y1h).reshape([batch, 10])];
      return jaxTrainer(h, defs, data, lr, sgdStep(jax, lr, (p, X, Y) => jaxXent(jax, cnnLogits(jax, p, X), Y)));
    },
    cannot: { 'tfjs-wasm': TFJS_WASM_NO_CONV_GRAD },
  };
}

// ---------------------------------------------------------------- SimCLR and RoCL

function sslDefs(): ParamDef[] {
  return [
    ...convParam(16, 3, 3, 300), ...convParam(32, 16, 3, 301),
    ...denseParam(2048, 128, 302, [32, 8, 8]), ...denseParam(128, 128, 303), ...denseParam(128, 64, 304),
  ];
}

type SslParams = { conv1: { w: Tensor; b: Tensor }; conv2: { w: Tensor; b: Tensor }; fc: { w: Tensor; b: Tensor }; head1: { w: Tensor; b: Tensor }; head2: { w: Tensor; b: Tensor } };
const sslBuild = (t: Tensor[]): SslParams => ({
  conv1: { w: t[0], b: t[1] }, conv2: { w: t[2], b: t[3] }, fc: { w: t[4], b: t[5] }, head1: { w: t[6], b: t[7] }, head2: { w: t[8], b: t[9] },
});

function wgEncoder(wg: WG, p: SslParams, x: Tensor): Tensor {
  const { nn } = wg;
  const n = x.shape[0];
  let hdn = nn.maxPool2d(nn.relu(nn.conv2d.apply(p.conv1, x, { padding: 1 })), { kernel: 2 });
  hdn = nn.maxPool2d(nn.relu(nn.conv2d.apply(p.conv2, hdn, { padding: 1 })), { kernel: 2 });
  hdn = nn.relu(nn.linear.apply(p.fc, wg.reshape(hdn, [n, 2048])));
  hdn = nn.relu(nn.linear.apply(p.head1, hdn));
  return nn.linear.apply(p.head2, hdn);
}

function tfEncoder(tf: TfHandle['tf'], p: TfT[], x: TfT): TfT {
  const n = x.shape[0];
  let hdn: TfT = tf.maxPool(tf.relu(tf.add(tf.conv2d(x as TFNS.Tensor4D, p[0] as TFNS.Tensor4D, 1, 1), p[1])) as TFNS.Tensor4D, 2, 2, 'valid');
  hdn = tf.maxPool(tf.relu(tf.add(tf.conv2d(hdn as TFNS.Tensor4D, p[2] as TFNS.Tensor4D, 1, 1), p[3])) as TFNS.Tensor4D, 2, 2, 'valid');
  hdn = tf.relu(tf.add(tf.matMul(tf.reshape(hdn, [n, 2048]), p[4]), p[5]));
  hdn = tf.relu(tf.add(tf.matMul(hdn, p[6]), p[7]));
  return tf.add(tf.matMul(hdn, p[8]), p[9]);
}

function sslRow(ctx: Ctx, kind: 'simclr' | 'rocl', b: number): RowSpec {
  const defs = sslDefs();
  const px = b * 3 * 32 * 32;
  const x = uniform(px, 5, 0, 1), n1 = normal(px, 6, 0.1), n2 = normal(px, 7, 0.1), d0 = uniform(px, 8, -EPS, EPS);
  const toTf = (a: Float32Array) => nchwToNhwc(a, b, 3, 32, 32);
  const { negEye, pos } = ntxentConsts(b);
  const lr = 0.05;
  const rocl = kind === 'rocl';
  return {
    group: 'train', id: `train.${kind}`, name: rocl ? 'training step: RoCL (7-step PGD)' : 'training step: SimCLR',
    shape: `conv encoder 3→16→32, FC 2048→128, head 128→128→64; ${b} images × 2 views${rocl ? ' + adversarial view' : ''}`,
    metric: 'steps/s', work: 1, batch: b, tol: rocl ? 2e-2 : 1e-3, maxRepeats: 5, checkRuns: 2,
    note: rocl ? `ε = 8/255, α = ${ALPHA}, ${ATTACK_STEPS} sign-gradient steps on NT-Xent (τ = ${TAU})` : `NT-Xent, τ = ${TAU}; noise views`,
    wgrad: async () => {
      const wg = needWg(ctx);
      const shape = [b, 3, 32, 32];
      const X = wg.tensor(x, { shape }), N1 = wg.tensor(n1, { shape }), N2 = wg.tensor(n2, { shape }), D0 = wg.tensor(d0, { shape });
      const views = () => [wg.clip(wg.add(X, N1), 0, 1), wg.clip(wg.add(X, N2), 0, 1)];
      const ntXent = (a: Tensor, c: Tensor) => wg.losses.ntXent([a, c], { temperature: TAU });
      const attackGrad = wg.grad((xa: Tensor, p: SslParams, z2: Tensor) => ntXent(wgEncoder(wg, p, xa), z2));
      const prepare = (p: SslParams): Tensor[] => {
        const [v1, v2] = views();
        if (!rocl) return [v1, v2];
        const z2 = wgEncoder(wg, p, v2);
        const lo = wg.maximum(wg.sub(v1, EPS), 0), hi = wg.minimum(wg.add(v1, EPS), 1);
        let xa = wg.minimum(wg.maximum(wg.add(v1, D0), lo), hi);
        for (let s = 0; s < ATTACK_STEPS; s++) {
          const g = attackGrad(xa, p, z2);
          xa = wg.minimum(wg.maximum(wg.add(xa, wg.mul(wg.sign(g), ALPHA)), lo), hi);
        }
        return [v1, v2, xa];
      };
      return wgTrainer(wg, defs, sslBuild, [X, N1, N2, D0], lr, (p, [v1, v2, xadv]) => {
        const z = wgEncoder(wg, p, wg.concat([v1, v2], 0));
        const z1 = wg.slice(z, [{ stop: b }]), z2 = wg.slice(z, [{ start: b }]);
        const loss = ntXent(z1, z2);
        if (!rocl) return loss;
        return wg.add(loss, ntXent(wgEncoder(wg, p, xadv), z2));
      }, prepare, ctx.jit);
    },
    tfjs: async () => {
      const h = needTf(ctx);
      const { tf } = h;
      const shape: [number, number, number, number] = [b, 32, 32, 3];
      const X = tf.tensor4d(toTf(x), shape), N1 = tf.tensor4d(toTf(n1), shape), N2 = tf.tensor4d(toTf(n2), shape), D0 = tf.tensor4d(toTf(d0), shape);
      const NE = tf.tensor2d(negEye, [2 * b, 2 * b]), P = tf.tensor2d(pos, [2 * b, 2 * b]);
      const views = () => [tf.clipByValue(tf.add(X, N1), 0, 1), tf.clipByValue(tf.add(X, N2), 0, 1)];
      const prepare = (p: TfT[]): TfT[] => {
        const [v1, v2] = views();
        if (!rocl) return [v1, v2];
        const z2 = tfEncoder(tf, p, v2);
        const attackGrad = tf.grad((xa: TfT) => tfNtxent(tf, tf.concat([tfEncoder(tf, p, xa), z2], 0), NE, P));
        const lo = tf.maximum(tf.sub(v1, EPS), 0), hi = tf.minimum(tf.add(v1, EPS), 1);
        let xa = tf.minimum(tf.maximum(tf.add(v1, D0), lo), hi);
        for (let s = 0; s < ATTACK_STEPS; s++) {
          const g = attackGrad(xa);
          xa = tf.minimum(tf.maximum(tf.add(xa, tf.mul(tf.sign(g), ALPHA)), lo), hi);
        }
        return [v1, v2, xa];
      };
      return tfTrainer(h, defs, [X, N1, N2, D0, NE, P], lr, (p, [v1, v2, xadv]) => {
        const z = tfEncoder(tf, p, tf.concat([v1, v2], 0));
        const loss = tfNtxent(tf, z, NE, P);
        if (!rocl) return loss;
        const za = tfEncoder(tf, p, xadv);
        const z2 = tf.slice(z, [b, 0], [b, -1]);
        return tf.add(loss, tfNtxent(tf, tf.concat([za, z2], 0), NE, P)) as TFNS.Scalar;
      }, prepare);
    },
    jax: async () => {
      const h = needJax(ctx);
      const np = h.jax.numpy, shape = [b, 3, 32, 32], m = 2 * b;
      const data = [x, n1, n2, ...(rocl ? [d0] : [])].map((a) => np.array(a).reshape(shape));
      data.push(np.array(negEye).reshape([m, m]), np.array(pos).reshape([m, m]));
      return jaxTrainer(h, defs, data, lr, jaxSslStep(h.jax, rocl, b, lr));
    },
    cannot: { 'tfjs-wasm': TFJS_WASM_NO_CONV_GRAD },
  };
}

/**
 * The SimCLR / RoCL step in jax-js: views and (RoCL) the PGD attack outside the gradient of the
 * parameters, then SGD on NT-Xent(v1, v2) [+ NT-Xent(x_adv, v2)]. Data: x, noise 1, noise 2,
 * [the attack's random start], the NT-Xent masks.
 */
function jaxSslStep(jax: JaxModule, rocl: boolean, b: number, lr: number): JaxStep {
  const np = jax.numpy, ref = jax.tree.ref;
  const nt = (z: JaxArray, ne: JaxArray, ps: JaxArray) => jaxNtXent(jax, z, ne, ps, TAU);
  const loss = (p: JaxArray[], v1: JaxArray, v2: JaxArray, ne: JaxArray, ps: JaxArray, xa?: JaxArray) => {
    const z = sslEncoder(jax, rocl ? ref(p) : p, np.concatenate([v1, v2], 0));
    if (!xa) return nt(z, ne, ps);
    const z2 = z.ref.slice([b, 2 * b]);
    const clean = nt(z, ne.ref, ps.ref);
    return clean.add(nt(np.concatenate([sslEncoder(jax, p, xa), z2], 0), ne, ps));
  };
  const sgd = sgdStep(jax, lr, loss as (p: JaxArray[], ...d: JaxArray[]) => JaxArray);
  const attackGrad = jax.grad((xa: JaxArray, p: JaxArray[], z2: JaxArray, ne: JaxArray, ps: JaxArray) =>
    nt(np.concatenate([sslEncoder(jax, p, xa), z2], 0), ne, ps));
  return (p, ...data) => {
    const [X, N1, N2] = data, [ne, ps] = data.slice(-2);
    const v1 = np.clip(X.ref.add(N1), 0, 1), v2 = np.clip(X.add(N2), 0, 1);
    if (!rocl) return sgd(p, v1, v2, ne, ps);
    const z2 = sslEncoder(jax, ref(p), v2.ref);
    const lo = np.maximum(v1.ref.sub(EPS), 0), hi = np.minimum(v1.ref.add(EPS), 1);
    let xa = np.minimum(np.maximum(v1.ref.add(data[3]), lo.ref), hi.ref);
    for (let s = 0; s < ATTACK_STEPS; s++) {
      const g = attackGrad(xa.ref, ref(p), z2.ref, ne.ref, ps.ref);
      xa = np.minimum(np.maximum(xa.add(np.sign(g).mul(ALPHA)), lo.ref), hi.ref);
    }
    jax.tree.dispose([lo, hi, z2]);
    return sgd(p, v1, v2, ne, ps, xa);
  };
}

export function trainRows(ctx: Ctx): RowSpec[] {
  return [
    mlpRow(ctx, ctx.trainBatch ?? 256),
    // The target shape is batch 256; --quick uses 64.
    cnnRow(ctx, ctx.trainBatch ?? (ctx.quick ? 64 : 256)),
    sslRow(ctx, 'simclr', ctx.trainBatch ?? (ctx.quick ? 16 : 32)),
    sslRow(ctx, 'rocl', ctx.trainBatch ?? (ctx.quick ? 16 : 32)),
  ];
}

/** What the PyTorch ceiling script needs to build the same steps. */
export function torchTasks(ctx: Ctx): { id: string; model: string; batch: number }[] {
  return trainRows(ctx).map((r) => ({ id: r.id, model: r.id.split('.')[1], batch: r.batch! }));
}

/**
 * The training steps of train.ts in jax-js's idiom: a pure step function
 * `(params, ...data) => [loss, newParams]` (valueAndGrad over the parameter pytree, then plain SGD
 * with `tree.map`), which consumes its arguments (jax-js's `.ref` ownership) and is wrapped whole in
 * `jax.jit` for the jit peers. Layouts are wgrad's (NCHW, OIHW, dense weights [in, out]), so the
 * parameters are the same host numbers.
 */
import type { Array as JaxArray } from '@jax-js/jax';
import type { SideImpl } from '../harness.js';
import type { JaxHandle, JaxModule } from '../peers.js';

type Params = JaxArray[];
/** One SGD step: consumes params and data, returns the loss and the new params. */
export type JaxStep = (params: Params, ...data: JaxArray[]) => [JaxArray, Params];

/** A jax-js SGD trainer: `loss(params, ...data)` → scalar; the step runs under jit when the peer says so. */
export function jaxTrainer(h: JaxHandle, init: { shape: number[]; data: Float32Array }[], data: JaxArray[], lr: number,
  step: JaxStep): SideImpl {
  const { jax } = h;
  let params: Params = init.map((d) => jax.numpy.array(d.data).reshape(d.shape));
  const jitted = h.jit ? jax.jit(step) : undefined;
  const fn = jitted ?? step;
  const once = (): JaxArray => {
    const [l, next] = fn(params, ...data.map((d) => d.ref));
    params = next;
    return l;
  };
  return {
    async run() {
      const l = once();
      await jax.blockUntilReady([l, params]);
      l.dispose();
    },
    async check() {
      const out: number[] = [];
      for (let i = 0; i < 2; i++) out.push((await once().data())[0]);
      return out;
    },
    dispose() {
      jax.tree.dispose(params);
      jax.tree.dispose(data);
      jitted?.dispose();
    },
  };
}

/** The step `loss` → [loss, params − lr·grad], consuming params and data. */
export function sgdStep(jax: JaxModule, lr: number, loss: (p: Params, ...data: JaxArray[]) => JaxArray): JaxStep {
  const vg = jax.valueAndGrad(loss);
  return (p, ...data) => {
    const [l, g] = vg(jax.tree.ref(p), ...data);
    return [l, p.map((w, i) => w.sub(g[i].mul(lr)))];
  };
}

/** Softmax cross-entropy with one-hot labels: −mean(Σ y·log softmax(logits)). */
export function xent(jax: JaxModule, logits: JaxArray, y1h: JaxArray): JaxArray {
  return jax.nn.logSoftmax(logits, -1).mul(y1h).sum(-1).mean().neg();
}

/** Dense layer x·w + b. */
const dense = (jax: JaxModule, x: JaxArray, w: JaxArray, b: JaxArray) => jax.numpy.matmul(x, w).add(b);

/** Conv (3×3, pad 1) + bias + ReLU + 2×2 max pool, NCHW. */
function convBlock(jax: JaxModule, x: JaxArray, w: JaxArray, b: JaxArray): JaxArray {
  const y = jax.lax.convGeneralDilated(x, w, [1, 1], [[1, 1], [1, 1]]).add(b.reshape([-1, 1, 1]));
  return jax.lax.reduceWindow(jax.nn.relu(y), jax.numpy.max, [2, 2], [2, 2]);
}

/** MLP 784-512-256-10 logits. */
export function mlpLogits(jax: JaxModule, p: Params, x: JaxArray): JaxArray {
  let h = x;
  for (let i = 0; i < 3; i++) {
    h = dense(jax, h, p[2 * i], p[2 * i + 1]);
    if (i < 2) h = jax.nn.relu(h);
  }
  return h;
}

/** The small CNN's logits (train.ts's cnn). */
export function cnnLogits(jax: JaxModule, p: Params, x: JaxArray): JaxArray {
  const n = x.shape[0];
  let h = convBlock(jax, x, p[0], p[1]);
  h = convBlock(jax, h, p[2], p[3]).reshape([n, 3136]);
  h = jax.nn.relu(dense(jax, h, p[4], p[5]));
  return dense(jax, h, p[6], p[7]);
}

/** The SSL encoder + projection head (train.ts's simclr / rocl). */
export function sslEncoder(jax: JaxModule, p: Params, x: JaxArray): JaxArray {
  const n = x.shape[0];
  let h = convBlock(jax, x, p[0], p[1]);
  h = convBlock(jax, h, p[2], p[3]).reshape([n, 2048]);
  h = jax.nn.relu(dense(jax, h, p[4], p[5]));
  h = jax.nn.relu(dense(jax, h, p[6], p[7]));
  return dense(jax, h, p[8], p[9]);
}

/** NT-Xent of z = [z1; z2] (2n × d), with the −1e9 diagonal and the positive-pair selector (train.ts's tfNtxent). */
export function ntXent(jax: JaxModule, z: JaxArray, negEye: JaxArray, pos: JaxArray, tau: number): JaxArray {
  const np = jax.numpy;
  const norm = np.sqrt(z.ref.mul(z.ref).sum(-1, { keepdims: true }));
  const zn = z.div(np.maximum(norm, 1e-12));
  const sim = np.matmul(zn.ref, zn.transpose()).mul(1 / tau).add(negEye);
  return jax.nn.logsumexp(sim.ref, -1).sub(sim.mul(pos).sum(-1)).mean();
}


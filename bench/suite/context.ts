/** What the row builders get: the libraries of this process (any may be missing) and the suite's mode. */
import type { SideImpl } from '../harness.js';
import type { TfHandle, WG } from '../gpu.js';
import type { JaxHandle } from '../peers.js';
import type { Tensor } from '../../src/node.js';
import type * as TFNS from '@tensorflow/tfjs-core';
import type { Array as JaxArray } from '@jax-js/jax';

export interface Ctx {
  wg?: WG;
  /** Why wgrad could not be loaded or started. */
  wgError?: string;
  tf?: TfHandle;
  tfError?: string;
  jax?: JaxHandle;
  quick: boolean;
  /** Images per training step on every training row (--batch; to try the rows at small sizes). */
  trainBatch?: number;
  /** wgrad's training steps under `wg.jit` (the jitted rows of suite/train-jit.ts). */
  jit?: boolean;
}

export function needJax(ctx: Ctx): JaxHandle {
  if (!ctx.jax) throw new Error('jax-js is not loaded in this process');
  return ctx.jax;
}

export function needWg(ctx: Ctx): WG {
  if (!ctx.wg) throw new Error(`wgrad unavailable: ${ctx.wgError ?? 'not loaded'}`);
  return ctx.wg;
}

export function needTf(ctx: Ctx): TfHandle {
  if (!ctx.tf) throw new Error(`TF.js unavailable: ${ctx.tfError ?? 'not loaded'}`);
  return ctx.tf;
}

/** A pure function of fixed inputs on wgrad: run = evaluate + sync; check = evaluate + read back. */
export function wgFn(wg: WG, inputs: Tensor[], f: () => Tensor | Tensor[], post?: (vals: Float32Array[]) => Float32Array): SideImpl {
  const outputs = () => {
    const y = wg.tidy(f);
    return Array.isArray(y) ? y : [y];
  };
  return {
    async run() {
      const ys = outputs();
      await wg.sync();
      wg.dispose(ys);
    },
    async check() {
      const ys = outputs();
      const vals = await Promise.all(ys.map(async (y) => (await y.data()) as Float32Array));
      wg.dispose(ys);
      return post ? post(vals) : vals.length === 1 ? vals[0] : concat(vals);
    },
    dispose() {
      wg.dispose(inputs);
    },
  };
}

/** The same for TF.js. */
export function tfFn(h: TfHandle, inputs: TFNS.Tensor[], f: () => TFNS.Tensor | TFNS.Tensor[], post?: (vals: Float32Array[]) => Float32Array, onDispose?: () => void): SideImpl {
  const { tf } = h;
  const outputs = () => {
    const y = tf.tidy(f);
    return Array.isArray(y) ? y : [y];
  };
  return {
    async run() {
      const ys = outputs();
      await h.sync();
      tf.dispose(ys);
    },
    async check() {
      const ys = outputs();
      const vals = await Promise.all(ys.map(async (y) => (await y.data()) as Float32Array));
      tf.dispose(ys);
      return post ? post(vals) : vals.length === 1 ? vals[0] : concat(vals);
    },
    dispose() {
      tf.dispose(inputs);
      onDispose?.();
    },
  };
}

/**
 * The same for jax-js, in its ownership idiom: `f` takes the inputs as arguments and consumes them
 * (each run passes new references, `x.ref`); under `jit` (JaxHandle.jit) `f` is traced once.
 */
export function jaxFn(h: JaxHandle, inputs: JaxArray[], f: (...xs: JaxArray[]) => JaxArray | JaxArray[], post?: (vals: Float32Array[]) => Float32Array): SideImpl {
  const { jax } = h;
  const jitted = h.jit ? jax.jit(f) : undefined;
  const fn = jitted ?? f;
  const outputs = () => {
    const y = fn(...inputs.map((x) => x.ref));
    return Array.isArray(y) ? y : [y];
  };
  return {
    async run() {
      const ys = outputs();
      await jax.blockUntilReady(ys);
      jax.tree.dispose(ys);
    },
    async check() {
      const ys = outputs();
      const vals = await Promise.all(ys.map(async (y) => (await y.data()) as Float32Array));
      return post ? post(vals) : vals.length === 1 ? vals[0] : concat(vals);
    },
    dispose() {
      jax.tree.dispose(inputs);
      jitted?.dispose();
    },
  };
}

function concat(vals: Float32Array[]): Float32Array {
  const out = new Float32Array(vals.reduce((s, v) => s + v.length, 0));
  let o = 0;
  for (const v of vals) {
    out.set(v, o);
    o += v.length;
  }
  return out;
}

/** What the row builders get: the two libraries (either may be missing) and the suite's mode. */
import type { SideImpl } from '../harness.js';
import type { TfHandle, WG } from '../gpu.js';
import type { Tensor } from '../../src/node.js';
import type * as TFNS from '@tensorflow/tfjs-core';

export interface Ctx {
  wg?: WG;
  /** Why wgrad could not be loaded or started. */
  wgError?: string;
  tf?: TfHandle;
  tfError?: string;
  quick: boolean;
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

function concat(vals: Float32Array[]): Float32Array {
  const out = new Float32Array(vals.reduce((s, v) => s + v.length, 0));
  let o = 0;
  for (const v of vals) {
    out.set(v, o);
    o += v.length;
  }
  return out;
}

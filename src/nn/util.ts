/**
 * Small helpers shared by the layers: zero-copy aliases (so a function can hand back "the same"
 * tensor as a new reference the caller may dispose independently) and option parsing.
 */
import { stopGradient } from '../autograd/stop.js';
import { transpose } from '../tensor/ops/movement.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * A new reference to `x` sharing its storage (no copy, no dispatch), through which gradients flow.
 * Returned where a function leaves its input unchanged, so ownership stays uniform: every tensor a
 * layer returns is a fresh reference.
 */
export const alias = (x: Tensor): Tensor => transpose(x, x.shape.map((_, i) => i));

/** A new, gradient-free reference to `x` sharing its storage (for state passed through untouched). */
export const detachedAlias = (x: Tensor): Tensor => stopGradient(x);

export type Pair = number | readonly [number, number];
export const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/**
 * Batched image augmentations on the device, for contrastive learning (SimCLR, RoCL, IDAA).
 *
 * Each is a pure function `(key, x) → x'` of a batch x [N, C, H, W] float32 in [0, 1]: the same key
 * gives the same result on every backend, and every sample draws its own parameters. Draws are
 * indexed by sample (`uniform(key, [N, …])`, element i depends only on the key and i), so sample i's
 * augmentation depends only on (key, i, x[i]): `f(key, x)[:m]` equals `f(key, x[:m])`.
 * They are built from differentiable tensor ops, so gradients flow to x (the random parameters are
 * constants): crops are bilinear resampling matrices applied with batched matmuls, flips and random
 * choices are `where`, colour changes are blends and clamps.
 *
 * Semantics follow torchvision (`RandomResizedCrop`, `RandomHorizontalFlip`, `ColorJitter`,
 * `RandomGrayscale`), with these readings:
 *   - crops: torchvision's sampling (area fraction ~ U(scale), log aspect ratio ~ U(log ratio), up to
 *     10 attempts, integer sizes and offsets, then a central-crop fallback), all attempts drawn at
 *     once; the crop is resized by bilinear interpolation with half-pixel centres (align_corners
 *     false) and edge clamping inside the crop, without antialiasing when shrinking.
 *   - colour jitter: brightness f·x, contrast f·x + (1 − f)·mean(gray(x)), saturation
 *     f·x + (1 − f)·gray(x), hue rotated in HSV, each clamped to [0, 1]; factors f ~ U(1 − s, 1 + s),
 *     hue shift ~ U(−h, h); applied in a random order drawn per sample (as torchvision draws one per
 *     image), which evaluates every enabled op at every stage and selects (k² op applications for k
 *     enabled ops); `randomOrder: false` uses brightness, contrast, saturation, hue. Saturation and
 *     hue leave 1-channel images unchanged. Gray = 0.2989 R + 0.587 G + 0.114 B.
 */
import { WgradError } from '../core/backend.js';
import { normal, split, uniform, type Key } from '../random/random.js';
import { arange, full, tensor } from '../tensor/ops/creation.js';
import {
  abs, add, clip, div, equal, exp, floor, greater, less, logicalAnd, logicalNot, logicalOr, maximum, minimum, mod, mul, notEqual,
  round, sqrt, sub, where,
} from '../tensor/ops/elementwise.js';
import { matmul } from '../tensor/ops/linalg.js';
import { broadcastTo, concat, flip, reshape, slice, transpose } from '../tensor/ops/movement.js';
import { max, mean, min, sum } from '../tensor/ops/reduce.js';
import { argsort } from '../tensor/ops/sort.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

type Range = number | readonly [number, number];

function checkBatch(op: string, x: Tensor): void {
  x._check(op);
  if (x.rank !== 4 || x.dtype !== 'float32') {
    throw new WgradError(op, `expected a float32 batch [N, C, H, W], got ${x.dtype} [${x.shape.join(', ')}]`);
  }
}

function checkP(op: string, p: number): void {
  if (!(p >= 0 && p <= 1)) throw new WgradError(op, `p must be in [0, 1], got ${p}`);
}

/** [N] → [N, 1, 1, 1], to scale or select whole samples. */
const perSample = (v: Tensor) => reshape(v, [v.shape[0], 1, 1, 1]);

/** A bool mask [N, 1, 1, 1], true with probability p per sample. */
function sampleMask(key: Key, n: number, p: number): Tensor {
  return perSample(less(uniform(key, [n]), p));
}

// -------------------------------------------------------------------------------------------------
// Random resized crop

/** Options of `randomResizedCrop`: output size and the crop's area and aspect-ratio ranges. */
export interface RandomResizedCropOptions {
  /** Output size (default: the input's). */
  size?: number | readonly [number, number];
  /** Range of the crop's area as a fraction of the image's. Default [0.08, 1]. */
  scale?: readonly [number, number];
  /** Range of the crop's aspect ratio (width / height), sampled log-uniformly. Default [3/4, 4/3]. */
  ratio?: readonly [number, number];
  /** Sampling attempts before the central-crop fallback. Default 10. */
  attempts?: number;
}

/**
 * Crop boxes [N] each (top, left, height, width, in pixels, integers) drawn as torchvision's
 * `RandomResizedCrop.get_params` does, for all samples at once.
 */
export function sampleCropBoxes(key: Key, n: number, height: number, width: number, opts: RandomResizedCropOptions = {}): { top: Tensor; left: Tensor; height: Tensor; width: Tensor } {
  const [s0, s1] = opts.scale ?? [0.08, 1];
  const [r0, r1] = opts.ratio ?? [3 / 4, 4 / 3];
  const attempts = opts.attempts ?? 10;
  if (!(s0 > 0 && s0 <= s1) || !(r0 > 0 && r0 <= r1) || !Number.isInteger(attempts) || attempts < 1) {
    throw new WgradError('randomResizedCrop', `need 0 < scale[0] ≤ scale[1], 0 < ratio[0] ≤ ratio[1] and attempts ≥ 1, got scale [${s0}, ${s1}], ratio [${r0}, ${r1}], attempts ${attempts}`);
  }
  const [kArea, kRatio, kTop, kLeft] = split(key, 4);
  return tidy(() => {
    const area = height * width;
    const target = mul(uniform(kArea, [n, attempts], { minval: s0, maxval: s1 }), area);
    const aspect = exp(uniform(kRatio, [n, attempts], { minval: Math.log(r0), maxval: Math.log(r1) }));
    // Integer sizes, rounded half to even like Python's round() in torchvision.
    const w = round(sqrt(mul(target, aspect)));
    const h = round(sqrt(div(target, aspect)));
    const ok = logicalAnd(logicalAnd(greater(w, 0), greater(h, 0)), logicalAnd(less(w, width + 0.5), less(h, height + 0.5)));
    // Central-crop fallback (torchvision), used when no attempt fits.
    const inRatio = width / height;
    let fw = width, fh = height;
    if (inRatio < r0) fh = Math.round(fw / r0);
    else if (inRatio > r1) fw = Math.round(fh * r1);
    let cw: Tensor = full([n], fw), ch: Tensor = full([n], fh);
    let chosen: Tensor = full([n], 0, 'bool');
    for (let a = attempts - 1; a >= 0; a--) {
      const col = (t: Tensor) => reshape(slice(t, [{}, a]), [n]);
      const okFlat = col(ok);
      cw = where(okFlat, col(w), cw);
      ch = where(okFlat, col(h), ch);
      chosen = logicalOr(chosen, okFlat);
    }
    const fallbackTop = Math.floor((height - fh) / 2), fallbackLeft = Math.floor((width - fw) / 2);
    // Offsets uniform over the integer positions 0 … H − h (torch.randint(0, H − h + 1)).
    const top = where(chosen, floor(mul(uniform(kTop, [n]), add(sub(height, ch), 1))), fallbackTop);
    const left = where(chosen, floor(mul(uniform(kLeft, [n]), add(sub(width, cw), 1))), fallbackLeft);
    return { top, left, height: ch, width: cw };
  });
}


/**
 * Bilinear resampling matrices [N, out, size] for 1-D crops [start, start + length) of an axis of
 * `size` pixels: output o samples source coordinate start + (o + ½)·length/out − ½, clamped into the
 * crop, with tent weights max(0, 1 − |coord − s|).
 */
export function cropResampleMatrix(start: Tensor, length: Tensor, size: number, out: number): Tensor {
  return tidy(() => {
    const n = start.shape[0];
    const s0 = reshape(start, [n, 1]);
    const len = reshape(length, [n, 1]);
    const o = reshape(arange(0, out), [1, out]);
    let coord = sub(add(s0, mul(add(o, 0.5), div(len, out))), 0.5);
    coord = minimum(maximum(coord, s0), sub(add(s0, len), 1)); // [N, out]
    const src = reshape(arange(0, size), [1, 1, size]);
    const d = abs(sub(reshape(coord, [n, out, 1]), src));
    return maximum(sub(1, d), 0); // [N, out, size]
  });
}

/** Resamples each sample's box (top, left, height, width: [N] float32 pixels) to outH × outW, bilinearly. */
export function cropAndResize(x: Tensor, box: { top: Tensor; left: Tensor; height: Tensor; width: Tensor }, outH: number, outW: number): Tensor {
  checkBatch('cropAndResize', x);
  const [n, , h, w] = x.shape;
  return tidy(() => {
    const ry = reshape(cropResampleMatrix(box.top, box.height, h, outH), [n, 1, outH, h]);
    const rx = reshape(cropResampleMatrix(box.left, box.width, w, outW), [n, 1, outW, w]);
    return matmul(matmul(ry, x), transpose(rx, [0, 1, 3, 2]));
  });
}

/** torchvision's RandomResizedCrop, per sample, on the device (see the module comment). */
export function randomResizedCrop(key: Key, x: Tensor, opts: RandomResizedCropOptions = {}): Tensor {
  checkBatch('randomResizedCrop', x);
  const [n, , h, w] = x.shape;
  const [outH, outW] = opts.size === undefined ? [h, w] : typeof opts.size === 'number' ? [opts.size, opts.size] : opts.size;
  return tidy(() => cropAndResize(x, sampleCropBoxes(key, n, h, w, opts), outH, outW));
}

// -------------------------------------------------------------------------------------------------
// Flip, grayscale, noise

/** Flips each sample left-right with probability p (default 0.5). */
export function randomHorizontalFlip(key: Key, x: Tensor, opts: { p?: number } = {}): Tensor {
  checkBatch('randomHorizontalFlip', x);
  const p = opts.p ?? 0.5;
  checkP('randomHorizontalFlip', p);
  return tidy(() => where(sampleMask(key, x.shape[0], p), flip(x, 3), x));
}

/** Luma of an RGB batch [N, 3, H, W] → [N, 1, H, W]; a 1-channel batch is returned as a copy. */
export function rgbToGrayscale(x: Tensor): Tensor {
  checkBatch('rgbToGrayscale', x);
  if (x.shape[1] === 1) return mul(x, 1);
  if (x.shape[1] !== 3) throw new WgradError('rgbToGrayscale', `expected 1 or 3 channels, got ${x.shape[1]}`);
  return tidy(() => sum(mul(x, reshape(tensor([0.2989, 0.587, 0.114]), [1, 3, 1, 1])), 1, { keepdims: true }));
}

/** Replaces each sample by its grayscale (kept at C channels) with probability p (default 0.2). */
export function randomGrayscale(key: Key, x: Tensor, opts: { p?: number } = {}): Tensor {
  checkBatch('randomGrayscale', x);
  const p = opts.p ?? 0.2;
  checkP('randomGrayscale', p);
  return tidy(() => (x.shape[1] === 1 ? mul(x, 1) : where(sampleMask(key, x.shape[0], p), broadcastTo(rgbToGrayscale(x), x.shape), x)));
}

/** Adds N(0, std²) noise (default std 0.05) and clamps to [0, 1] (unless `clip: false`). */
export function gaussianNoise(key: Key, x: Tensor, opts: { std?: number; clip?: boolean } = {}): Tensor {
  checkBatch('gaussianNoise', x);
  const std = opts.std ?? 0.05;
  if (!(std >= 0)) throw new WgradError('gaussianNoise', `std must be ≥ 0, got ${std}`);
  return tidy(() => {
    const y = add(x, normal(key, x.shape, { stddev: std }));
    return opts.clip === false ? y : clip(y, 0, 1);
  });
}

// -------------------------------------------------------------------------------------------------
// Colour

const clamp01 = (t: Tensor) => clip(t, 0, 1);
const asFactors = (f: Tensor | number, n: number) => (typeof f === 'number' ? full([n], f) : f);

/** x · f per sample (f: [N] or a number), clamped. */
export function adjustBrightness(x: Tensor, f: Tensor | number): Tensor {
  checkBatch('adjustBrightness', x);
  return tidy(() => clamp01(mul(x, perSample(asFactors(f, x.shape[0])))));
}

/** f · x + (1 − f) · mean(gray(x)) per sample, clamped. */
export function adjustContrast(x: Tensor, f: Tensor | number): Tensor {
  checkBatch('adjustContrast', x);
  return tidy(() => {
    const m = mean(rgbToGrayscale(x), [1, 2, 3], { keepdims: true });
    const fs = perSample(asFactors(f, x.shape[0]));
    return clamp01(add(mul(x, fs), mul(sub(1, fs), m)));
  });
}

/** f · x + (1 − f) · gray(x) per sample, clamped; 1-channel images are returned unchanged (a copy). */
export function adjustSaturation(x: Tensor, f: Tensor | number): Tensor {
  checkBatch('adjustSaturation', x);
  if (x.shape[1] === 1) return mul(x, 1);
  return tidy(() => {
    const fs = perSample(asFactors(f, x.shape[0]));
    return clamp01(add(mul(x, fs), mul(sub(1, fs), rgbToGrayscale(x))));
  });
}

/**
 * Rotates the hue by `shift` (in turns, [N] or a number, |shift| ≤ 0.5) in HSV space, as
 * torchvision's `adjust_hue`; 1-channel images are returned unchanged (a copy).
 */
export function adjustHue(x: Tensor, shift: Tensor | number): Tensor {
  checkBatch('adjustHue', x);
  if (x.shape[1] === 1) return mul(x, 1);
  if (x.shape[1] !== 3) throw new WgradError('adjustHue', `expected 1 or 3 channels, got ${x.shape[1]}`);
  return tidy(() => {
    const ch = (i: number) => slice(x, [{}, { start: i, stop: i + 1 }]);
    const [r, g, b] = [ch(0), ch(1), ch(2)];
    // RGB → HSV (torchvision's _rgb2hsv).
    const maxc = max(x, 1, { keepdims: true });
    const minc = min(x, 1, { keepdims: true });
    const eqc = equal(maxc, minc);
    const cr = sub(maxc, minc);
    const s = div(cr, where(eqc, 1, maxc));
    const crDiv = where(eqc, 1, cr);
    const rc = div(sub(maxc, r), crDiv);
    const gc = div(sub(maxc, g), crDiv);
    const bc = div(sub(maxc, b), crDiv);
    const isR = equal(maxc, r);
    const isG = logicalAnd(equal(maxc, g), logicalNot(isR));
    const isB = logicalAnd(notEqual(maxc, g), logicalNot(isR));
    const hr = where(isR, sub(bc, gc), 0);
    const hg = where(isG, sub(add(rc, 2), bc), 0);
    const hb = where(isB, sub(add(gc, 4), rc), 0);
    let h = mod(add(div(add(add(hr, hg), hb), 6), 1), 1);
    h = mod(add(h, perSample(asFactors(shift, x.shape[0]))), 1);
    // HSV → RGB: channel c = v − v·s·clamp(min(k, 4 − k), 0, 1), k = (n + 6h) mod 6, n = 5, 3, 1.
    const v = maxc;
    const out = [5, 3, 1].map((nn) => {
      const k = mod(add(mul(h, 6), nn), 6);
      const tri = clip(minimum(k, sub(4, k)), 0, 1);
      return sub(v, mul(mul(v, s), tri));
    });
    return clamp01(concat(out, 1));
  });
}

/** Options of `colorJitter`: the ranges of brightness, contrast, saturation and hue. */
export interface ColorJitterOptions {
  /** Brightness factor range: s → U(max(0, 1 − s), 1 + s), or [lo, hi]. Default 0.4; 0 disables. */
  brightness?: Range;
  contrast?: Range;
  saturation?: Range;
  /** Hue shift range: h → U(−h, h) (h ≤ 0.5), or [lo, hi]. Default 0.1; 0 disables. */
  hue?: Range;
  /** Probability that a sample is jittered at all (SimCLR: 0.8). Default 1. */
  p?: number;
  /** Apply the enabled ops in a random order per sample (default true; see the module comment). */
  randomOrder?: boolean;
}

function factorRange(op: string, r: Range, center: number): [number, number] | undefined {
  const [lo, hi] = typeof r === 'number' ? (center === 1 ? [Math.max(0, 1 - r), 1 + r] : [-r, r]) : r;
  if (!(lo <= hi) || (center === 1 && lo < 0) || (center === 0 && (lo < -0.5 || hi > 0.5))) {
    throw new WgradError('colorJitter', `bad ${op} range [${lo}, ${hi}]`);
  }
  return lo === center && hi === center ? undefined : [lo, hi];
}

/** torchvision's ColorJitter with per-sample factors (and an application probability `p`). */
export function colorJitter(key: Key, x: Tensor, opts: ColorJitterOptions = {}): Tensor {
  checkBatch('colorJitter', x);
  const p = opts.p ?? 1;
  checkP('colorJitter', p);
  const n = x.shape[0];
  const color = x.shape[1] === 3;
  const specs: [string, Range, number, (x: Tensor, f: Tensor) => Tensor][] = [
    ['brightness', opts.brightness ?? 0.4, 1, adjustBrightness],
    ['contrast', opts.contrast ?? 0.4, 1, adjustContrast],
    ['saturation', opts.saturation ?? 0.4, 1, adjustSaturation],
    ['hue', opts.hue ?? 0.1, 0, adjustHue],
  ];
  const keys = split(key, 6);
  return tidy(() => {
    const ops: ((x: Tensor) => Tensor)[] = [];
    specs.forEach(([name, range, center, fn], i) => {
      const r = factorRange(name, range, center);
      if (!r || (!color && (name === 'saturation' || name === 'hue'))) return;
      const f = uniform(keys[i], [n], { minval: r[0], maxval: r[1] });
      ops.push((y) => fn(y, f));
    });
    let y = x;
    if (ops.length > 0) {
      if (opts.randomOrder === false || ops.length === 1) {
        for (const op of ops) y = op(y);
      } else {
        const order = argsort(uniform(keys[4], [n, ops.length]), 1); // [N, k]: a permutation per sample
        for (let stage = 0; stage < ops.length; stage++) {
          const which = perSample(reshape(slice(order, [{}, stage]), [n]));
          const outs = ops.map((op) => op(y));
          let sel = outs[outs.length - 1];
          for (let j = outs.length - 2; j >= 0; j--) sel = where(equal(which, j), outs[j], sel);
          y = sel;
        }
      }
    } else {
      y = mul(x, 1);
    }
    return p >= 1 ? y : where(sampleMask(keys[5], n, p), y, x);
  });
}

// -------------------------------------------------------------------------------------------------
// SimCLR / RoCL composition

/** Options of the SimCLR/RoCL augmentation: each stage's options, or false to skip it. */
export interface SimclrAugmentOptions {
  /** Output size (default: the input's). */
  size?: number | readonly [number, number];
  /** Random resized crop options, or false to skip. Default scale [0.08, 1], ratio [3/4, 4/3]. */
  crop?: RandomResizedCropOptions | false;
  /** Horizontal flip, or false. Default p 0.5. */
  flip?: { p?: number } | false;
  /** Colour jitter, or false. Default (0.4, 0.4, 0.4, 0.1) with p 0.8 (RoCL). */
  colorJitter?: ColorJitterOptions | false;
  /** Random grayscale, or false. Default p 0.2. */
  grayscale?: { p?: number } | false;
  /** Gaussian noise, or false (default). */
  noise?: { std?: number; clip?: boolean } | false;
}

/**
 * SimCLR's augmentation as RoCL uses it on CIFAR: random resized crop → horizontal flip → colour
 * jitter (0.4, 0.4, 0.4, 0.1) with probability 0.8 → grayscale with probability 0.2 (→ optional
 * Gaussian noise). No normalization. Call it twice with different keys for two views.
 */
export function simclrAugment(key: Key, x: Tensor, opts: SimclrAugmentOptions = {}): Tensor {
  checkBatch('simclrAugment', x);
  const [kCrop, kFlip, kJitter, kGray, kNoise] = split(key, 5);
  return tidy(() => {
    let y = x;
    if (opts.crop !== false) y = randomResizedCrop(kCrop, y, { ...opts.crop, size: opts.crop?.size ?? opts.size });
    else if (opts.size !== undefined) throw new WgradError('simclrAugment', '`size` needs the crop (resizing happens there)');
    if (opts.flip !== false) y = randomHorizontalFlip(kFlip, y, opts.flip);
    if (opts.colorJitter !== false) y = colorJitter(kJitter, y, { p: 0.8, ...opts.colorJitter });
    if (opts.grayscale !== false) y = randomGrayscale(kGray, y, opts.grayscale);
    if (opts.noise) y = gaussianNoise(kNoise, y, opts.noise);
    return y === x ? mul(x, 1) : y;
  });
}

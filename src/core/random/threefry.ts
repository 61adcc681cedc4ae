/**
 * Threefry-2x32 with 20 rounds (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"),
 * the counter-based generator JAX uses. The same function is written in WGSL in
 * src/kernels/random.ts; both must give identical bits, which the kernel tests check.
 *
 * wgrad's stream: element i of a `random` output is `threefry2x32(key, [i, 0])[0]`; a uniform float
 * keeps the top 23 bits as a mantissa in [1, 2) and subtracts 1, which is exact in float32.
 */
const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24];

const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;

export function threefry2x32(k0: number, k1: number, c0: number, c1: number): [number, number] {
  const ks = [k0 >>> 0, k1 >>> 0, (0x1bd11bda ^ k0 ^ k1) >>> 0];
  let x0 = (c0 + ks[0]) >>> 0;
  let x1 = (c1 + ks[1]) >>> 0;
  for (let block = 0; block < 5; block++) {
    for (let r = 0; r < 4; r++) {
      x0 = (x0 + x1) >>> 0;
      x1 = (rotl(x1, ROTATIONS[(block % 2) * 4 + r]) ^ x0) >>> 0;
    }
    // Key injection after every 4 rounds.
    x0 = (x0 + ks[(block + 1) % 3]) >>> 0;
    x1 = (x1 + ks[(block + 2) % 3] + block + 1) >>> 0;
  }
  return [x0, x1];
}

/** bits → float32 in [0, 1): 23 random mantissa bits over the exponent of 1.0, minus 1. */
export function bitsToUniform(bits: number): number {
  const f = new Float32Array(new Uint32Array([(bits >>> 9) | 0x3f800000]).buffer)[0];
  return f - 1;
}

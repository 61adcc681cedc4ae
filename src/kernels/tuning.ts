/**
 * Shapes of the memory-bound kernels (reductions), chosen per adapter from a small table and the
 * device's limits, and cached per adapter.
 *
 * Why per adapter: the best shape of a thin kernel differs by an order of magnitude between kinds
 * of adapter. A software rasterizer (Mesa lavapipe/llvmpipe, SwiftShader, WARP) runs each workgroup
 * as one task on a CPU thread, one SIMD-width chunk of lanes at a time, and every load as a per-lane
 * gather: there fat workgroups of one SIMD chunk (8 lanes on 256-bit CPUs), each invocation walking
 * many consecutive vec4s, move several times what 64-lane workgroups with one vec4 each move
 * (docs/benchmarks.md#workgroup-shape-on-a-software-rasterizer; bench/roofline.ts measures this in
 * every bench run). A hardware GPU wants the
 * opposite: many lanes per workgroup, little work per invocation, many workgroups in flight.
 *
 * The table has one entry per kind of adapter; the kind is read from the adapter's description
 * (`isFallbackAdapter`, or a known software rasterizer's name). The SIMD width of a software
 * adapter is its subgroup size where the adapter reports one (8 otherwise). Every number is then
 * clamped to the device's limits (lanes ≤ maxComputeInvocationsPerWorkgroup and
 * maxComputeWorkgroupSizeX, a power of two; the workgroup tree's memory ≤
 * maxComputeWorkgroupStorageSize), so the choice is valid on any device. The choice is a pure
 * function of (description, limits): deterministic, and cached under that key.
 */

/** What the tuning reads of an adapter (a subset of GPUAdapterInfo). */
export interface AdapterTraits {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
}

/** The limits the tuning respects (a subset of GPUSupportedLimits). */
export interface TuningLimits {
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeWorkgroupsPerDimension: number;
}

export type AdapterKind = 'software' | 'gpu';

export interface ReduceShapes {
  kind: AdapterKind;
  /** Lanes per workgroup of the kernels with one invocation per row or chunk ('vec4', 'thread'). */
  rowLanes: number;
  /** Lanes per workgroup of the workgroup-per-row kernel (a shared-memory tree combines them). */
  groupLanes: number;
  /** Consecutive vec4s an invocation should handle (at least, where the work allows). */
  vec4PerLane: number;
  /** Workgroups a dispatch should have to fill the device (long rows are split to get them). */
  minWorkgroups: number;
}

/** The table: one entry per kind of adapter, before clamping to the limits. */
const TABLE: Record<AdapterKind, Omit<ReduceShapes, 'kind'>> = {
  // One SIMD chunk per workgroup (rowLanes is replaced by the SIMD width), 64 vec4s (1 KiB) per
  // invocation, a few hundred tasks per dispatch to balance the thread pool.
  software: { rowLanes: 8, groupLanes: 8, vec4PerLane: 64, minWorkgroups: 256 },
  // Warps/wavefronts: 256-lane workgroups, a vec4 or two per invocation, thousands of workgroups.
  gpu: { rowLanes: 256, groupLanes: 64, vec4PerLane: 2, minWorkgroups: 2048 },
};

const SOFTWARE_NAMES = /llvmpipe|lavapipe|swiftshader|software|microsoft basic render|\bwarp\b/i;

export function adapterKind(a: AdapterTraits): AdapterKind {
  if (a.isFallbackAdapter) return 'software';
  const text = [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' ');
  return SOFTWARE_NAMES.test(text) ? 'software' : 'gpu';
}

/** The largest power of two ≤ n (n ≥ 1). */
const floorPow2 = (n: number) => 2 ** Math.floor(Math.log2(Math.max(1, n)));

/**
 * The reduction shapes for an adapter with these limits: the table's entry for its kind, with a
 * software adapter's lanes set to its SIMD width, then clamped to the limits. Pure.
 */
export function chooseReduceShapes(a: AdapterTraits, limits: TuningLimits): ReduceShapes {
  const kind = adapterKind(a);
  const t = TABLE[kind];
  const simd = kind === 'software' && a.subgroupMinSize && a.subgroupMinSize >= 4 ? a.subgroupMinSize : undefined;
  const maxLanes = floorPow2(Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX));
  // The workgroup tree keeps a value and an index (4 bytes each) per lane.
  const maxTree = floorPow2(Math.floor(limits.maxComputeWorkgroupStorageSize / 8));
  const rowLanes = Math.min(floorPow2(simd ?? t.rowLanes), maxLanes);
  const groupLanes = Math.min(floorPow2(simd ?? t.groupLanes), maxLanes, maxTree);
  return { kind, rowLanes, groupLanes, vec4PerLane: t.vec4PerLane, minWorkgroups: Math.min(t.minWorkgroups, limits.maxComputeWorkgroupsPerDimension) };
}

const adapters = new WeakMap<GPUDevice, AdapterTraits>();
const cache = new Map<string, ReduceShapes>();
const overrides = new WeakMap<GPUDevice, Partial<ReduceShapes>>();

/** Records which adapter a device came from (device.ts calls this once per device). */
export function registerAdapter(device: GPUDevice, traits: AdapterTraits): void {
  adapters.set(device, { ...traits });
}

/**
 * Replaces some shapes for one device (benchmarks compare shapes in one process with it; every
 * value is still clamped to the limits). `undefined` removes the override.
 */
export function overrideReduceShapes(device: GPUDevice, shapes: Partial<ReduceShapes> | undefined): void {
  if (shapes) overrides.set(device, shapes);
  else overrides.delete(device);
}

/** The shapes for the runtime's device and its (effective) limits, cached per adapter and limits. */
export function reduceShapesFor(rt: { device: GPUDevice; limits: TuningLimits }): ReduceShapes {
  const a = adapters.get(rt.device) ?? {};
  const l = rt.limits;
  const key = `${adapterKind(a)}|${a.subgroupMinSize ?? ''}|${l.maxComputeInvocationsPerWorkgroup},${l.maxComputeWorkgroupSizeX},${l.maxComputeWorkgroupStorageSize},${l.maxComputeWorkgroupsPerDimension}`;
  let s = cache.get(key);
  if (!s) {
    s = chooseReduceShapes(a, l);
    cache.set(key, s);
  }
  const o = overrides.get(rt.device);
  if (!o) return s;
  const maxLanes = floorPow2(Math.min(l.maxComputeInvocationsPerWorkgroup, l.maxComputeWorkgroupSizeX));
  const lanes = (v: number | undefined, d: number) => (v ? Math.min(floorPow2(v), maxLanes) : d);
  return {
    ...s,
    rowLanes: lanes(o.rowLanes, s.rowLanes),
    groupLanes: Math.min(lanes(o.groupLanes, s.groupLanes), floorPow2(Math.floor(l.maxComputeWorkgroupStorageSize / 8))),
    vec4PerLane: Math.max(1, o.vec4PerLane ?? s.vec4PerLane),
    minWorkgroups: Math.max(1, o.minWorkgroups ?? s.minWorkgroups),
  };
}

// Reduction plans derived from the shapes (reduce.ts uses them; pure, so tested without a device).

/**
 * Chunks per output of the 'vec4' strategy: long rows (≥ 64 chunks of the tuned vec4s per lane) are
 * split until there are enough invocations to fill the device (minWorkgroups × rowLanes), each
 * chunk keeping at least vec4PerLane vec4s; then a second pass reduces the partials.
 */
export function vec4Chunks(outer: number, len4: number, s: ReduceShapes): number {
  const want = s.minWorkgroups * s.rowLanes;
  if (outer >= want || len4 < 64 * s.vec4PerLane) return 1;
  return Math.max(1, Math.min(Math.ceil(want / outer), Math.floor(len4 / s.vec4PerLane)));
}

/**
 * Chunks of the reduced elements per group of 4 outputs ('cols4'): split until there are enough
 * invocations, each chunk keeping at least vec4PerLane elements (one vec4 load each).
 */
export function colChunks(quads: number, R: number, s: ReduceShapes): number {
  const want = s.minWorkgroups * s.rowLanes;
  if (quads >= want || R < 8 * s.vec4PerLane) return 1;
  return Math.max(1, Math.min(Math.ceil(want / quads), Math.floor(R / s.vec4PerLane)));
}

/**
 * Outputs per invocation of the 'thread' strategy: short rows are grouped so that an invocation
 * reads about 4 × vec4PerLane elements, as long as enough invocations remain to fill the device.
 */
export function rowsPerLane(outer: number, R: number, s: ReduceShapes): number {
  const byWork = Math.floor((4 * s.vec4PerLane) / Math.max(R, 1));
  const byFill = Math.floor(outer / (s.minWorkgroups * s.rowLanes));
  return Math.max(1, Math.min(byWork, byFill));
}

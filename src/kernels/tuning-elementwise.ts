/**
 * The shape of the elementwise kernels (kernels/elementwise.ts), chosen per adapter from a small
 * table and the device's limits, and cached per adapter (the reductions' counterpart is tuning.ts,
 * whose adapter kinds this file shares).
 *
 * A shape is: lanes per workgroup, units per invocation (a unit is one element, or 4 consecutive
 * ones when the kernel runs on vec4s), and how an invocation's units are laid out — 'blocked'
 * (`perLane` consecutive units) or 'strided' (the lanes of a workgroup interleave over its block:
 * lane l handles units base + l + k·lanes, so neighbouring lanes touch neighbouring memory). Either
 * way an invocation's addresses are computed once and then stepped from unit to unit where the
 * shapes allow (elementwise.ts `Walker`).
 *
 * Why per adapter: a software rasterizer (lavapipe, SwiftShader, WARP) runs a workgroup as one task
 * on a CPU thread, one SIMD chunk of lanes at a time, so the per-workgroup cost dominates thin
 * kernels: one chunk per workgroup and fat invocations amortize it (a copy kernel on lavapipe moves
 * several times more with 8 lanes × 64 vec4s than with 64 lanes × 1 vec4:
 * docs/benchmarks.md#workgroup-shape-on-a-software-rasterizer). A GPU wants many
 * lanes per workgroup, little work per invocation and many workgroups in flight.
 *
 * `perLane` is an upper bound: a dispatch takes fewer units per invocation when that is what it
 * needs to keep `minWorkgroups` workgroups (a small tensor still spreads over every CPU thread or
 * GPU core). Every number is clamped to the device's limits, so the choice is valid on any device;
 * it is a pure function of (adapter kind, SIMD width, limits), cached under that key. Benchmarks
 * compare shapes in one process with `overrideElementwiseShape`.
 */
import { adapterKind, reduceShapesFor, type AdapterKind, type AdapterTraits, type TuningLimits } from './tuning.js';

export type Layout = 'blocked' | 'strided';

export interface ElementwiseShape {
  lanes: number;
  /** Most units (elements, or vec4s) per invocation. */
  perLane: number;
  layout: Layout;
  /** Workgroups a dispatch keeps, where it has the work, by taking fewer units per invocation. */
  minWorkgroups: number;
}

/**
 * Two shapes per adapter: `dense` for expressions whose leaves read rows (innermost stride 0 or ±1:
 * contiguous, broadcast, flipped), `gather` for those with a leaf read across rows (a transposed
 * view: consecutive outputs hit different cache lines, which neighbouring output rows reuse, so a
 * workgroup should span several rows).
 */
export interface ElementwiseShapes {
  dense: ElementwiseShape;
  gather: ElementwiseShape;
}

/**
 * One entry per kind of adapter, before clamping (a software adapter's dense lanes become its SIMD
 * width). Software: dense kernels are cheapest as 8 lanes × 64 vec4 'strided', gathers as 256 lanes
 * × 16 (measured with scripts/bench-elementwise.ts: docs/benchmarks.md#workgroup-shape-on-a-software-rasterizer).
 */
const TABLE: Record<AdapterKind, ElementwiseShapes> = {
  software: {
    dense: { lanes: 8, perLane: 64, layout: 'strided', minWorkgroups: 32 },
    gather: { lanes: 256, perLane: 16, layout: 'strided', minWorkgroups: 8 },
  },
  gpu: {
    dense: { lanes: 256, perLane: 4, layout: 'strided', minWorkgroups: 1024 },
    gather: { lanes: 256, perLane: 4, layout: 'strided', minWorkgroups: 1024 },
  },
};

const floorPow2 = (n: number) => 2 ** Math.floor(Math.log2(Math.max(1, n)));

/** The shapes for an adapter of this kind and SIMD width (software only) under these limits. Pure. */
export function chooseElementwiseShapes(kind: AdapterKind, simd: number | undefined, limits: TuningLimits): ElementwiseShapes {
  const t = TABLE[kind];
  const lanes = kind === 'software' && simd && simd >= 4 ? simd : t.dense.lanes;
  return { dense: clampShape(t.dense, lanes, limits), gather: clampShape(t.gather, t.gather.lanes, limits) };
}

function clampShape(s: ElementwiseShape, lanes: number, limits: TuningLimits): ElementwiseShape {
  const maxLanes = floorPow2(Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX));
  return {
    lanes: Math.min(floorPow2(lanes), maxLanes),
    perLane: Math.max(1, Math.floor(s.perLane)),
    layout: s.layout,
    minWorkgroups: Math.max(1, Math.min(s.minWorkgroups, limits.maxComputeWorkgroupsPerDimension)),
  };
}

const cache = new Map<string, ElementwiseShapes>();
const overrides = new WeakMap<GPUDevice, ElementwiseShapes>();

/** What the device says of its adapter (GPUDevice.adapterInfo), where it says it. */
function traitsOf(device: GPUDevice): AdapterTraits | undefined {
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).adapterInfo;
  return info && { ...info, vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description };
}

/**
 * The elementwise shapes for the runtime's device and (effective) limits: the override if one is
 * set, else the table's entry for the adapter's kind, cached per kind, SIMD width and limits.
 */
export function elementwiseShapesFor(rt: { device: GPUDevice; limits: TuningLimits }): ElementwiseShapes {
  const o = overrides.get(rt.device);
  if (o) return o;
  const traits = traitsOf(rt.device);
  // Without adapterInfo, the kind device.ts registered for the reductions.
  const kind = traits ? adapterKind(traits) : reduceShapesFor(rt).kind;
  const simd = traits?.subgroupMinSize;
  const l = rt.limits;
  const key = `${kind}|${simd ?? ''}|${l.maxComputeInvocationsPerWorkgroup},${l.maxComputeWorkgroupSizeX},${l.maxComputeWorkgroupsPerDimension}`;
  let s = cache.get(key);
  if (!s) {
    s = chooseElementwiseShapes(kind, simd, l);
    cache.set(key, s);
  }
  return s;
}

type ShapeOverride = Omit<ElementwiseShape, 'minWorkgroups'> & { minWorkgroups?: number };

/**
 * Replaces the shapes for one device (one shape for both kinds of expression, or each; clamped to
 * the device's limits); `undefined` removes the override.
 */
export function overrideElementwiseShape(device: GPUDevice, shape: ShapeOverride | { dense: ShapeOverride; gather: ShapeOverride } | undefined): void {
  if (!shape) return void overrides.delete(device);
  const clamp = (s: ShapeOverride) => clampShape({ minWorkgroups: 1, ...s }, s.lanes, device.limits);
  overrides.set(device, 'dense' in shape ? { dense: clamp(shape.dense), gather: clamp(shape.gather) } : { dense: clamp(shape), gather: clamp(shape) });
}

/**
 * Units per invocation and workgroup count for `units` units in `shape`: the most units per
 * invocation (≤ perLane) that still leaves min(minWorkgroups, what the work fills) workgroups.
 */
export function dispatchSize(shape: ElementwiseShape, units: number): { perLane: number; workgroups: number } {
  const perLane = Math.max(1, Math.min(shape.perLane, Math.ceil(units / (shape.lanes * shape.minWorkgroups))));
  return { perLane, workgroups: Math.ceil(units / (shape.lanes * perLane)) };
}

/** The shapes a benchmark sweeps (bench-elementwise.ts --sweep), within the device's limits. */
export function candidateShapes(limits: TuningLimits): ElementwiseShape[] {
  const out: ElementwiseShape[] = [];
  for (const lanes of [8, 64, 256]) {
    if (lanes > limits.maxComputeInvocationsPerWorkgroup || lanes > limits.maxComputeWorkgroupSizeX) continue;
    for (const perLane of [4, 16, 64]) out.push({ lanes, perLane, layout: 'blocked', minWorkgroups: 32 });
    out.push({ lanes, perLane: 16, layout: 'strided', minWorkgroups: 32 });
  }
  return out;
}

export const shapeName = (s: ElementwiseShape) => `${s.lanes} lanes × ${s.perLane} ${s.layout}`;

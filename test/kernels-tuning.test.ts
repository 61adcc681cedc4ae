/**
 * Per-adapter shapes of the memory-bound kernels (src/kernels/tuning.ts): the kind of adapter is
 * read from its description, the choice is a deterministic function of (adapter, limits), valid
 * under any limits (power-of-two lanes within the workgroup limits, the tree within workgroup
 * memory), cached per adapter; and the reduction plans derived from it (chunks per row, rows per
 * lane) stay within their bounds. Pure: no device needed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  adapterKind, chooseReduceShapes, colChunks, overrideReduceShapes, reduceShapesFor, registerAdapter, rowsPerLane, vec4Chunks,
  type AdapterTraits, type TuningLimits,
} from '../src/kernels/tuning.js';

const LAVAPIPE: AdapterTraits = { vendor: 'mesa', architecture: '', device: 'llvmpipe (LLVM 15.0.6, 256 bits)', description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)', subgroupMinSize: 8 };
const NVIDIA: AdapterTraits = { vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H200', description: 'NVIDIA H200', subgroupMinSize: 32, subgroupMaxSize: 32 };
const DEFAULT_LIMITS: TuningLimits = { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupStorageSize: 16384, maxComputeWorkgroupsPerDimension: 65535 };

const limitsArb: fc.Arbitrary<TuningLimits> = fc.record({
  maxComputeInvocationsPerWorkgroup: fc.integer({ min: 1, max: 2048 }),
  maxComputeWorkgroupSizeX: fc.integer({ min: 1, max: 2048 }),
  maxComputeWorkgroupStorageSize: fc.integer({ min: 16, max: 65536 }),
  maxComputeWorkgroupsPerDimension: fc.integer({ min: 1, max: 65535 }),
});
const traitsArb: fc.Arbitrary<AdapterTraits> = fc.record({
  vendor: fc.constantFrom('mesa', 'nvidia', 'amd', 'intel', 'apple', 'google', ''),
  description: fc.constantFrom('llvmpipe', 'SwiftShader Device (Subzero)', 'Microsoft Basic Render Driver', 'NVIDIA H200', 'AMD Radeon', 'Apple M2', ''),
  isFallbackAdapter: fc.boolean(),
  subgroupMinSize: fc.constantFrom(undefined, 1, 4, 8, 16, 32, 64),
}, { requiredKeys: ['vendor', 'description'] });

const isPow2 = (n: number) => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;

describe('kernel tuning per adapter', () => {
  it('reads the kind of adapter from its description, not from one driver name', () => {
    expect(adapterKind(LAVAPIPE)).toBe('software');
    expect(adapterKind({ description: 'SwiftShader Device (Subzero)' })).toBe('software');
    expect(adapterKind({ description: 'Microsoft Basic Render Driver' })).toBe('software');
    expect(adapterKind({ description: 'some adapter', isFallbackAdapter: true })).toBe('software');
    expect(adapterKind(NVIDIA)).toBe('gpu');
    expect(adapterKind({ vendor: 'apple', description: 'Apple M2' })).toBe('gpu');
    expect(adapterKind({})).toBe('gpu');
  });

  it('software adapters get workgroups of one SIMD chunk with fat invocations; GPUs many thin lanes', () => {
    const sw = chooseReduceShapes(LAVAPIPE, DEFAULT_LIMITS);
    expect(sw).toMatchObject({ kind: 'software', rowLanes: 8, groupLanes: 8 });
    expect(sw.vec4PerLane).toBeGreaterThanOrEqual(16);
    // A 16-lane SIMD (AVX-512 build of lavapipe, reported through the subgroup size) gets 16 lanes.
    expect(chooseReduceShapes({ ...LAVAPIPE, subgroupMinSize: 16 }, DEFAULT_LIMITS).rowLanes).toBe(16);
    const hw = chooseReduceShapes(NVIDIA, DEFAULT_LIMITS);
    expect(hw.kind).toBe('gpu');
    expect(hw.rowLanes).toBe(256);
    expect(hw.vec4PerLane).toBeLessThan(sw.vec4PerLane);
    expect(hw.minWorkgroups).toBeGreaterThan(sw.minWorkgroups);
  });

  it('is deterministic and valid under any limits', () => {
    fc.assert(fc.property(traitsArb, limitsArb, (a, l) => {
      const s = chooseReduceShapes(a, l);
      expect(chooseReduceShapes({ ...a }, { ...l })).toEqual(s);
      for (const lanes of [s.rowLanes, s.groupLanes]) {
        expect(isPow2(lanes)).toBe(true);
        expect(lanes).toBeLessThanOrEqual(Math.max(1, Math.min(l.maxComputeInvocationsPerWorkgroup, l.maxComputeWorkgroupSizeX)));
      }
      expect(s.groupLanes * 8).toBeLessThanOrEqual(Math.max(8, l.maxComputeWorkgroupStorageSize));
      expect(s.vec4PerLane).toBeGreaterThanOrEqual(1);
      expect(s.minWorkgroups).toBeGreaterThanOrEqual(1);
      expect(s.minWorkgroups).toBeLessThanOrEqual(l.maxComputeWorkgroupsPerDimension);
    }), { numRuns: 300 });
  });

  it('caches per adapter and limits; overrides apply to one device and are clamped', () => {
    const devA = {} as GPUDevice, devB = {} as GPUDevice, devC = {} as GPUDevice;
    registerAdapter(devA, LAVAPIPE);
    registerAdapter(devB, { ...LAVAPIPE });
    registerAdapter(devC, NVIDIA);
    const a = reduceShapesFor({ device: devA, limits: DEFAULT_LIMITS });
    expect(reduceShapesFor({ device: devB, limits: { ...DEFAULT_LIMITS } })).toBe(a);
    expect(reduceShapesFor({ device: devC, limits: DEFAULT_LIMITS }).kind).toBe('gpu');
    // Lower limits (a runtime with limit overrides) give another, valid entry.
    expect(reduceShapesFor({ device: devC, limits: { ...DEFAULT_LIMITS, maxComputeInvocationsPerWorkgroup: 64 } }).rowLanes).toBe(64);
    overrideReduceShapes(devA, { rowLanes: 1000, vec4PerLane: 4 });
    expect(reduceShapesFor({ device: devA, limits: DEFAULT_LIMITS })).toMatchObject({ rowLanes: 256, vec4PerLane: 4, groupLanes: 8 });
    expect(reduceShapesFor({ device: devB, limits: DEFAULT_LIMITS })).toBe(a);
    overrideReduceShapes(devA, undefined);
    expect(reduceShapesFor({ device: devA, limits: DEFAULT_LIMITS })).toBe(a);
  });

  it('reduction plans: chunks keep ≥ vec4PerLane vec4s each, rows per lane leave the device filled', () => {
    fc.assert(fc.property(traitsArb, limitsArb, fc.integer({ min: 1, max: 1 << 22 }), fc.integer({ min: 1, max: 1 << 22 }), (a, l, outer, len4) => {
      const s = chooseReduceShapes(a, l);
      const G = vec4Chunks(outer, len4, s);
      expect(Number.isInteger(G) && G >= 1).toBe(true);
      if (G > 1) {
        expect(Math.floor(len4 / G)).toBeGreaterThanOrEqual(s.vec4PerLane);
        expect(outer * G).toBeLessThanOrEqual(Math.max(outer, s.minWorkgroups * s.rowLanes + outer));
      }
      const C = colChunks(outer, len4, s);
      expect(Number.isInteger(C) && C >= 1).toBe(true);
      if (C > 1) expect(Math.floor(len4 / C)).toBeGreaterThanOrEqual(s.vec4PerLane);
      const R = len4 % 97 + 1;
      const k = rowsPerLane(outer, R, s);
      expect(Number.isInteger(k) && k >= 1).toBe(true);
      if (k > 1) {
        expect(k * R).toBeLessThanOrEqual(4 * s.vec4PerLane);
        expect(Math.ceil(outer / k)).toBeGreaterThanOrEqual(s.minWorkgroups * s.rowLanes);
      }
    }), { numRuns: 300 });
    // The lavapipe plan of a 16M-element sum: ≥ 2048 invocations of 2048 vec4s, then one short pass.
    const sw = chooseReduceShapes(LAVAPIPE, DEFAULT_LIMITS);
    expect(vec4Chunks(1, 1 << 22, sw)).toBe(2048);
    expect(vec4Chunks(1, 2048 / 4, sw)).toBe(1);
    expect(rowsPerLane(256 * 32 * 14 * 14, 4, sw)).toBe(64);
  });
});

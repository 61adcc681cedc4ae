/**
 * The benchmark harness and report (bench/harness.ts, bench/report.ts) with fake sides, no device:
 * wgrad's ratio is to the fastest peer, every peer is cross-checked against wgrad, each side gets
 * its own repeats, a side timed in another process reports its own milliseconds, and the report
 * says when a peer cannot run a row and shows the host time per step.
 */
import { describe, expect, it } from 'vitest';
import { type RowSpec, type Side, type SideImpl, runRow } from '../bench/harness.js';
import { markdown, type RunInfo } from '../bench/report.js';

const spec: RowSpec = { group: 'train', id: 'train.fake', name: 'fake step', shape: 'tiny', metric: 'steps/s', work: 1, tol: 1e-3, batch: 2 };
const opts = { budgetS: 0.05, minRepeats: 2, maxRepeats: 8, gpuRepeats: 1, instrumentAboveMs: 2000, hostRepeats: 2, log: () => {} };

/** A side that "takes" `ms` per run (reported as its own time, like a peer process) and checks as `vals`. */
function fake(name: string, ms: number, vals: number[], extra: Partial<SideImpl> = {}): Side & { runs: () => number } {
  let runs = 0;
  return {
    name,
    runs: () => runs,
    make: async () => ({
      run: async () => { runs++; return ms; },
      check: async () => vals,
      dispose: () => {},
      ...extra,
    }),
  };
}

describe('bench harness: wgrad against several peers', () => {
  it('reports the ratio to the fastest peer and names it', async () => {
    const r = await runRow(spec, [fake('wgrad', 10, [1, 2]), fake('jax-webgpu', 40, [1, 2]), fake('tfjs-wasm', 5, [1, 2])], opts);
    expect(r.best?.peer).toBe('tfjs-wasm');
    expect(r.wgrad.ms).toBe(10);
    expect(r.ratio).toBeCloseTo(0.5, 10);
    expect(Object.keys(r.peers).sort()).toEqual(['jax-webgpu', 'tfjs-wasm']);
  });

  it('cross-checks every peer against wgrad; one wrong peer fails the row and only that peer', async () => {
    const r = await runRow(spec, [fake('wgrad', 1, [1, 2]), fake('jax-webgpu', 1, [1, 2.0001]), fake('tfjs-webgpu', 1, [1, 2.5])], opts);
    expect(r.peers['jax-webgpu'].check?.status).toBe('ok');
    expect(r.peers['tfjs-webgpu'].check?.status).toBe('FAIL');
    expect(r.check.status).toBe('FAIL');
    expect(r.check.relErr).toBeCloseTo(0.25, 6);
  });

  it('gives each side repeats by its own warm-up time, so a slow peer does not cut the fast ones', async () => {
    const fast = fake('wgrad', 5, [1]), slow = fake('jax-wasm', 50, [1]);
    const r = await runRow(spec, [fast, slow], { ...opts, budgetS: 0.03 });
    expect(r.wgrad.repeats).toBe(30 / 5);
    expect(r.peers['jax-wasm'].repeats).toBe(2);
    expect(r.wgrad.samples).toHaveLength(r.wgrad.repeats!);
  });

  it('keeps host-time samples (median host ms, dispatches, µs per dispatch)', async () => {
    let i = 0;
    const host = async () => ({ hostMs: [4, 6, 100][i++ % 3], waitMs: 1, dispatches: 50, submits: 1 });
    const r = await runRow(spec, [fake('wgrad', 3, [1], { host })], opts);
    expect(r.host).toEqual({ hostMs: 5, waitMs: 1, dispatches: 50, submits: 1, usPerDispatch: 100, samples: 2 });
  });
});

describe('bench report', () => {
  it('shows every peer, "cannot run" with the reason, and the host-time table', async () => {
    const host = async () => ({ hostMs: 2, waitMs: 8, dispatches: 40, submits: 1 });
    const r = await runRow(spec, [fake('wgrad', 10, [1], { host }), fake('jax-webgpu-jit', 20, [1])], opts);
    r.peers['tfjs-wasm'] = { ok: false, cannot: true, error: 'TF.js Wasm has no Conv2DBackpropFilter kernel' };
    const info: RunInfo = {
      date: 'd', mode: 'quick', command: 'c', node: 'n', cpu: 'cpu', cores: 2, loadBefore: [0], loadAfter: [0], adapter: 'a',
      wgradBackend: 'webgpu', peers: { 'jax-webgpu-jit': { describe: 'jax' }, 'tfjs-wasm': { describe: 'tf' } }, timing: 't',
      gitCommit: 'g', durationS: 1, ceilings: {}, notes: [],
    };
    const md = markdown([r], info);
    expect(md).toContain('| wgrad | jax-js WebGPU + jit | TF.js Wasm | fastest peer | ratio |');
    expect(md).toMatch(/\| fake step \| tiny \| steps\/s \| 100 \(200 img\/s\) \| 50\.0 \(100 img\/s\) \| cannot run \| jax-js WebGPU \+ jit \| 2\.00× \|/);
    expect(md).toContain('TF.js Wasm: cannot run: TF.js Wasm has no Conv2DBackpropFilter kernel');
    expect(md).toContain('## Host time per training step');
  });
});

/**
 * The optimizers' step count on the device (src/optim/device-count.ts): an int32 scalar in the
 * state; schedules and Adam's bias corrections looked up by it give exactly the float32 values the
 * host computed before (float64, rounded once), at every count, past a schedule's end and at the
 * int32 limit; a state saved with a number count (before counts moved to the device) continues bit
 * for bit, in memory and through a run directory's checkpoint; a plain-function schedule keeps a
 * host count; a CLI training step replays under jit (test/jit.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import * as io from '../src/io/node.js';
import * as optim from '../src/optim/index.js';
import { checkpointLeaves, differing, wgrad, writeIdx } from './helpers/cli.js';

beforeAll(async () => {
  await wg.init({ backend: 'cpu' });
});

const INT32_MAX = 2 ** 31 - 1;

/** −lr at `count`, as scaleByLearningRate computes it from a device count. */
async function rateAt(lr: optim.ScalarOrSchedule, count: number): Promise<number> {
  const t = optim.scaleByLearningRate(lr);
  const [u, s] = t.update({ x: wg.ones([]) }, { count: wg.tensor(count, { dtype: 'int32' }) });
  const v = await u.x.item();
  wg.dispose([u, s]);
  return v;
}

describe('the count lives on the device', () => {
  it('init makes an int32 scalar; each update adds one on the device, saturating at the int32 maximum', async () => {
    const t = optim.scaleByLearningRate(optim.cosineDecaySchedule(0.1, 10));
    const s0 = t.init({});
    expect(s0.count).toBeInstanceOf(wg.Tensor);
    expect([(s0.count as wg.Tensor).dtype, (s0.count as wg.Tensor).shape]).toEqual(['int32', []]);
    const [u, s1] = t.update({ x: wg.ones([]) }, s0);
    expect(await (s1.count as wg.Tensor).item()).toBe(1);
    const [v, sMax] = t.update({ x: wg.ones([]) }, { count: wg.tensor(INT32_MAX, { dtype: 'int32' }) });
    expect(await (sMax.count as wg.Tensor).item()).toBe(INT32_MAX);
    wg.dispose([s0, u, s1, v, sMax]);
    const adam = optim.adam({ lr: 1e-3 }).init({ w: wg.zeros([2]) }) as [optim.AdamState, optim.CountState];
    expect([adam[0].count, adam[1].count].map((c) => (c as wg.Tensor).dtype)).toEqual(['int32', 'int32']);
    wg.dispose(adam);
  });

  it('each schedule looked up on the device is its host value rounded to float32, to past its end', async () => {
    const schedules: [string, optim.Schedule, number[]][] = [
      ['warmup cosine', optim.warmupCosineDecaySchedule({ initValue: 0.01, peakValue: 0.3, warmupSteps: 7, decaySteps: 40, endValue: 0.001 }), [0, 1, 6, 7, 8, 23, 39, 40, 41, 1000, INT32_MAX]],
      ['cosine', optim.cosineDecaySchedule(0.7, 33, 0.1), [0, 1, 16, 32, 33, 34, INT32_MAX]],
      ['linear', optim.linearSchedule(1, 0.2, 10, 5), [0, 4, 5, 6, 14, 15, 16, 99]],
      ['piecewise', optim.piecewiseConstantSchedule(0.5, { 3: 0.1, 8.5: 0.3 }), [0, 2, 3, 8, 9, 10, INT32_MAX]],
      ['step', optim.stepSchedule(0.3, { stepSize: 4, gamma: 0.5 }), [0, 3, 4, 7, 8, 100, 1000, INT32_MAX]],
      ['constant', optim.constantSchedule(0.25), [0, 5, INT32_MAX]],
      ['tabulated', optim.tabulatedSchedule((c) => 0.1 / (1 + c), 12), [0, 1, 11, 12, 13, 500]],
    ];
    for (const [name, s, counts] of schedules) {
      expect(s.table, name).toBeDefined();
      for (const c of counts) {
        const host = name === 'tabulated' ? 0.1 / (1 + Math.min(c, 12)) : s(c);
        expect([name, c, await rateAt(s, c)]).toEqual([name, c, Math.fround(-host)]);
      }
    }
  });

  it('Adam\'s bias corrections are 1/(1 − b^t) rounded to float32 once, at every count (the table ends where they round to 1)', async () => {
    const opt = optim.scaleByAdam({ b1: 0.9, b2: 0.999 });
    for (const count of [0, 1, 2, 157, 158, 16_000, 16_700, 20_000, INT32_MAX - 1]) {
      const t = count + 1;
      // g = 1 and zero moments: μ = 0.1, ν = 0.001, so the output is (0.1·c1)/(√(0.001·c2) + 1e-8) in float32.
      const [u, s] = opt.update({ x: wg.ones([]) }, { count: wg.tensor(count, { dtype: 'int32' }), mu: { x: wg.zeros([]) }, nu: { x: wg.zeros([]) } });
      const f = Math.fround, c1 = f(1 / (1 - 0.9 ** t)), c2 = f(1 / (1 - 0.999 ** t));
      const want = f(f(f(0.1) * c1) / f(f(Math.sqrt(f(f(0.0010000000474974513) * c2))) + f(1e-8)));
      expect([count, await u.x.item()]).toEqual([count, want]);
      wg.dispose([u, s]);
    }
  });

  it('a state saved with a number count (before counts moved to the device) continues bit for bit', async () => {
    const opt = optim.makeOptimizer({ name: 'lars', lr: 0.3, schedule: 'cosine', warmupSteps: 3, totalSteps: 10 });
    const params = { w: wg.random.normal(wg.random.key(1), [3, 3]), b: wg.ones([3]) };
    const g = { w: wg.random.normal(wg.random.key(2), [3, 3]), b: wg.full([3], 0.5) };
    let state = opt.init(params);
    for (let i = 0; i < 4; i++) {
      const [, next] = opt.update(g, state, params);
      wg.dispose(state);
      state = next;
    }
    const asNumbers = wg.treeMap(state, (t) => t) as unknown[];
    const old = await Promise.all(asNumbers.map(async (s) => (s && typeof s === 'object' && 'count' in s ? { ...s, count: await (s.count as wg.Tensor).item() } : s)));
    const [uNew, sNew] = opt.update(g, state, params);
    const [uOld, sOld] = opt.update(g, old, params);
    const bits = async (tree: unknown) => Promise.all(wg.treeLeaves(tree).map(async ([p, t]) => [p, Array.from(await t.data())]));
    expect(await bits([uOld, sOld])).toEqual(await bits([uNew, sNew]));
    wg.dispose([params, g, state, uNew, sNew, uOld, sOld]);
  });
});

describe('a schedule given as a plain function', () => {
  it('keeps a host count (as before); a device count with it is a WgradError saying what to do', async () => {
    const plain = (c: number) => [0.1, 0.5, 0.25][c];
    const t = optim.scaleByLearningRate(plain);
    const s0 = t.init({});
    expect(s0.count).toBe(0);
    const [u, s1] = t.update({ x: wg.ones([]) }, s0);
    expect([await u.x.item(), s1.count]).toEqual([Math.fround(-0.1), 1]);
    expect(() => t.update({ x: wg.ones([]) }, { count: wg.tensor(1, { dtype: 'int32' }) })).toThrow(/scaleByLearningRate: .*step count on the device, but this schedule is a plain function.*tabulatedSchedule/);
    expect(() => optim.tabulatedSchedule(plain, -1)).toThrow(/tabulatedSchedule: steps must be an integer/);
    expect(() => t.update({ x: wg.ones([]) }, { count: wg.tensor(1) })).toThrow(/scaleByLearningRate: .*plain function/);
    const d = optim.scaleByLearningRate(0.1);
    expect(() => d.update({ x: wg.ones([]) }, { count: wg.tensor(1) })).toThrow(/scaleByLearningRate: the state's count must be an int32 scalar, got float32 \[\]/);
    expect(() => d.update({ x: wg.ones([]) }, { count: 1.5 })).toThrow(/scaleByLearningRate: the state's count must be an integer in \[0, 2\^31\), got 1.5/);
    wg.dispose([u, s1]);
  });
});

describe('run directories', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgrad-optim-count-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a checkpoint stores the counts as int32 scalars; one written with number counts (older runs) resumes bit for bit', async () => {
    const data = join(dir, 'data');
    writeIdx(data, 16);
    const common = ['--method', 'simclr', '--data', data, '--batch', '8', '--width', '2', '--proj-dim', '4', '--warmup-epochs', '1', '--epochs', '2', '--optimizer', 'adam'];
    const full = join(dir, 'full'), parts = join(dir, 'parts');
    expect((await wgrad('train', ...common, '--out', full)).status).toBe(0);
    expect((await wgrad('train', ...common, '--out', parts, '--stop-after', '1')).status).toBe(0);
    const path = join(parts, 'checkpoint.safetensors');
    const { tree } = await io.loadCheckpoint<{ state: { opt: unknown } }>(path);
    const counts = wg.treeLeaves(tree.state.opt).filter(([p]) => p.endsWith('count'));
    expect(counts.map(([, t]) => [t.dtype, t.shape])).toEqual([['int32', []], ['int32', []]]);
    // The older form: each count a number in the checkpoint's JSON.
    const old = await Promise.all((tree.state.opt as object[]).map(async (s) => ('count' in s ? { ...s, count: await (s.count as wg.Tensor).item() } : s)));
    await io.saveCheckpoint(path, { ...tree, state: { ...tree.state, opt: old } }, { metadata: { method: 'simclr' } });
    wg.dispose(tree);
    const r = await wgrad('train', ...common, '--out', parts, '--resume');
    expect(r.status, r.stderr).toBe(0);
    expect(differing(await checkpointLeaves(parts), await checkpointLeaves(full))).toEqual([]);
  }, 120_000);
});

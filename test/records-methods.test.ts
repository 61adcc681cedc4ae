/**
 * A method is one record (src/ssl/method.ts): a tiny method defined here, with an option set by its
 * own flag and a state slot of its own, is registered with one call and then trains, checkpoints,
 * resumes bit for bit, refuses a changed option on --resume, validates its flag and appears in
 * `wgrad train --help` — with no other change to the command line. Also: the built-in list's
 * declarations are consistent, and registerMethod refuses a bad record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init } from '../src/init.js';
import * as io from '../src/io/node.js';
import * as ssl from '../src/ssl/index.js';
import { add } from '../src/tensor/ops/elementwise.js';
import { zeros } from '../src/tensor/ops/creation.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { checkpointLeaves, differing, wgrad, writeIdx } from './helpers/cli.js';

/** Its own state: the count of steps taken, as a tensor (so it is checkpointed like the rest). */
type TinyState = ssl.SslState & { seen: Tensor };

/** A domain-agnostic method: NT-Xent between two Gaussian-noise views of width `sigma` (noiseStep), counting its steps. */
const TINY: ssl.MethodRecord<{ sigma: number }, TinyState> = {
  name: 'tiny',
  summary: 'a test method: noise views, counting its steps',
  domains: ['image', 'tabular', 'audio'],
  optimizer: 'sgd',
  defaults: { sigma: 0.05 },
  flags: [{ flag: 'tiny-sigma', key: 'sigma', spec: { kind: 'number', min: 0, max: 1, help: 'σ of the tiny views' } }],
  init: (params, modelState, _key, _o, ctx) => ({ ...ssl.initState(params, modelState, ctx.optimizer), seen: zeros([]) }),
  step: (o, ctx) => (p, st, x, k) => {
    const r = ssl.noiseStep(p, st, x, k, { optimizer: ctx.optimizer, sigma: o.sigma, regularizer: ctx.regularizer });
    return { ...r, state: { ...r.state, seen: add(st.seen, 1) } };
  },
};

let dir: string, data: string;

beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = mkdtempSync(join(tmpdir(), 'wgrad-records-'));
  data = join(dir, 'data');
  writeIdx(data, 32);
  ssl.registerMethod(TINY);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tiny = () => ['--method', 'tiny', '--data', data, '--batch', '8', '--width', '2', '--proj-dim', '4', '--warmup-epochs', '1', '--epochs', '2'];

describe('a method added by one record', () => {
  it('appears in wgrad train --help with its flag, and in compare --help', async () => {
    const r = await wgrad('train', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--method simclr\|rocl\|idaa\|noise\|mask\|aplr\|supervised\|supervised-at\|tiny/);
    expect(r.stdout).toMatch(/--tiny-sigma X +tiny: σ of the tiny views \(default 0\.05\)/);
    expect(r.stdout).toMatch(/\n {2}tiny +a test method: noise views, counting its steps \(images, tables, audio; sgd\)/);
    expect((await wgrad('compare', '--help')).stdout).toMatch(/\n {2}tiny +a test method/);
  });

  it('compare runs it, with the regularizer (an option group every method takes)', async () => {
    const out = join(dir, 'compare');
    const r = await wgrad('compare', '--methods', 'tiny+reg', '--regularizer', '0.5', '--reg-steps', '1', '--tiny-sigma', '0.1', '--data', data, '--batch', '8', '--width', '2',
      '--epochs', '1', '--probe-epochs', '1', '--robust-limit', '4', '--steps', '1', '--knn-k', '3', '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const { tree } = await io.loadCheckpoint<{ config: object }>(join(out, 'runs', 'tiny-reg', 'checkpoint.safetensors'));
    expect(tree.config).toMatchObject({ method: 'tiny', regularizer: 0.5, options: { sigma: 0.1 }, regularizerOptions: { steps: 1 } });
  }, 120_000);

  it('trains with its own state slot, resumes bit for bit, and refuses another value of its option on --resume', async () => {
    const full = join(dir, 'tiny-full'), parts = join(dir, 'tiny-parts');
    const a = await wgrad('train', ...tiny(), '--tiny-sigma', '0.1', '--out', full);
    expect(a.status, a.stderr).toBe(0);
    expect(a.stderr).toMatch(/sgd lr 0\.1/); // the record's default optimizer, at its default rate
    expect((await wgrad('train', ...tiny(), '--tiny-sigma', '0.1', '--out', parts, '--stop-after', '1')).status).toBe(0);
    const r = await wgrad('train', ...tiny(), '--tiny-sigma', '0.1', '--out', parts, '--resume');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resuming/);
    const leaves = await checkpointLeaves(parts);
    expect(differing(leaves, await checkpointLeaves(full))).toEqual([]);
    const { tree } = await io.loadCheckpoint<{ config: { method: string; options: object }; state: { seen: Tensor } }>(join(parts, 'checkpoint.safetensors'));
    expect(tree.config).toMatchObject({ method: 'tiny', options: { sigma: 0.1 } });
    expect(await tree.state.seen.item()).toBe(8); // 2 epochs of 32/8 steps, across the resume
    const other = await wgrad('train', ...tiny(), '--tiny-sigma', '0.2', '--out', parts, '--resume');
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/sigma = 0\.1, not 0\.2 \(an option of tiny: --tiny-sigma\)/);
  }, 120_000);

  it('a run stored with another version of the method\'s state is refused on --resume, and still evaluates', async () => {
    const run = join(dir, 'tiny-old');
    expect((await wgrad('train', ...tiny(), '--out', run, '--stop-after', '1')).status).toBe(0);
    const path = join(run, 'checkpoint.safetensors');
    const { tree } = await io.loadCheckpoint<{ config: Record<string, unknown> }>(path);
    tree.config.methodVersion = 5; // as if tiny's stored state had changed since
    await io.saveCheckpoint(path, tree);
    const r = await wgrad('train', ...tiny(), '--out', run, '--resume');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/tiny's state of version 5, but tiny now keeps version 1 \(it changed since\): train a new run/);
    const e = await wgrad('eval', '--checkpoint', run, '--probe-epochs', '1', '--robust-limit', '4', '--steps', '1', '--knn-k', '3');
    expect(e.status, e.stderr).toBe(0);
  }, 120_000);

  it('its flag is checked against its bounds before any work, and other methods refuse it', async () => {
    const out = join(dir, 'never');
    const bad = await wgrad('train', ...tiny(), '--tiny-sigma', '2', '--out', out);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--tiny-sigma 2: must be ≤ 1 \(for tiny\)/);
    const unused = await wgrad('train', '--method', 'simclr', '--data', data, '--tiny-sigma', '0.1', '--out', out);
    expect(unused.status).toBe(2);
    expect(unused.stderr).toMatch(/--tiny-sigma is not used by --method simclr \(it is an option of tiny\)/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('the method list', () => {
  it('every flag sets an option of its record; a flag shared by records has one kind; compare runs every domain', () => {
    const kinds = new Map<string, string>();
    for (const m of ssl.METHODS) {
      for (const f of m.flags) {
        expect(Object.keys(m.defaults), `${m.name} --${f.flag}`).toContain(f.key);
        expect(kinds.get(f.flag) ?? f.spec.kind, `--${f.flag}`).toBe(f.spec.kind);
        kinds.set(f.flag, f.spec.kind);
      }
      expect(ssl.methodOptions(m)).toEqual({ ...m.defaults });
    }
    for (const d of ssl.DATA_DOMAINS) expect(ssl.METHODS.some((m) => m.compare?.includes(d)), d).toBe(true);
  });

  it('registerMethod refuses a taken or malformed name, a flag for no option, and a flag of another kind', () => {
    expect(() => ssl.registerMethod({ ...TINY })).toThrow(/"tiny": a method of that name exists/);
    expect(() => ssl.registerMethod({ ...TINY, name: 'random' })).toThrow(/not "random"/);
    expect(() => ssl.registerMethod({ ...TINY, name: 'a+b' })).toThrow(/lower-case word/);
    expect(() => ssl.registerMethod({ ...TINY, name: 'tiny2', flags: [{ flag: 'x', key: 'nope' as never, spec: { kind: 'int', help: '' } }] })).toThrow(/--x sets nope, which is not among its options \(sigma\)/);
    expect(() => ssl.registerMethod({ ...TINY, name: 'tiny3', flags: [{ flag: 'eps', key: 'sigma', spec: { kind: 'int', help: '' } }] })).toThrow(/--eps is a int here but a number/);
  });

  it('methodOptions checks stored values against the flags\' bounds and fills what a run predates from `before`', () => {
    expect(() => ssl.methodOptions(ssl.ROCL, { eps: 0 })).toThrow(/rocl: option eps \(--eps\) = 0: must be > 0/);
    expect(ssl.methodOptions(ssl.APLR, {}, true)).toMatchObject({ generatorSchedule: 'constant', perturbation: 'learned' });
    expect(ssl.methodOptions(ssl.APLR, {})).toMatchObject({ generatorSchedule: ssl.APLR_DEFAULTS.generatorSchedule });
  });
});

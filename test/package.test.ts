/**
 * The package as a user gets it: `npm pack` (which builds dist/ through `prepare`), the tarball
 * installed into a fresh temporary project, and there
 * - its contents: dist/ only (no sources, tests, data or source maps);
 * - plain Node ESM scripts (no tsx): without the optional `webgpu` peer dependency, `wgrad/node`
 *   loads, the CPU backend trains and `init()` on WebGPU says to `npm install webgpu`; a GPU entry
 *   point without adapters gives apt commands a package user can run; with `webgpu` (linked from
 *   this repository's node_modules, no network) a small model trains with `grad` on WebGPU (the CPU
 *   backend only when there is no adapter, and never under CI=true);
 * - strict TypeScript consumers (skipLibCheck: false, module nodenext, this repository's tsc) of
 *   both entry points: a Node one with @types/node and no DOM lib, and a browser one with the DOM lib
 *   and no Node types.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'wgrad-package-'));
const app = join(work, 'app');
let tarball = '';

/** Runs a command (asynchronously: a blocked worker loses its link to vitest). */
function exec(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; out: string }> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { cwd, env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, out }));
  });
}

/** Runs a command; throws with its output when it fails. */
async function run(cmd: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const { code, out } = await exec(cmd, args, cwd, env);
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${code}):\n${out}`);
  return out;
}

/** A plain Node script in the app, run without tsx; returns its last output line parsed as JSON. */
async function node(name: string, code: string): Promise<Record<string, unknown>> {
  writeFileSync(join(app, name), code);
  const env = { ...process.env };
  delete env.WGRAD_BACKEND;
  delete env.NODE_OPTIONS; // vitest's loader hooks must not help the script
  const lines = (await run(process.execPath, [name], app, env)).trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

/** Compiles `files` in their own folder of the app with these compiler options; returns tsc's output. */
async function tsc(config: object, files: Record<string, string>): Promise<string> {
  const dir = join(app, `tsc-${Object.keys(files)[0].replace(/\W/g, '')}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: config, include: ['*.ts'] }));
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return (await exec(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], dir)).out.trim();
}

const STRICT = {
  strict: true,
  skipLibCheck: false,
  module: 'nodenext',
  moduleResolution: 'nodenext',
  target: 'es2022',
  noEmit: true,
  noUncheckedIndexedAccess: true,
};

beforeAll(async () => {
  mkdirSync(app);
  await run('npm', ['pack', '--pack-destination', work, '--loglevel=error'], root);
  const found = readdirSync(work).filter((f) => f.endsWith('.tgz'));
  expect(found).toHaveLength(1);
  tarball = join(work, found[0]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  await run('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], app);
  // Type packages for the Node consumer, linked from this repository (no network).
  mkdirSync(join(app, 'node_modules/@types'), { recursive: true });
  symlinkSync(join(root, 'node_modules/@types/node'), join(app, 'node_modules/@types/node'), 'dir');
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the packed package', () => {
  it('holds dist/ (JavaScript and .d.ts) and nothing else of the repository', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''));
    const outside = files.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE'].includes(f));
    expect(outside).toEqual([]);
    expect(files.filter((f) => !/\.(js|d\.ts)$/.test(f) && f.startsWith('dist/'))).toEqual([]);
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/node.js', 'dist/node.d.ts']) expect(files).toContain(f);
  });

  it('wgrad/node without the webgpu package: loads, trains on the CPU, and says how to get WebGPU', async () => {
    const r = await node('no-webgpu.mjs', `
      import * as wg from 'wgrad/node';
      import * as web from 'wgrad';
      const out = {};
      try { await wg.init(); out.init = 'no error'; } catch (e) { out.init = { wgrad: e instanceof wg.WgradError, message: e.message }; }
      try { await wg.init({ gpu: { requestAdapter: async () => null } }); out.noAdapter = 'no error'; }
      catch (e) { out.noAdapter = { wgrad: e instanceof wg.WgradError, message: e.message }; }
      await web.init({ backend: 'cpu' });
      const g = web.grad((x) => web.sum(web.mul(x, x)))(web.tensor([1, 2]));
      out.grad = await g.array();
      console.log(JSON.stringify(out));
    `);
    expect(r.init).toMatchObject({ wgrad: true });
    expect((r.init as { message: string }).message).toContain('npm install webgpu');
    expect((r.init as { message: string }).message).toContain("init({ backend: 'cpu' })");
    const noAdapter = r.noAdapter as { wgrad: boolean; message: string };
    expect(noAdapter.wgrad).toBe(true);
    expect(noAdapter.message).toContain('apt-get install');
    expect(noAdapter.message).toContain('mesa-vulkan-drivers');
    expect(noAdapter.message).not.toMatch(/setup\.sh|nodeGpu/);
    expect(r.grad).toEqual([2, 4]);
  });

  it('with webgpu installed, a plain Node script trains a small model with grad', async () => {
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    symlinkSync(join(root, 'node_modules/webgpu'), join(app, 'node_modules/webgpu'), 'dir');
    const r = await node('train.mjs', `
      import * as wg from 'wgrad/node';
      let report, fallback = null;
      try { report = await wg.init(); }
      catch (e) {
        if (process.env.CI === 'true' || !/no WebGPU adapter/.test(e.message)) throw e;
        fallback = e.message;
        report = await wg.init({ backend: 'cpu' });
      }
      // Linear regression y = x·[2, -3] + 0.5 by gradient descent on { w, b }.
      const [kx, kw] = wg.random.split(wg.random.key(1), 2);
      const x = wg.random.normal(kx, [64, 2]);
      const y = wg.add(wg.matmul(x, wg.tensor([[2], [-3]])), 0.5);
      let params = { w: wg.random.normal(kw, [2, 1]), b: wg.zeros([1]) };
      const loss = (p, x, y) => wg.mean(wg.square(wg.sub(wg.add(wg.matmul(x, p.w), p.b), y)));
      const first = await loss(params, x, y).item();
      for (let step = 0; step < 40; step++) {
        const next = wg.tidy(() => {
          const g = wg.grad(loss)(params, x, y);
          return wg.optim.applyUpdates(params, wg.treeMap(g, (t) => wg.mul(t, -0.3)));
        });
        wg.dispose(params);
        params = next;
      }
      const last = await loss(params, x, y).item();
      console.log(JSON.stringify({ backend: report.backend, fallback, first, last, w: await params.w.array(), b: await params.b.array() }));
    `);
    if (process.env.CI === 'true' || r.fallback === null) expect(r.backend).toBe('webgpu');
    expect(r.first).toBeGreaterThan(1);
    expect(r.last).toBeLessThan(1e-4);
    const [[w0], [w1]] = r.w as number[][];
    expect(w0).toBeCloseTo(2, 2);
    expect(w1).toBeCloseTo(-3, 2);
    expect((r.b as number[])[0]).toBeCloseTo(0.5, 2);
  });

  it('strict TypeScript consumers compile against the published types (skipLibCheck: false)', async () => {
    const nodeConsumer = `
      import * as wg from 'wgrad/node';
      import { Tensor, WgradError, type InitOptions } from 'wgrad';
      const opts: InitOptions = { backend: 'cpu', powerPreference: 'high-performance' };
      await wg.init(opts);
      const f = (a: Tensor, b: { w: Tensor }) => wg.sum(wg.mul(a, b.w));
      // argnums as a plain array literal gives a tuple of gradients.
      const [ga, gb]: [Tensor, { w: Tensor }] = wg.grad(f, { argnums: [0, 1] })(wg.tensor([1]), { w: wg.tensor([2]) });
      { using t = wg.tensor([1, 2]); console.log(t.shape, ga.shape, gb.w.shape); }
      const e: WgradError | undefined = undefined;
      console.log(e, wg.io, wg.nn.mlp, wg.optim.adam);
    `;
    const nodeErrors = tsc({ ...STRICT, lib: ['es2022'], types: ['node'] }, { 'node-consumer.ts': nodeConsumer });
    const browserConsumer = `
      import * as wg from 'wgrad';
      export async function start(): Promise<number[]> {
        await wg.init({ gpu: navigator.gpu, powerPreference: 'low-power' });
        using x = wg.tensor([1, 2, 3]);
        return (await wg.grad((t: wg.Tensor) => wg.sum(wg.square(t)))(x).data()) as unknown as number[];
      }
    `;
    // navigator.gpu is not in TypeScript's DOM lib: declare it the way @webgpu/types would.
    const gpuGlobal = 'export {}; declare global { interface Navigator { readonly gpu: { requestAdapter(o?: object): Promise<object | null> } } }\n';
    const browserErrors = tsc({ ...STRICT, lib: ['es2022', 'dom'], types: [] }, { 'browser-consumer.ts': browserConsumer, 'gpu.d.ts': gpuGlobal });
    expect(await nodeErrors).toBe('');
    expect(await browserErrors).toBe('');
  });
});

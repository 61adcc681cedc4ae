/**
 * The demo page (demo/, `npm run demo`) end to end in headless Debian chromium: the server, the
 * page on the package's browser build, its training worker on the page's default backend ('auto':
 * here chromium's WebGPU adapter is SwiftShader, a CPU rasterizer, so wasm), a short RoCL run (loss
 * recorded and falling, examples and charts drawn, pause holding the step, the page responsive
 * throughout), its checkpoint read by the CLI's loadRun and `wgrad eval` with the page's weights,
 * Stop, a checkpoint written by `wgrad train` loaded into the page, and the message without WebGPU.
 * (test/browser.test.ts runs the WebGPU kernels and a RoCL step on chromium's WebGPU.)
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ensureBuild, startDemoServer } from '../demo/server.mjs';
import * as wg from '../src/index.js';
import { loadRun } from '../src/cli/run.js';
import { wgrad } from './helpers/cli.js';
import { launchChromium } from './helpers/chromium.js';

type DemoState = {
  state: string; backend: string; requested: string; adapter: string; reason: string; step: number; losses: number[]; epochs: { knn: number; linear: number }[];
  method: string; error: string; sweep?: { eps: number[] }; ticks: number; longestTaskMs: number;
};
declare const wgradDemo: DemoState & { params: () => Promise<Record<string, number[]>> };

let server: Server, url: string, browser: Browser, page: Page;
const tmp = mkdtempSync(join(tmpdir(), 'wgrad-demo-'));

beforeAll(async () => {
  ensureBuild();
  ({ server, url } = await startDemoServer(0));
  browser = await launchChromium();
  page = await browser.newPage();
  await wg.init({ backend: 'cpu' });
});

afterAll(async () => {
  await browser?.close();
  server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const demoState = () => page.evaluate(() => ({ ...wgradDemo, params: undefined }) as DemoState);
const waitFor = (state: string, timeout = 60_000) =>
  page.waitForFunction((s) => wgradDemo.state === s || wgradDemo.state === 'error', state, { timeout, polling: 100 });

/** The page's parameters and those of a checkpoint read by the CLI's loadRun, path by path. */
async function expectSameParams(dir: string): Promise<void> {
  const inPage = await page.evaluate(() => wgradDemo.params());
  const run = await loadRun(dir);
  try {
    const leaves = wg.treeLeaves(run.params);
    expect(leaves.map(([p]) => p)).toEqual(Object.keys(inPage));
    for (const [path, t] of leaves) expect(Array.from(await t.data()), path).toEqual(inPage[path]);
  } finally {
    wg.dispose(run);
  }
}

/** The form's run settings (the evaluation ones too: they are in the closed <details>). */
async function fillSettings(steps: string): Promise<void> {
  await page.selectOption('#method', 'rocl');
  await page.fill('#eps', '0.1');
  await page.fill('#batch', '8');
  await page.fill('#steps', steps);
  await page.fill('#train-images', '16');
  if (!(await page.isVisible('#test-images'))) await page.click('summary');
  for (const [id, v] of [['test-images', '32'], ['robust-limit', '8'], ['pgd-steps', '2'], ['sweep-eps', '0.05, 0.1'], ['probe-epochs', '3']]) await page.fill(`#${id}`, v);
}

test('npm run demo: a RoCL run in a worker on the default backend, paused and resumed, the page responsive, saved for wgrad eval', async () => {
  await page.goto(url);
  await waitFor('idle');
  const ready = await demoState();
  expect(ready.error).toBe('');
  // The page starts on 'auto' and says what it got and why: chromium's WebGPU here is SwiftShader.
  expect(await page.inputValue('#backend')).toBe('auto');
  expect([ready.requested, ready.backend]).toEqual(['auto', 'wasm']);
  expect(await page.textContent('#adapter')).toMatch(/^Backend: wasm — WebAssembly SIMD128.* — chosen by auto: the WebGPU adapter \(google swiftshader\) is a CPU rasterizer, slower than wasm$/);
  await fillSettings('6');
  await page.click('#start');

  await page.waitForFunction(() => wgradDemo.step >= 2, undefined, { timeout: 60_000 });
  const ticks = (await demoState()).ticks;
  await page.click('#pause'); // a real click: Playwright waits for the page to paint and take input
  await waitFor('paused');
  const held = (await demoState()).step;
  expect(held).toBeLessThan(6);
  await page.waitForTimeout(1000);
  expect((await demoState()).step).toBe(held); // no step while paused
  expect(await page.getAttribute('#pause', 'aria-pressed')).toBe('true');
  await page.focus('#pause');
  await page.keyboard.press('Enter'); // keyboard use: Enter on the focused button resumes
  await waitFor('done', 120_000);

  const done = await demoState();
  expect(done.error).toBe('');
  expect(done.losses).toHaveLength(6);
  expect(done.losses.every(Number.isFinite)).toBe(true);
  expect(done.losses.at(-1)!).toBeLessThan(done.losses[0]);
  // The page's 50 ms timer kept firing while the worker trained and evaluated, and the page's own
  // thread never started a backend: every tensor lived in the worker. (Training on the page's
  // thread, as the page once did, left gaps of a whole evaluation: 0.7 s on wasm, 6.6 s on CPU.)
  expect(done.ticks - ticks).toBeGreaterThan(15);
  expect(done.longestTaskMs).toBeLessThan(500);
  // A string, not a function: vitest rewrites import() in this file's functions.
  const pageThread = await page.evaluate(`import('/dist/index.js').then((w) => { try { return w.backendInfo().backend; } catch (e) { return e.message; } })`);
  expect(pageThread).toMatch(/^wgrad: no backend/);
  expect(done.epochs).toHaveLength(3); // 16 images / batch 8: an epoch is 2 steps
  expect(await page.locator('#accuracy tbody tr').count()).toBe(3);
  expect(await page.locator('#loss-chart svg circle').count()).toBe(6); // a point per step
  expect(await page.locator('#robust-chart svg').count()).toBe(1);
  expect(done.sweep?.eps).toEqual([0, 0.05, 0.1]);
  for (const kind of ['clean', 'view', 'adv', 'delta']) expect(await page.locator(`#examples canvas[data-kind="${kind}"]`).count(), kind).toBe(4);
  expect(await page.textContent('#examples caption')).toMatch(/RoCL's instance-wise PGD-7, ε = 0\.1/);

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
  expect(download.suggestedFilename()).toBe('checkpoint.safetensors');
  const dir = join(tmp, 'page-run');
  await download.saveAs(join(dir, 'checkpoint.safetensors'));
  await expectSameParams(dir);
  const r = await wgrad('eval', '--checkpoint', dir, '--train-limit', '16', '--test-limit', '8', '--robust-limit', '4', '--probe-epochs', '1', '--steps', '1', '--knn-k', '4', '--eval-eps', '0.05');
  expect(r.stderr).toContain('wgrad eval');
  expect(r.status).toBe(0);
  expect(existsSync(join(dir, 'eval', 'eval.json'))).toBe(true);
});

test('Stop ends a run after the current step; a checkpoint written by wgrad train loads into the page with its weights', async () => {
  await fillSettings('1000');
  await page.click('#start');
  await page.waitForFunction(() => wgradDemo.step >= 1, undefined, { timeout: 60_000 });
  await page.click('#stop');
  await waitFor('stopped');
  const stopped = await demoState();
  expect(stopped.error).toBe('');
  expect(stopped.step).toBeLessThan(10);
  expect(await page.isEnabled('#save')).toBe(true);

  const dir = join(tmp, 'cli-run');
  const r = await wgrad('train', '--method', 'simclr', '--data', 'subset', '--train-limit', '16', '--test-limit', '16', '--batch', '8', '--epochs', '1', '--out', dir);
  expect(r.status, r.stderr).toBe(0);
  const file = join(tmp, 'from-cli.safetensors');
  copyFileSync(join(dir, 'checkpoint.safetensors'), file);
  await page.setInputFiles('#load', file);
  await waitFor('done');
  const s = await demoState();
  expect(s.error).toBe('');
  expect(s.method).toBe('simclr');
  expect(await page.inputValue('#method')).toBe('simclr');
  expect(await page.textContent('#status')).toMatch(/Loaded from-cli\.safetensors: simclr, 1 epochs/);
  expect(await page.locator('#examples canvas[data-kind="view"]').count()).toBe(4);
  await expectSameParams(dir);

  // A file that is no run is refused with a message naming it, and the page keeps working.
  const bad = join(tmp, 'not-a-run.safetensors');
  copyFileSync(join(import.meta.dirname, '..', 'data', 'fashion-mnist-subset', 'README.md'), bad);
  await page.setInputFiles('#load', bad);
  await waitFor('error');
  expect((await demoState()).error).toMatch(/not-a-run\.safetensors/);
});

test('without WebGPU the page says so and offers the wasm backend', async () => {
  const bare = await browser.newPage();
  try {
    await bare.addInitScript(() => { delete (Navigator.prototype as { gpu?: unknown }).gpu; });
    await bare.goto(url);
    await bare.waitForFunction(() => wgradDemo.state === 'idle' || wgradDemo.state === 'error');
    expect(await bare.textContent('[role="alert"]')).toMatch(/^This browser has no WebGPU \(navigator\.gpu is missing.*wasm backend instead/);
    await bare.selectOption('#backend', 'cpu');
    await bare.waitForFunction(() => wgradDemo.backend === 'cpu' && wgradDemo.state === 'idle');
    await bare.click('text=Use the wasm backend');
    await bare.waitForFunction(() => wgradDemo.backend === 'wasm' && wgradDemo.state === 'idle');
    expect(await bare.inputValue('#backend')).toBe('wasm');
    expect(await bare.isHidden('[role="alert"]')).toBe(true);
  } finally {
    await bare.close();
  }
});

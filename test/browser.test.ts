/**
 * The browser build: compiles src/ with tsc, serves it on localhost, and runs wgrad in headless
 * Debian chromium on its own WebGPU (SwiftShader), through `navigator.gpu` only. Proves the core
 * imports no Node module and that both WebGPU implementations agree with the CPU reference.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as wg from '../src/index.js';

const root = normalize(join(import.meta.dirname, '..'));
const chromiumPath = '/usr/bin/chromium';
let server: Server;

type BrowserResult = { backend: string; product: number[][]; gradient: number[]; uniform: number[] } | { error: string };

// The page imports the compiled browser entry point (dist/index.js) as a module: no bundler, no Node.
const PAGE = `<!doctype html><title>wgrad</title><script type="module">
try {
  const w = await import('/dist/index.js');
  const report = await w.init();
  const a = w.tensor([[1, 2, 3], [4, 5, 6]]);
  const b = w.tensor([[1, 0], [0, 1], [2, -1]]);
  const product = await w.matmul(a, b).array();
  const gradient = await w.grad((x) => w.sum(w.mul(w.nn.softmax(w.mul(x, 0.5)), w.tensor([1, 2, 3]))))(a).data();
  const uniform = await w.random.uniform(w.random.key(42), [8]).data();
  window.result = { backend: report.backend, product, gradient: Array.from(gradient), uniform: Array.from(uniform) };
} catch (e) {
  window.result = { error: String(e && e.stack || e) };
}
</script>`;
let port = 0;

beforeAll(async () => {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  server = createServer((req, res) => {
    const path = normalize(join(root, decodeURIComponent((req.url ?? '/').split('?')[0])));
    if (req.url === '/') {
      res.setHeader('content-type', 'text/html');
      res.end(PAGE);
    } else if (path.startsWith(join(root, 'dist')) && existsSync(path)) {
      res.setHeader('content-type', extname(path) === '.js' ? 'text/javascript' : 'application/octet-stream');
      res.end(readFileSync(path));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  await wg.init({ backend: 'cpu' });
});

afterAll(() => server?.close());

test('wgrad runs in headless chromium on navigator.gpu and matches the CPU reference', async () => {
  expect(existsSync(chromiumPath), 'Debian chromium is installed by scripts/setup.sh').toBe(true);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--enable-unsafe-webgpu', '--no-sandbox', '--use-webgpu-adapter=swiftshader', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => (window as unknown as { result?: unknown }).result !== undefined, undefined, { timeout: 120_000 });
    const result = await page.evaluate(() => (window as unknown as { result: BrowserResult }).result);
    if ('error' in result) throw new Error(`in the browser: ${result.error}`);
    expect(result.backend).toBe('webgpu');
    expect(result.product).toEqual([[7, -1], [16, -1]]);
    const a = wg.tensor([[1, 2, 3], [4, 5, 6]]);
    const expected = await wg.grad((x: wg.Tensor) => wg.sum(wg.mul(wg.nn.softmax(wg.mul(x, 0.5)), wg.tensor([1, 2, 3]))))(a).data();
    result.gradient.forEach((g, i) => expect(g).toBeCloseTo(expected[i], 4));
    expect(result.uniform).toEqual(Array.from(await wg.random.uniform(wg.random.key(42), [8]).data()));
  } finally {
    await browser.close();
  }
});

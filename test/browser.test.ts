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
let port = 0;

beforeAll(async () => {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  server = createServer((req, res) => {
    const path = normalize(join(root, decodeURIComponent((req.url ?? '/').split('?')[0])));
    if (req.url === '/') {
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><title>wgrad</title>');
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
    const result = await page.evaluate(async () => {
      const w = await import('/dist/index.js' as string);
      const report = await w.init();
      const a = w.tensor([[1, 2, 3], [4, 5, 6]]);
      const b = w.tensor([[1, 0], [0, 1], [2, -1]]);
      const product = await w.matmul(a, b).array();
      const gradient = await w.grad((x: unknown) => w.sum(w.mul(w.nn.softmax(w.mul(x, 0.5)), w.tensor([1, 2, 3]))))(a).data();
      const uniform = await w.random.uniform(w.random.key(42), [8]).data();
      return { backend: report.backend, product, gradient: Array.from(gradient as Float32Array), uniform: Array.from(uniform as Float32Array) };
    });
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

/**
 * docs/demo.png: a screenshot of the demo page (npm run demo) after a real run, taken by the headless
 * Debian chromium the browser tests use (test/helpers/chromium.ts). Not in CI.
 *
 *   npx tsx scripts/demo-screenshot.ts [--backend auto|webgpu|wasm|cpu] [--method rocl] [--steps 24] [--out docs/demo.png]
 *
 * The default backend is the page's, auto: wasm beside chromium's SwiftShader WebGPU (a CPU
 * rasterizer). The page shows which backend ran and why.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBuild, ROOT, startDemoServer } from '../demo/server.mjs';
import { launchChromium } from '../test/helpers/chromium.js';

const { values: a } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' }, method: { type: 'string', default: 'rocl' }, steps: { type: 'string', default: '24' },
    out: { type: 'string', default: join(ROOT, 'docs', 'demo.png') },
  },
});

const SETTINGS: Record<string, string> = {
  batch: '16', 'train-images': '64', 'test-images': '200', 'robust-limit': '50', 'pgd-steps': '5', 'sweep-eps': '0, 0.02, 0.05, 0.1', 'probe-epochs': '10',
};

async function main(): Promise<void> {
  ensureBuild();
  const { server, url } = await startDemoServer(0);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
    await page.goto(url);
    await page.waitForFunction(() => (window as any).wgradDemo?.state === 'idle' || (window as any).wgradDemo?.state === 'error');
    await page.selectOption('#backend', a.backend!);
    await page.waitForFunction((b) => (window as any).wgradDemo.requested === b && (window as any).wgradDemo.state === 'idle', a.backend);
    await page.selectOption('#method', a.method!);
    await page.fill('#steps', a.steps!);
    await page.click('summary');
    for (const [id, v] of Object.entries(SETTINGS)) await page.fill(`#${id}`, v);
    await page.click('summary'); // closed again: the screenshot shows the results
    const t0 = Date.now();
    await page.click('#start');
    await page.waitForFunction(() => ['done', 'error'].includes((window as any).wgradDemo.state), undefined, { timeout: 30 * 60_000, polling: 1000 });
    const s = await page.evaluate(() => ({ state: (window as any).wgradDemo.state as string, error: (window as any).wgradDemo.error as string }));
    if (s.state === 'error') throw new Error(`the run failed in the page: ${s.error}`);
    mkdirSync(dirname(a.out!), { recursive: true });
    await page.screenshot({ path: a.out!, fullPage: true });
    process.stderr.write(`${a.out}: ${a.method} on ${a.backend}, ${a.steps} steps in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((e) => {
  process.stderr.write(`demo-screenshot: ${e instanceof Error ? e.message : e}\n`);
  process.exit(1);
});

/**
 * Why a RoCL step once never finished on chromium's WebGPU (SwiftShader), reproduced: wgrad fuses a
 * chain of N logical ors (random-resized-crop's "some attempt fits", src/data/augment.ts) into one
 * kernel; this script takes that kernel's WGSL from the page (init's dumpKernels) and times
 * SwiftShader's pipeline compile of it as wgrad writes it (boolean `|`) and with the short-circuit
 * `||` it used to write, for growing N. The `||` times explode with N (README, In the browser).
 *
 *   npx tsx scripts/swiftshader-short-circuit.ts [--max 6]
 *
 * Past about 7 links a `||` compile does not return in minutes: raise --max with care.
 */
import { parseArgs } from 'node:util';
import { ensureBuild, startDemoServer } from '../demo/server.mjs';
import { launchChromium } from '../test/helpers/chromium.js';

const { values: a } = parseArgs({ options: { max: { type: 'string', default: '6' } } });
const max = Number(a.max);
if (!Number.isInteger(max) || max < 2 || max > 10) throw new Error(`--max ${a.max}: expected an integer in [2, 10]`);

ensureBuild();
const { server, url } = await startDemoServer(0);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.on('console', (m) => process.stdout.write(`${m.text()}\n`));
  await page.goto(`${url}dist/`);
  // A string, not a function: tsx would rewrite import() in this file's functions.
  await page.evaluate(`(async () => {
    const w = await import('/dist/index.js');
    let wgsl = '';
    const sink = { kernel: (key, code) => { if (key.includes('logicalOr')) wgsl = code; }, submit() {} };
    const chainKernel = async (n) => {
      await w.init({ backend: 'webgpu', dumpKernels: sink });
      const ok = w.greater(w.random.normal(w.random.key(0), [64, n]), 1);
      let any = w.full([64], 0, 'bool');
      for (let i = n - 1; i >= 0; i--) any = w.logicalOr(any, w.reshape(w.slice(ok, [{}, i]), [64]));
      await any.data();
      return wgsl;
    };
    const adapter = await navigator.gpu.requestAdapter();
    const device = await adapter.requestDevice({ requiredLimits: { maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage } });
    const compileMs = async (code) => {
      const t = performance.now();
      await device.createComputePipelineAsync({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
      return (performance.now() - t).toFixed(0);
    };
    for (let n = 2; n <= ${max}; n++) {
      const code = await chainKernel(n);
      const shortCircuit = code.replace(/\\) \\| \\(/g, ') || (');
      console.log(n + ' links: | ' + await compileMs(code) + ' ms, || ' + await compileMs(shortCircuit) + ' ms');
    }
  })()`);
} finally {
  await browser.close();
  server.close();
}

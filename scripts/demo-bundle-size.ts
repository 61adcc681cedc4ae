/**
 * The size of the browser entry point (dist/index.js and every module it imports) as one ES module:
 * bundled as is and minified, raw and gzipped (Node's zlib, level 9), for the README. Bundling and
 * minifying is esbuild's (a dependency of tsx and vite, so present wherever the dev dependencies
 * are); the page itself loads the modules unbundled.
 *
 *   npx tsx scripts/demo-bundle-size.ts
 */
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { ensureBuild, ROOT } from '../demo/server.mjs';

ensureBuild();
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
for (const minify of [false, true]) {
  const r = await build({ entryPoints: [join(ROOT, 'dist', 'index.js')], bundle: true, minify, format: 'esm', platform: 'browser', write: false, metafile: true, logLevel: 'error' });
  const code = r.outputFiles[0].contents;
  process.stdout.write(`${minify ? 'minified' : 'bundled '}: ${kib(code.length)}, gzip ${kib(gzipSync(code, { level: 9 }).length)} (${Object.keys(r.metafile.inputs).length} modules)\n`);
}

// The peers, bundled and minified the same way from their npm packages (dev dependencies here).
const PEERS: [string, string][] = [
  ['@jax-js/jax', 'export * from "@jax-js/jax";'],
  ['@tensorflow/tfjs-core + tfjs-backend-webgpu', 'export * from "@tensorflow/tfjs-core"; export * from "@tensorflow/tfjs-backend-webgpu";'],
  ['@tensorflow/tfjs (core, layers, WebGL and CPU backends)', 'export * from "@tensorflow/tfjs";'],
];
for (const [name, contents] of PEERS) {
  const r = await build({ stdin: { contents, resolveDir: ROOT }, bundle: true, minify: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent' });
  const code = r.outputFiles[0].contents;
  process.stdout.write(`${name}, minified: ${kib(code.length)}, gzip ${kib(gzipSync(code, { level: 9 }).length)}\n`);
}

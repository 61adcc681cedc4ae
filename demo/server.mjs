#!/usr/bin/env node
/**
 * `npm run demo`: serves the demo page (demo/), the package's own browser build (dist/, built by
 * `npm run build` first when it is missing or older than src/) and the shipped Fashion-MNIST subset
 * (data/fashion-mnist-subset/) on 127.0.0.1. Plain node:http, no framework, nothing fetched from the
 * network: the page and its training worker (demo/worker.js, a module worker) import
 * /dist/index.js as an ES module, so no bundler runs either.
 *
 *   npm run demo                 # http://127.0.0.1:8080/
 *   npm run demo -- --port 9000  # or PORT=9000 npm run demo; --port 0 picks a free port
 *
 * The tests and scripts/demo-screenshot.ts import `ensureBuild` and `startDemoServer` from here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = normalize(join(fileURLToPath(import.meta.url), '..', '..'));
const DEFAULT_PORT = 8080;

/** The URL prefixes the server answers, each a folder of the repository (everything else is 404). */
const MOUNTS = { '/dist/': 'dist', '/data/fashion-mnist-subset/': join('data', 'fashion-mnist-subset'), '/': 'demo' };
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json', '.map': 'application/json',
};

/** The newest modification time of the files under `dir` (ms), 0 for none. */
function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds dist/ with `npm run build` when dist/index.js is missing or older than a file of src/. */
export function ensureBuild(log = (line) => process.stderr.write(`${line}\n`)) {
  const entry = join(ROOT, 'dist', 'index.js');
  if (existsSync(entry) && statSync(entry).mtimeMs >= newestMtime(join(ROOT, 'src'))) return false;
  log(existsSync(entry) ? 'demo: src/ changed since dist/ was built: npm run build' : 'demo: no dist/ yet: npm run build');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  return true;
}

/** The file a request path names, or undefined when it is outside every mount. */
function fileFor(urlPath) {
  const path = urlPath === '/' ? '/index.html' : urlPath;
  const prefix = Object.keys(MOUNTS).find((p) => path.startsWith(p));
  if (!prefix) return undefined;
  const base = join(ROOT, MOUNTS[prefix]);
  const file = normalize(join(base, path.slice(prefix.length)));
  return file.startsWith(base + sep) ? file : undefined; // no ../ out of the mount
}

/** Starts the server on 127.0.0.1:`port` (0: a free one); resolves to { server, url }. */
export function startDemoServer(port = DEFAULT_PORT) {
  const server = createServer((req, res) => {
    let urlPath;
    try {
      urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      res.writeHead(400).end('bad request path');
      return;
    }
    const file = fileFor(urlPath);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (!file || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${urlPath}`);
    } else {
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : readFileSync(file));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}/` }));
  });
}

/** The port from --port N (or --port=N), else $PORT, else 8080; a usage error (exit 2) otherwise. */
export function portFrom(argv, env) {
  const i = argv.findIndex((a) => a === '--port' || a.startsWith('--port='));
  const raw = i < 0 ? env.PORT : argv[i].includes('=') ? argv[i].slice('--port='.length) : argv[i + 1];
  const used = i < 0 ? [] : argv[i].includes('=') ? [i] : [i, i + 1];
  const unknown = argv.filter((a, j) => !used.includes(j) && a !== '--');
  if (unknown.length) throw new Error(`unknown argument ${JSON.stringify(unknown[0])}; usage: npm run demo [-- --port N]`);
  if (raw === undefined || raw === '') return DEFAULT_PORT;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535) throw new Error(`${i < 0 ? '$PORT' : '--port'} is ${JSON.stringify(raw)}; expected a port number 0..65535 (0: any free port)`);
  return port;
}

if (process.argv[1] && normalize(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let port;
  try {
    port = portFrom(process.argv.slice(2), process.env);
  } catch (e) {
    process.stderr.write(`demo: ${e.message}\n`);
    process.exit(2);
  }
  ensureBuild();
  startDemoServer(port).then(({ url }) => {
    process.stdout.write(`wgrad demo: ${url}  (Ctrl-C stops it)\n`);
  }, (e) => {
    process.stderr.write(`demo: cannot listen on 127.0.0.1:${port}: ${e.code === 'EADDRINUSE' ? 'the port is in use; pass --port N or PORT=N' : e.message}\n`);
    process.exit(1);
  });
}

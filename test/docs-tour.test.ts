/**
 * docs/internals.md cannot drift from the code: every block after a `<!-- tour:NAME -->` marker
 * must be exactly what examples/tour.ts prints as section NAME (source excerpts, the traced graph,
 * the WGSL, the dispatch list, the counters). After a change, `npx tsx examples/tour.ts --write`
 * regenerates the blocks. The WebGPU sections depend on the adapter (kernel shapes are tuned per
 * adapter): they are compared where the adapter is the one the page was printed on — always in CI.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { inCi } from './helpers/ci.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WEBGPU_SECTIONS = ['adapter', 'dispatches', 'webgpu-step', 'counters', 'fused-key', 'fused-wgsl', 'gemm-wgsl'];

/** `--- tour:NAME ---` sections of the script's output. */
function printed(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of stdout.split(/^--- tour:/m).slice(1)) {
    const nl = part.indexOf('\n');
    out.set(part.slice(0, nl).replace(/ ---$/, ''), part.slice(nl + 1).replace(/\n$/, ''));
  }
  return out;
}

/** The blocks of the page after `<!-- tour:NAME -->` markers. */
function embedded(doc: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of doc.matchAll(/<!-- tour:([\w-]+) -->\n```\w*\n((?:(?!```).*\n)*)```/g)) out.set(m[1], m[2].replace(/\n$/, ''));
  return out;
}

describe('docs/internals.md', () => {
  it('embeds exactly what examples/tour.ts prints', () => {
    const stdout = execFileSync(process.execPath, ['--import', 'tsx', join(root, 'examples/tour.ts')], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const got = printed(stdout);
    const doc = embedded(readFileSync(join(root, 'docs/internals.md'), 'utf8'));
    expect([...doc.keys()].sort()).toEqual([...got.keys()].sort());
    const sameAdapter = doc.get('adapter') === got.get('adapter');
    if (!sameAdapter && inCi()) throw new Error(`CI's adapter (${got.get('adapter')}) is not the one docs/internals.md was printed on (${doc.get('adapter')}): regenerate it with npx tsx examples/tour.ts --write`);
    const hint = 'docs/internals.md is out of date: run `npx tsx examples/tour.ts --write` and review the diff';
    for (const [name, text] of got) {
      if (!sameAdapter && WEBGPU_SECTIONS.includes(name)) continue;
      expect(doc.get(name), `${hint} (section ${name})`).toBe(text);
    }
  });
});

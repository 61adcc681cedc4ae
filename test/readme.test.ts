/**
 * Every ```ts block of README.md and docs/*.md is a complete program a reader can paste: this test
 * extracts each one, typechecks them all at once under the project's strict compiler options, and
 * runs each (on the CPU backend, through WGRAD_BACKEND, so `init()` in a block needs no adapter).
 * Imports of 'wgrad' and 'wgrad/node' are pointed at the sources. Skipped, explicitly: a block that
 * starts with the line `// not run` (keep that rare: a fragment a reader cannot run is a fragment
 * that rots), and the blocks under a `<!-- tour:NAME -->` marker in docs/internals.md, which
 * test/docs-tour.test.ts compares with what examples/tour.ts prints. The sh lines, the links and the
 * generated CLI reference are checked by test/docs-blocks.test.ts.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codeBlocks, NOT_RUN, root, runOnCpu, tsBlocks, typecheck, writePrograms } from './helpers/markdown.js';

const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const dir = join(root, 'test', '.readme-blocks');
rmSync(dir, { recursive: true, force: true });
const skipped: string[] = [];
const programs = pages.flatMap((page) => {
  const blocks = codeBlocks(readFileSync(join(root, page), 'utf8')).filter((b) => b.lang === 'ts' || b.lang === 'typescript');
  const run = blocks.filter((b) => {
    const skip = b.code.startsWith(NOT_RUN) || b.marker?.startsWith('tour:');
    if (skip) skipped.push(`${page}:${b.line}`);
    return !skip;
  });
  return writePrograms(dir, page, run);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ts blocks of README.md and docs/', () => {
  it('finds the ts blocks, their lines and their markers', () => {
    expect(tsBlocks('a\n```ts\nconst x = 1;\n```\n```sh\nls\n```\n```ts\nlet y;\n```\n')).toEqual([
      { line: 3, code: 'const x = 1;' },
      { line: 9, code: 'let y;' },
    ]);
    expect(codeBlocks('<!-- tour:step -->\n```ts\nf();\n```\n')).toEqual([{ line: 3, lang: 'ts', code: 'f();', marker: 'tour:step' }]);
    expect(programs.filter((p) => p.page === 'README.md').length).toBeGreaterThanOrEqual(1);
    expect(programs.filter((p) => p.page !== 'README.md').length).toBeGreaterThanOrEqual(2);
    // The tour's blocks are skipped here because test/docs-tour.test.ts checks them.
    expect(skipped.some((s) => s.startsWith('docs/internals.md'))).toBe(true);
  });

  it('every ts block typechecks under the strict project options', () => {
    expect(typecheck(programs)).toEqual([]);
  });

  programs.forEach((p) => {
    it(`the block at ${p.page} line ${p.line} runs`, async () => {
      await runOnCpu(p.file);
    });
  });
});

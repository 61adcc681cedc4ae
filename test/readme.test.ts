/**
 * Every ```ts block of README.md is a complete program a reader can paste: this test extracts each
 * one, typechecks it under the project's strict compiler options, and runs it (on the CPU backend,
 * through WGRAD_BACKEND, so `init()` in a block needs no adapter). Imports of 'wgrad' and
 * 'wgrad/node' are pointed at the sources. A block that is deliberately not a program starts with
 * the line `// not run` (keep that rare: a fragment a reader cannot run is a fragment that rots).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NOT_RUN = '// not run';

interface Block { line: number; code: string }

/** The ```ts blocks of a Markdown text, with the line each starts on. */
export function tsBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i])) continue;
    const start = i + 1;
    while (i + 1 < lines.length && !/^```\s*$/.test(lines[++i]));
    blocks.push({ line: start + 1, code: lines.slice(start, i).join('\n') });
  }
  return blocks;
}

function pointAtSources(code: string): string {
  const src = (f: string) => JSON.stringify(join(root, 'src', f));
  return code.replace(/(from\s+|import\s*\(\s*)(['"])wgrad(\/node)?\2/g, (_, pre: string, _q, node?: string) => `${pre}${src(node ? 'node.ts' : 'index.ts')}`);
}

/** Type errors in the block files, each named by its README line. */
function typecheck(files: string[]): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  if (!config) throw new Error('cannot read tsconfig.json');
  const options: ts.CompilerOptions = { ...config.options, noEmit: true, rootDir: root, allowImportingTsExtensions: true };
  const program = ts.createProgram(files, options);
  return ts.getPreEmitDiagnostics(program)
    .filter((d) => d.file && files.includes(resolve(d.file.fileName)))
    .map((d) => {
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
      const block = blocks[files.indexOf(resolve(d.file!.fileName))];
      return `README.md:${block.line + line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
}

const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = tsBlocks(readme).filter((b) => !b.code.startsWith(NOT_RUN));
const dir = join(root, 'test', '.readme-blocks');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const files = blocks.map((b) => {
  const file = join(dir, `readme-line-${b.line}.ts`);
  writeFileSync(file, `${pointAtSources(b.code)}\n`);
  return file;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README.md code blocks', () => {
  it('has ts blocks, and finds them', () => {
    expect(tsBlocks('a\n```ts\nconst x = 1;\n```\n```sh\nls\n```\n```ts\nlet y;\n```\n')).toEqual([
      { line: 3, code: 'const x = 1;' },
      { line: 9, code: 'let y;' },
    ]);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
  });

  it('every ts block typechecks under the strict project options', () => {
    expect(typecheck(files)).toEqual([]);
  });

  blocks.forEach((b, i) => {
    it(`the block at README.md line ${b.line} runs`, async () => {
      const before = process.env.WGRAD_BACKEND;
      process.env.WGRAD_BACKEND = 'cpu';
      try {
        await import(pathToFileURL(files[i]).href);
      } finally {
        if (before === undefined) delete process.env.WGRAD_BACKEND;
        else process.env.WGRAD_BACKEND = before;
      }
    });
  });
});

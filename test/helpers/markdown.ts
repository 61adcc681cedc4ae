/**
 * Code blocks of the Markdown pages (README.md, docs/*.md) as programs the tests can check: the
 * ```ts blocks are typechecked under the project's strict options and run (test/readme.test.ts,
 * test/docs-blocks.test.ts); the ```sh lines are split into commands.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A block that is deliberately not a program starts with this line. */
export const NOT_RUN = '// not run';

export interface Block {
  /** The line of the block's first code line (1-based). */
  line: number;
  lang: string;
  code: string;
  /** The name of a `<!-- tour:NAME -->` (or other `<!-- kind:NAME -->`) marker on the line above the fence. */
  marker?: string;
}

/** The fenced blocks of a Markdown text, with the line each starts on and the marker above it. */
export function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*$/.exec(lines[i]);
    if (!fence || !fence[1]) continue;
    const marker = i > 0 ? /^<!-- ([\w-]+:[\w-]+) -->$/.exec(lines[i - 1])?.[1] : undefined;
    const start = i + 1;
    while (i + 1 < lines.length && !/^```\s*$/.test(lines[++i]));
    blocks.push({ line: start + 1, lang: fence[1], code: lines.slice(start, i).join('\n'), ...(marker ? { marker } : {}) });
  }
  return blocks;
}

/** The ```ts blocks of a Markdown text. */
export function tsBlocks(markdown: string): { line: number; code: string }[] {
  return codeBlocks(markdown).filter((b) => b.lang === 'ts' || b.lang === 'typescript').map(({ line, code }) => ({ line, code }));
}

/** Imports of 'wgrad' and 'wgrad/node' pointed at the sources. */
function pointAtSources(code: string): string {
  const src = (f: string) => JSON.stringify(join(root, 'src', f));
  return code.replace(/(from\s+|import\s*\(\s*)(['"])wgrad(\/node)?\2/g, (_, pre: string, _q, node?: string) => `${pre}${src(node ? 'node.ts' : 'index.ts')}`);
}

export interface ProgramFile { file: string; page: string; line: number }

/** Writes each block as a program file under `dir` (named by page and line). */
export function writePrograms(dir: string, page: string, blocks: readonly { line: number; code: string }[]): ProgramFile[] {
  mkdirSync(dir, { recursive: true });
  return blocks.map((b) => {
    const file = join(dir, `${page.replace(/[^\w]/g, '-')}-line-${b.line}.ts`);
    writeFileSync(file, `${pointAtSources(b.code)}\n`);
    return { file, page, line: b.line };
  });
}

/** Type errors in the program files, each named by its page and line. */
export function typecheck(programs: readonly ProgramFile[]): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  if (!config) throw new Error('cannot read tsconfig.json');
  const options: ts.CompilerOptions = { ...config.options, noEmit: true, rootDir: root, allowImportingTsExtensions: true };
  const files = programs.map((p) => p.file);
  const program = ts.createProgram(files, options);
  return ts.getPreEmitDiagnostics(program)
    .filter((d) => d.file && files.includes(resolve(d.file.fileName)))
    .map((d) => {
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
      const p = programs[files.indexOf(resolve(d.file!.fileName))];
      return `${p.page}:${p.line + line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
}

/** Runs a program file on the CPU backend (through WGRAD_BACKEND, so `init()` needs no adapter). */
export async function runOnCpu(file: string): Promise<void> {
  const before = process.env.WGRAD_BACKEND;
  process.env.WGRAD_BACKEND = 'cpu';
  try {
    await import(pathToFileURL(file).href);
  } finally {
    if (before === undefined) delete process.env.WGRAD_BACKEND;
    else process.env.WGRAD_BACKEND = before;
  }
}

/**
 * The commands of a ```sh block: comments dropped, `\` continuations joined, each split into words
 * (single and double quotes group; no expansion).
 */
export function shellCommands(code: string): { text: string; words: string[] }[] {
  const joined = code.replace(/\\\n/g, ' ');
  const out: { text: string; words: string[] }[] = [];
  for (const raw of joined.split('\n')) {
    const words: string[] = [];
    let cur = '';
    let quote = '';
    let started = false;
    for (const ch of raw) {
      if (quote) {
        if (ch === quote) quote = '';
        else cur += ch;
      } else if (ch === '"' || ch === "'") {
        quote = ch;
        started = true;
      } else if (ch === '#' && !started) {
        break; // a comment (at a word's start)
      } else if (/\s/.test(ch)) {
        if (started) words.push(cur);
        cur = '';
        started = false;
      } else {
        cur += ch;
        started = true;
      }
    }
    if (started) words.push(cur);
    if (words.length) out.push({ text: raw.replace(/\s+#.*$/, '').trim(), words });
  }
  return out;
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingSlug(heading: string): string {
  return heading.trim().toLowerCase().replace(/<[^>]+>/g, '').replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

/** The anchors of a Markdown page's headings (a repeated heading gets -1, -2, ... as on GitHub). */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^```/.test(line)) fenced = !fenced;
    const h = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (!h) continue;
    const base = headingSlug(h[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/**
 * README.md and docs/*.md cannot drift from the code (the ts blocks are run by test/readme.test.ts):
 * - every ```sh line that runs the CLI (`npx tsx src/cli/main.ts CMD …` or `wgrad CMD …`) must
 *   parse: its command and flags are parsed by the CLI itself with `--help` appended (so nothing
 *   trains), and a `train` line's method must take every method flag it gives, a `compare` line's
 *   rows must name methods and their options; a line running another file (`npx tsx FILE`,
 *   `node --import tsx FILE`, `python3 FILE`) must name a file that exists, and `npm run NAME` a
 *   script of package.json. Other lines (npm install, apt-get, grep) are not run.
 * - every relative link names a file that exists, and its #anchor a heading of that page; so does
 *   every `docs/PAGE.md#anchor` cited in a comment under src/ (the measurements the kernel headers
 *   point at, the method sections);
 * - docs/cli.md's `<!-- cli-help:CMD -->` blocks are exactly each command's --help output, one per
 *   command. After changing a flag: `WGRAD_WRITE_DOCS=1 npx vitest run test/docs-blocks.test.ts`.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/cli.js';
import { parseFlags } from '../src/cli/args.js';
import { methodOf, methodSources, runOptions, trainFlags } from '../src/cli/train-command.js';
import { refuseUnused } from '../src/cli/record-flags.js';
import { REGULARIZER_SOURCE } from '../src/cli/run-config.js';
import { parseRow } from '../src/cli/study-rows.js';
import { anchors, codeBlocks, headingSlug, root, shellCommands } from './helpers/markdown.js';

const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const read = (page: string) => readFileSync(join(root, page), 'utf8');
const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts);

/** Runs the CLI in this process, returning its exit status and what it wrote. */
async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const [write, writeErr] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    return { code: await main(argv), out, err };
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
  }
}

/** The problem with a CLI command line (its words after `wgrad`), or undefined when it parses. */
async function cliProblem(args: string[]): Promise<string | undefined> {
  const r = await cli([...args, '--help']);
  if (r.code !== 0) return r.err.trim() || `exit status ${r.code}`;
  const [command, ...rest] = args;
  try {
    if (command === 'train') {
      const a = parseFlags('train', rest, trainFlags());
      const method = methodOf(a);
      const beta = a.regularizer as number;
      refuseUnused('train', a, methodSources(), beta > 0 ? [method, REGULARIZER_SOURCE] : [method], `--method ${method.name}`);
      runOptions(a, method, beta, 'train');
    }
    if (command === 'compare') {
      const i = rest.indexOf('--methods');
      if (i >= 0) for (const row of rest[i + 1].split(',')) parseRow(row);
    }
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

const ENV = /^[A-Z_][A-Z0-9_]*=/;

/** What a shell line runs, for the checks above: the CLI's arguments, a file, an npm script, or nothing. */
export function classify(words: string[]): { cli: string[] } | { file: string } | { script: string } | undefined {
  const w = words.slice(words.findIndex((x) => !ENV.test(x)));
  if (w[0] === 'wgrad') return { cli: w.slice(1) };
  if (w[0] === 'npx' && w[1] === 'wgrad') return { cli: w.slice(2) };
  if (w[0] === 'npx' && w[1] === 'tsx') return w[2] === 'src/cli/main.ts' ? { cli: w.slice(3) } : { file: w[2] };
  if (w[0] === 'node' && w[1] === '--import' && w[2] === 'tsx') return w[3] === 'src/cli/main.ts' ? { cli: w.slice(4) } : { file: w[3] };
  if (w[0] === 'python3' && w[1] && !w[1].startsWith('-')) return { file: w[1] };
  if (w[0] === 'npm' && w[1] === 'run') return { script: w[2] };
  if (w[0] === 'npm' && (w[1] === 'start' || w[1] === 'test')) return { script: w[1] };
  return undefined;
}

const shLines = pages.flatMap((page) => codeBlocks(read(page))
  .filter((b) => b.lang === 'sh' || b.lang === 'bash')
  .flatMap((b) => shellCommands(b.code).map((c, k) => ({ where: `${page}:${b.line + k}`, ...c, run: classify(c.words) }))));

/** Relative links of a page (outside code blocks and inline code), with their line. */
function links(page: string): { line: number; target: string }[] {
  const out: { line: number; target: string }[] = [];
  let fenced = false;
  read(page).split('\n').forEach((text, i) => {
    if (/^```/.test(text)) fenced = !fenced;
    if (fenced) return;
    for (const m of text.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)) {
      if (!/^[a-z]+:/i.test(m[1])) out.push({ line: i + 1, target: m[1] });
    }
  });
  return out;
}

function linkProblem(page: string, target: string): string | undefined {
  const [path, anchor] = target.split('#');
  const file = path ? resolve(dirname(join(root, page)), decodeURI(path)) : join(root, page);
  if (!existsSync(file)) return `${target}: no such file`;
  if (anchor !== undefined && file.endsWith('.md') && !anchors(readFileSync(file, 'utf8')).has(anchor)) return `${target}: no heading with this anchor`;
  return undefined;
}

const HELP_BLOCK = /(<!-- cli-help:([\w-]+) -->\n```text\n)((?:(?!```).*\n)*)```/g;

describe('sh blocks of README.md and docs/', () => {
  it('classifies and splits shell lines', () => {
    expect(classify(['npx', 'tsx', 'src/cli/main.ts', 'eval', '--checkpoint', 'x'])).toEqual({ cli: ['eval', '--checkpoint', 'x'] });
    expect(classify(['WGRAD_DUMP=d', 'npx', 'tsx', 'examples/tour.ts'])).toEqual({ file: 'examples/tour.ts' });
    expect(classify(['npm', 'run', 'bench', '--', '--quick'])).toEqual({ script: 'bench' });
    expect(classify(['sudo', 'apt-get', 'install', 'x'])).toBeUndefined();
    expect(classify(['npx', 'wgrad', 'train'])).toEqual({ cli: ['train'] });
    expect(shellCommands("a 'b c' # note\n\nd \\\n  e")).toEqual([{ text: "a 'b c'", words: ['a', 'b c'] }, { text: 'd    e', words: ['d', 'e'] }]);
    expect(shLines.filter((l) => l.run && 'cli' in l.run).length).toBeGreaterThanOrEqual(10);
  });

  it('the check refuses a renamed flag, a flag the method does not take, an unknown row', async () => {
    expect(await cliProblem(['train', '--method', 'rocl', '--epochs', '1'])).toBeUndefined();
    expect(await cliProblem(['train', '--method', 'rocl', '--epoch', '1'])).toMatch(/unknown flag --epoch/);
    expect(await cliProblem(['train', '--method', 'aplr', '--mask-prob', '0.3'])).toMatch(/mask-prob/);
    expect(await cliProblem(['compare', '--methods', 'random,simclr+reg,nope'])).toMatch(/nope/);
    expect(await cliProblem(['evaluate'])).toMatch(/unknown command/);
  });

  it('every CLI line parses', async () => {
    const problems: string[] = [];
    for (const l of shLines) {
      if (!l.run || !('cli' in l.run)) continue;
      const p = await cliProblem(l.run.cli);
      if (p) problems.push(`${l.where}: ${l.text}\n  ${p}`);
    }
    expect(problems).toEqual([]);
  });

  it('every file and npm script a line runs exists', () => {
    const problems = shLines.flatMap((l) => {
      if (l.run && 'file' in l.run && !existsSync(join(root, l.run.file))) return [`${l.where}: ${l.run.file} does not exist`];
      if (l.run && 'script' in l.run && !scripts.includes(l.run.script)) return [`${l.where}: package.json has no script ${l.run.script}`];
      return [];
    });
    expect(problems).toEqual([]);
  });
});

describe('links of README.md and docs/', () => {
  it('finds anchors as GitHub does', () => {
    expect(headingSlug('Why matmul sits at 12–16 GFLOP/s on lavapipe')).toBe('why-matmul-sits-at-1216-gflops-on-lavapipe');
    expect(headingSlug("Dawn's `disable_robustness`")).toBe('dawns-disable_robustness');
    expect([...anchors('# A\n## B b\n```sh\n# not a heading\n```\n## B b\n')]).toEqual(['a', 'b-b', 'b-b-1']);
    expect(linkProblem('docs/cli.md', 'nope.md')).toMatch(/no such file/);
    expect(linkProblem('docs/cli.md', 'methods.md#no-such-heading')).toMatch(/no heading/);
  });

  it('every relative link names a file, and its anchor a heading', () => {
    const problems = pages.flatMap((page) => links(page).flatMap((l) => {
      const p = linkProblem(page, l.target);
      return p ? [`${page}:${l.line}: ${p}`] : [];
    }));
    expect(problems).toEqual([]);
  });

  it('every docs/PAGE.md#anchor a source comment cites names a heading', () => {
    const sources = (d: string): string[] => readdirSync(join(root, d), { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? sources(join(d, e.name)) : e.name.endsWith('.ts') ? [join(d, e.name)] : []));
    const problems = sources('src').flatMap((file) => [...read(file).matchAll(/docs\/[\w-]+\.md#[\w-]+/g)].flatMap((m) => {
      const p = linkProblem('README.md', m[0]);
      return p ? [`${file}: ${p}`] : [];
    }));
    expect(problems).toEqual([]);
  });
});

describe('docs/cli.md', () => {
  it('embeds every command\'s --help output, exactly', async () => {
    const commands = [...(await cli(['--help'])).out.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]);
    expect(commands).toContain('train');
    const help = new Map<string, string>();
    for (const c of commands) help.set(c, (await cli([c, '--help'])).out);
    const page = read('docs/cli.md');
    if (process.env.WGRAD_WRITE_DOCS === '1') {
      writeFileSync(join(root, 'docs/cli.md'), page.replace(HELP_BLOCK, (all, head: string, name: string) => (help.has(name) ? `${head}${help.get(name)}\`\`\`` : all)));
    }
    const embedded = new Map([...read('docs/cli.md').matchAll(HELP_BLOCK)].map((m) => [m[2], m[3]]));
    expect([...embedded.keys()].sort(), 'docs/cli.md needs one <!-- cli-help:CMD --> block per command').toEqual([...commands].sort());
    for (const [name, text] of help) {
      expect(embedded.get(name), `docs/cli.md's ${name} --help is out of date: run WGRAD_WRITE_DOCS=1 npx vitest run test/docs-blocks.test.ts`).toBe(text);
    }
  });
});

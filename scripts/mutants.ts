/**
 * Mutation check of the test suite: plants representative bugs, one at a time, each in a temporary
 * copy of the repository (src/, test/ and the configs copied, node_modules linked; the working tree
 * is never touched), runs the test files that should notice it, and reports which were caught. Every
 * mutant must be caught: exit status 1 otherwise, or when a patch no longer applies (the source
 * moved on: update its `find` text here).
 *
 *   npm run mutants                 # all mutants
 *   npm run mutants -- vjp-sub      # only those whose name contains one of the arguments
 *   npm run mutants -- --baseline   # also run each mutant's tests unpatched first (they must pass)
 *   npm run mutants -- --list       # list the mutants and exit
 *
 * Not part of `npm test` (each mutant reruns test files; the WebGPU ones take minutes on lavapipe).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Mutant {
  name: string;
  /** What the planted bug is, and why it is representative. */
  what: string;
  file: string;
  /** Exact text to replace; it must occur exactly once in `file`. */
  find: string;
  replace: string;
  /** Test files to run (relative to the repository root) and an optional test-name filter. */
  tests: string[];
  filter?: string;
}

const MUTANTS: Mutant[] = [
  {
    name: 'vjp-sub-sign',
    what: 'VJP sign flip: d(a − b) gives +g to b',
    file: 'src/autograd/vjp.ts',
    find: 'sub: (g) => [g, E.neg(g)],',
    replace: 'sub: (g) => [g, g],',
    tests: ['test/grad-elementwise.test.ts'],
    filter: 'sub',
  },
  {
    name: 'vjp-cos-sign',
    what: 'VJP sign flip: d cos x = +sin x dx',
    file: 'src/autograd/vjp.ts',
    find: 'cos: (g, [x]) => [E.neg(E.mul(g, E.sin(x)))],',
    replace: 'cos: (g, [x]) => [E.mul(g, E.sin(x))],',
    tests: ['test/grad-elementwise.test.ts'],
    filter: 'cos',
  },
  {
    name: 'unbroadcast-skipped',
    what: 'un-broadcast broken: a cotangent of the same rank is passed through ([1, 3] leaf gets [2, 3])',
    file: 'src/autograd/backward.ts',
    find: 'if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;',
    replace: 'if (g.shape.length === shape.length) return g;',
    tests: ['test/grad-elementwise.test.ts', 'test/grad-checker.test.ts'],
    filter: 'binary ops|un-broadcast',
  },
  {
    name: 'maximum-tie-weight',
    what: 'maximum gives the whole cotangent to a on ties (tie weight 0.5 → 1)',
    file: 'src/autograd/vjp.ts',
    find: 'const wa = E.add(maskOf(E.greater(a, b)), E.mul(maskOf(E.equal(a, b)), 0.5));',
    replace: 'const wa = E.add(maskOf(E.greater(a, b)), E.mul(maskOf(E.equal(a, b)), 1));',
    tests: ['test/grad-ties.test.ts'],
  },
  {
    name: 'max-tie-share',
    what: 'max/min reductions give every tied extremum the full cotangent (no division by the tie count)',
    file: 'src/autograd/vjp.ts',
    find: 'const share = E.div(M.reshape(g, keptShape(x.shape, axes)), ties);',
    replace: 'const share = M.reshape(g, keptShape(x.shape, axes));',
    tests: ['test/grad-ties.test.ts'],
  },
  {
    name: 'matmul-k-bound',
    what: 'matmul loader bound k + q < K → <= K: reads one element past the row (a zero-padded product for finite inputs)',
    file: 'src/kernels/matmul.ts',
    find: '`let in${q} = oin && ${k} + ${q}u < ${K};`',
    replace: '`let in${q} = oin && ${k} + ${q}u <= ${K};`',
    tests: ['test/kernels-matmul.test.ts'],
    filter: 'NaN',
  },
  {
    name: 'conv-pad-mask-multiply',
    what: 'conv padded taps load storage element 0 and multiply it by 0 instead of selecting 0 (∞·0 = NaN)',
    file: 'src/kernels/conv.ts',
    find: 'L.push(`let v${e} = select(0.0, ${c.X}[select(0, ${addr}, ok${e})], ok${e});`);',
    replace: 'L.push(`let v${e} = ${c.X}[select(0, ${addr}, ok${e})] * f32(ok${e});`);',
    tests: ['test/kernels-conv.test.ts'],
    filter: 'NaN',
  },
  {
    name: 'f2i-rounds',
    what: 'float → int32 cast rounds to nearest instead of truncating (off by one on half the values)',
    file: 'src/kernels/elementwise-lib.ts',
    find: '  return i32(x);\n}',
    replace: '  return i32(round(x));\n}',
    tests: ['test/fusion.test.ts'],
    filter: 'random programs',
  },
  {
    name: 'checkgrads-nan-blind',
    what: 'checkGrads without its non-finite check (NaN passes every tolerance test)',
    file: 'src/autograd/check.ts',
    find: 'if (!Number.isFinite(auto) || !Number.isFinite(numeric)) {',
    replace: 'if (false) {',
    tests: ['test/grad-checker.test.ts'],
  },
];

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const baseline = args.includes('--baseline');
const names = args.filter((a) => !a.startsWith('--'));
const selected = MUTANTS.filter((m) => names.length === 0 || names.some((n) => m.name.includes(n)));

if (args.includes('--list')) {
  for (const m of MUTANTS) console.log(`${m.name.padEnd(24)} ${m.what}\n${' '.repeat(25)}${m.file}; runs ${m.tests.join(', ')}${m.filter ? ` -t "${m.filter}"` : ''}`);
  process.exit(0);
}
if (selected.length === 0) {
  console.error(`no mutant matches ${names.join(', ')} (npm run mutants -- --list)`);
  process.exit(2);
}

/** A throwaway copy of what the tests need, with node_modules linked, not copied. */
function scratchCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wgrad-mutant-'));
  for (const p of ['src', 'test', 'data', 'scripts', 'package.json', 'tsconfig.json', 'tsconfig.all.json', 'vitest.config.ts']) {
    if (existsSync(join(root, p))) cpSync(join(root, p), join(dir, p), { recursive: true });
  }
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

function runTests(dir: string, m: Mutant): { ok: boolean; seconds: number; tail: string } {
  const start = Date.now();
  const cmdArgs = ['vitest', 'run', ...m.tests, ...(m.filter ? ['-t', m.filter] : [])];
  const r = spawnSync('npx', cmdArgs, { cwd: dir, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' }, maxBuffer: 64 << 20 });
  // eslint-disable-next-line no-control-regex
  const lines = `${r.stdout ?? ''}${r.stderr ?? ''}`.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  // The first failure's reason (what the tests saw), else the first failing test's name.
  const failLine = lines.find((l) => /AssertionError|WgradError|Error:/.test(l)) ?? lines.find((l) => /FAIL/.test(l)) ?? '';
  return { ok: r.status === 0, seconds: (Date.now() - start) / 1000, tail: failLine.trim().slice(0, 160) };
}

const results: { m: Mutant; status: 'caught' | 'SURVIVED' | 'PATCH FAILED' | 'BASELINE FAILED'; note: string }[] = [];
for (const m of selected) {
  const dir = scratchCopy();
  try {
    const path = join(dir, m.file);
    const text = readFileSync(path, 'utf8');
    const count = text.split(m.find).length - 1;
    if (count !== 1) {
      results.push({ m, status: 'PATCH FAILED', note: `the text to replace occurs ${count} times in ${m.file}` });
      continue;
    }
    if (baseline) {
      const b = runTests(dir, m);
      if (!b.ok) {
        results.push({ m, status: 'BASELINE FAILED', note: `unpatched tests fail: ${b.tail}` });
        continue;
      }
    }
    writeFileSync(path, text.replace(m.find, m.replace));
    process.stdout.write(`${m.name}: running ${m.tests.join(', ')}${m.filter ? ` -t "${m.filter}"` : ''} ... `);
    const r = runTests(dir, m);
    const status = r.ok ? 'SURVIVED' : 'caught';
    console.log(`${status} (${r.seconds.toFixed(0)} s)`);
    results.push({ m, status, note: r.ok ? 'the tests passed with the bug planted' : r.tail });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log('\nmutant                    result     what');
for (const { m, status, note } of results) {
  console.log(`${m.name.padEnd(25)} ${status.padEnd(10)} ${m.what}`);
  if (note) console.log(`${' '.repeat(36)}${note}`);
}
const bad = results.filter((r) => r.status !== 'caught');
console.log(`\n${results.length - bad.length} of ${results.length} mutants caught`);
process.exit(bad.length ? 1 : 0);

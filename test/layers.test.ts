/**
 * The layer order of src/, checked on the import statements of every module (type-only imports
 * included: they tie two modules' designs together just the same). Lowest first:
 *
 *   core → tensor → autograd → nn | losses | optim | data | io → attacks → eval → ssl → entry points → cli
 *
 * - A module imports only from its own layer and lower ones.
 * - nn, losses, optim, data and io are independent libraries on top of autograd: none imports another.
 * - The backends (backends/, kernels/) stand on core alone, and only the entry points (init.ts,
 *   node.ts, index.ts) import them: the front end reaches a backend through core's Backend interface.
 * - No import cycles between modules.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');

interface Layer {
  name: string;
  /** Path prefixes under src/ ("dir/" or a file). */
  paths: string[];
  /** Its groups (first path segment) may not import each other. */
  independent?: boolean;
  /** Only these layers (and itself) may import it. */
  onlyFrom?: string[];
}

const LAYERS: Layer[] = [
  { name: 'core', paths: ['core/'] },
  { name: 'backends', paths: ['backends/', 'kernels/'], onlyFrom: ['entry'] },
  { name: 'tensor', paths: ['tensor/', 'random/'] },
  { name: 'autograd', paths: ['autograd/'] },
  { name: 'libraries', paths: ['nn/', 'losses/', 'optim/', 'data/', 'io/'], independent: true },
  { name: 'attacks', paths: ['attacks/'] },
  { name: 'eval', paths: ['eval/'] },
  { name: 'ssl', paths: ['ssl/'] },
  { name: 'entry', paths: ['init.ts', 'index.ts', 'node.ts'] },
  { name: 'cli', paths: ['cli/'] },
];

/**
 * Known import cycles, allowed until their owners remove them (then delete the entry: the last test
 * fails on an entry whose cycle is gone). Each is one cycle as `importCycles` prints it. None today.
 */
const ALLOWED_CYCLES: string[] = [];

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** module (path under src/) → the modules under src/ it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(SRC).sort()) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .map((f) => f.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => relative(SRC, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))));
    graph.set(relative(SRC, file), [...new Set(targets)].sort());
  }
  return graph;
}

function layerOf(module: string): { layer: Layer; rank: number; group: string } | undefined {
  const rank = LAYERS.findIndex((l) => l.paths.some((p) => (p.endsWith('/') ? module.startsWith(p) : module === p)));
  return rank < 0 ? undefined : { layer: LAYERS[rank], rank, group: module.split('/')[0] };
}

function layerViolations(graph: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) {
    const a = layerOf(from);
    for (const to of targets) {
      const b = layerOf(to);
      if (!a || !b) continue;
      const why = b.rank > a.rank ? `${a.layer.name} imports the higher layer ${b.layer.name}`
        : a.rank === b.rank && a.layer.independent && a.group !== b.group ? `${a.group} and ${b.group} are independent libraries`
        : b.layer.onlyFrom && a.rank !== b.rank && !b.layer.onlyFrom.includes(a.layer.name) ? `only ${b.layer.onlyFrom.join(', ')} may import ${b.layer.name}`
        : undefined;
      if (why) out.push(`${from} → ${to} (${why})`);
    }
  }
  return out;
}

/** One cycle per back edge of a depth-first search, as "a → b → … → a" starting at its least module. */
function importCycles(graph: Map<string, string[]>): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles = new Set<string>();
  const visit = (m: string): void => {
    state.set(m, 'open');
    stack.push(m);
    for (const next of graph.get(m) ?? []) {
      if (state.get(next) === 'open') {
        const cycle = stack.slice(stack.indexOf(next));
        const start = cycle.indexOf([...cycle].sort()[0]);
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        cycles.add([...rotated, rotated[0]].join(' → '));
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(m, 'done');
  };
  for (const m of graph.keys()) if (!state.has(m)) visit(m);
  return [...cycles].sort();
}

describe('layers', () => {
  const graph = importGraph();

  it('reads the imports of every module', () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get('index.ts')).toContain('tensor/tensor.ts');
  });

  it('places every module of src/ in a layer', () => {
    expect([...graph.keys()].filter((m) => !layerOf(m))).toEqual([]);
  });

  it('has no import from a higher layer into a lower one', () => {
    expect(layerViolations(graph)).toEqual([]);
  });

  it('has no import cycle', () => {
    expect(importCycles(graph).filter((c) => !ALLOWED_CYCLES.includes(c))).toEqual([]);
  });

  it('allows only cycles that still exist', () => {
    const cycles = importCycles(graph);
    expect(ALLOWED_CYCLES.filter((c) => !cycles.includes(c))).toEqual([]);
  });

  it('detects a leak and a cycle (the checks can fail)', () => {
    const bad = new Map([
      ['tensor/a.ts', ['autograd/b.ts']],
      ['autograd/b.ts', ['tensor/a.ts']],
      ['optim/c.ts', ['nn/d.ts', 'backends/e.ts']],
    ]);
    expect(layerViolations(bad)).toEqual([
      'tensor/a.ts → autograd/b.ts (tensor imports the higher layer autograd)',
      'optim/c.ts → nn/d.ts (optim and nn are independent libraries)',
      'optim/c.ts → backends/e.ts (only entry may import backends)',
    ]);
    expect(importCycles(bad)).toEqual(['autograd/b.ts → tensor/a.ts → autograd/b.ts']);
  });
});

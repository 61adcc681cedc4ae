/**
 * A/B of training steps on the wasm backend between this tree and another copy of the repository
 * (e.g. a `git archive` export of an older commit), in ONE process, step by step in turn:
 *
 *   npx tsx bench/wasm-ab.ts --old /tmp/wgrad-old [--rows cnn,simclr,rocl] [--pairs 8]
 *
 * Each tree's library and train rows are imported from its own sources (two separate module
 * graphs, each with its own engine and wasm backend); per row both sides are built and warmed up,
 * then `pairs` times: one step of the old tree, one of the new, each timed by the wall clock and by
 * the process's CPU time. Reported per row: each side's median step and the median of the per-pair
 * ratios new/old (pairing cancels most of a loaded machine's drift; whole-process timing, as
 * farm-bench does, adds start-up and data generation to both sides).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RowSpec, SideImpl } from './harness.js';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`bench/wasm-ab.ts: --${name} is required (a copy of the repository to compare against)`);
  return v;
}

interface Tree {
  name: string;
  rows: RowSpec[];
  init(): Promise<unknown>;
}

/** The train rows and init of the repository copy at `root`. */
async function load(name: string, root: string): Promise<Tree> {
  const at = (p: string) => pathToFileURL(resolve(root, p)).href;
  const wg = await import(at('src/node.ts'));
  const { trainRows } = await import(at('bench/suite/train.ts'));
  return { name, rows: trainRows({ wg, quick: false }), init: () => wg.init({ backend: 'wasm' }) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

/** One step's wall and CPU milliseconds. */
async function step(side: SideImpl): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await side.run();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

async function build(tree: Tree, id: string): Promise<SideImpl> {
  const row = tree.rows.find((r) => r.id === `train.${id}`);
  if (!row?.wgrad) throw new Error(`no train row "${id}" in ${tree.name}`);
  await tree.init();
  const side = await row.wgrad();
  await side.run(); // warm-up: Wasm tier-up, program compilation
  return side;
}

const [oldTree, newTree] = [await load('old', arg('old')), await load('new', '.')];
const pairs = Number(arg('pairs', '8'));
for (const id of arg('rows', 'cnn,simclr,rocl').split(',')) {
  // Each side's engine is its own module instance, so both stay initialized side by side.
  const sides = [await build(oldTree, id), await build(newTree, id)];
  const times: { wall: number; cpu: number }[][] = [[], []];
  for (let p = 0; p < pairs; p++) for (const k of [0, 1]) times[k].push(await step(sides[k]));
  for (const s of sides) await s.dispose();
  const ratio = (f: 'wall' | 'cpu') => times[1].map((t, p) => t[f] / times[0][p][f]);
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
  console.log(`${id}: old ${median(times[0].map((t) => t.wall)).toFixed(0)} ms, new ${median(times[1].map((t) => t.wall)).toFixed(0)} ms (median wall); `
    + `new/old wall ${median(ratio('wall')).toFixed(3)} [${fmt(ratio('wall'))}], cpu ${median(ratio('cpu')).toFixed(3)} [${fmt(ratio('cpu'))}]`);
}

/**
 * Training steps (the bench's small CNN, SimCLR and RoCL rows, bench/suite/train.ts) on the wasm
 * backend, WebGPU (lavapipe where there is no GPU) and the CPU reference, in one process.
 *
 *   npx tsx bench/wasm-step.ts [--rows cnn,simclr,rocl] [--backends wasm,webgpu,cpu] [--rounds 3] [--quick]
 *   npx tsx bench/wasm-step.ts --profile [--backend wasm] [--rows cnn] [--steps 2] [--top 20]
 *
 * Timing: per row, `rounds` rounds; each round visits the backends in turn (init, build the row's
 * wgrad side, one untimed warm-up step except on the CPU reference, then one timed step + sync) so that a change in the
 * machine's load hits every backend alike. Reported: the median step per backend and, per round,
 * the ratio of each backend's step to wasm's in that round (their median too), and the load
 * average. The CPU reference runs only the first round of the rows it would take minutes on.
 *
 * --profile: the time of every backend.run call, per primitive, summed over `steps` steps after a
 * warm-up (the wasm and CPU backends compute synchronously inside run, so this is their compute
 * time; the rest of the step is tracing, autodiff and the front end, printed as "outside run").
 */
import { loadavg } from 'node:os';
import * as wg from '../src/node.js';
import { backend } from '../src/tensor/engine.js';
import type { RowSpec, SideImpl } from './harness.js';
import { trainRows } from './suite/train.js';

type Kind = 'wasm' | 'webgpu' | 'cpu';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

/** The train rows named in `ids` (by the part after "train."). */
function rows(ids: string[], quick: boolean): RowSpec[] {
  const all = trainRows({ wg, quick });
  return ids.map((id) => {
    const r = all.find((row) => row.id === `train.${id}`);
    if (!r?.wgrad) throw new Error(`no train row "${id}"; rows: ${all.map((row) => row.id.slice(6)).join(', ')}`);
    return r;
  });
}

/** Starts `kind`, builds the row's wgrad side on it and runs one untimed warm-up step (Wasm
 *  tier-up, WGSL pipelines; none on the CPU reference, whose step takes minutes and has neither). */
async function start(kind: Kind, row: RowSpec): Promise<SideImpl> {
  await wg.init({ backend: kind });
  const side = await row.wgrad!();
  if (kind !== 'cpu') await side.run();
  return side;
}

async function timedStep(side: SideImpl): Promise<number> {
  const t0 = performance.now();
  await side.run();
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

async function compare(row: RowSpec, kinds: Kind[], rounds: number): Promise<void> {
  const times = new Map<Kind, number[]>(kinds.map((k) => [k, []]));
  const ratios = new Map<Kind, number[]>(kinds.map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    const round = new Map<Kind, number>();
    for (const kind of kinds) {
      // The CPU reference takes ~a minute per RoCL step: one round of it is enough for a ratio.
      if (kind === 'cpu' && r > 0) continue;
      const side = await start(kind, row);
      round.set(kind, await timedStep(side));
      side.dispose();
    }
    for (const [kind, ms] of round) {
      times.get(kind)!.push(ms);
      if (round.has('wasm')) ratios.get(kind)!.push(ms / round.get('wasm')!);
    }
    console.log(`  round ${r + 1}: ${[...round].map(([k, ms]) => `${k} ${ms.toFixed(0)} ms`).join(', ')}  (load ${load()})`);
  }
  console.log(`${row.name} (${row.shape})`);
  for (const kind of kinds) {
    const ts = times.get(kind)!;
    const rs = ratios.get(kind)!;
    const ratio = rs.length ? `  ${median(rs).toFixed(2)}× wasm's step (per-round ${rs.map((x) => x.toFixed(2)).join(', ')})` : '';
    console.log(`  ${kind.padEnd(7)} ${median(ts).toFixed(0).padStart(7)} ms median of ${ts.length}${ratio}`);
  }
}

/** Per-primitive time of backend.run over `steps` steps of the row on `kind`. */
async function profile(row: RowSpec, kind: Kind, steps: number, top: number): Promise<void> {
  const side = await start(kind, row);
  const be = backend();
  const run = be.run.bind(be);
  const spent = new Map<string, { ms: number; calls: number }>();
  be.run = ((prim, inputs, params, out) => {
    const t0 = performance.now();
    const result = run(prim, inputs, params, out);
    const s = spent.get(prim) ?? { ms: 0, calls: 0 };
    s.ms += performance.now() - t0;
    s.calls++;
    spent.set(prim, s);
    return result;
  }) as typeof be.run;
  let total = 0;
  for (let i = 0; i < steps; i++) total += await timedStep(side);
  be.run = run;
  side.dispose();
  const inRun = [...spent.values()].reduce((a, s) => a + s.ms, 0);
  console.log(`${row.name} (${row.shape}) on ${kind}: ${(total / steps).toFixed(0)} ms per step, ${(inRun / steps).toFixed(0)} ms in backend.run (load ${load()})`);
  const sorted = [...spent].sort((a, b) => b[1].ms - a[1].ms).slice(0, top);
  for (const [prim, s] of sorted) {
    console.log(`  ${prim.padEnd(22)} ${(s.ms / steps).toFixed(1).padStart(8)} ms  ${(100 * s.ms / total).toFixed(1).padStart(5)} %  ${String(s.calls / steps).padStart(5)} calls`);
  }
  console.log(`  ${'outside run'.padEnd(22)} ${((total - inRun) / steps).toFixed(1).padStart(8)} ms  ${(100 * (total - inRun) / total).toFixed(1).padStart(5)} %`);
}

const selected = rows(arg('rows', 'cnn,simclr,rocl').split(','), flag('quick'));
if (flag('profile')) {
  for (const row of selected) await profile(row, arg('backend', 'wasm') as Kind, Number(arg('steps', '2')), Number(arg('top', '20')));
} else {
  const kinds = arg('backends', 'wasm,webgpu,cpu').split(',') as Kind[];
  console.log(`training steps on ${kinds.join(', ')}, alternating, ${arg('rounds', '3')} rounds (load average ${load()})`);
  for (const row of selected) await compare(row, kinds, Number(arg('rounds', '3')));
}

/**
 * Kills (issue 19): `wgrad train` and `wgrad compare` run as child processes (CPU backend, tiny data
 * and model) are SIGKILLed at random moments and continued with --resume until they finish; the end
 * state must equal an uninterrupted run's: every checkpoint tensor byte for byte, the metrics
 * records, the evaluations and the comparison's results (timings aside), with no temporary or lock
 * file left behind.
 *
 * The kill moments are drawn from a seeded generator (seed i gives the same sequence of delays every
 * time), as fractions of the uninterrupted run's duration after it starts training; where a process
 * is when the signal lands still depends on the machine's timing. CI runs a few seeds; set
 * WGRAD_KILL_SEEDS (e.g. 100) for a longer local run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '../src/core/random/mulberry.js';
import { init } from '../src/init.js';
import { checkpointLeaves, differing, spawnWgrad, writeIdx } from './helpers/cli.js';

const SEEDS = Number(process.env.WGRAD_KILL_SEEDS ?? 0);
/** Kills per seed before the run is let finish. */
const KILLS = 2;

let dir: string;
let data: string;
const trainArgs = (out: string) => ['train', '--method', 'simclr', '--data', data, '--batch', '8', '--width', '2', '--proj-dim', '4', '--epochs', '3', '--out', out];
const compareArgs = (out: string) => ['compare', '--methods', 'random,simclr,noise', '--data', data, '--batch', '8', '--width', '2', '--proj-dim', '4', '--epochs', '2',
  '--probe-epochs', '1', '--robust-limit', '4', '--steps', '1', '--knn-k', '3', '--out', out];

beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = mkdtempSync(join(tmpdir(), 'wgrad-kill-'));
  data = join(dir, 'data');
  writeIdx(data, 32);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs `args` as a child; `killAfter` (ms after the child starts training, i.e. after its "model:" or
 * "data:" line) SIGKILLs it. Returns the result, and the ms from that line to its exit.
 */
async function run(args: string[], killAfter?: number) {
  const p = spawnWgrad(...args);
  let started = 0;
  let timer: NodeJS.Timeout | undefined;
  p.child.stderr!.on('data', (c) => {
    if (started || !/^(model|data):/m.test(String(c))) return;
    started = performance.now();
    if (killAfter !== undefined) timer = setTimeout(() => p.child.kill('SIGKILL'), killAfter);
  });
  const r = await p.done;
  clearTimeout(timer);
  return { ...r, ms: performance.now() - started };
}

/** Every file under `root`, relative. */
const filesUnder = (root: string): string[] => readdirSync(root, { recursive: true, withFileTypes: true })
  .filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name).slice(root.length + 1)).sort();

/** Files a finished run must not leave: temporary files, locks (dot files). */
const leftovers = (root: string) => filesUnder(root).filter((f) => f.split('/').some((part) => part.startsWith('.')));

/** JSON with timings dropped and `root` written as <out> (the two runs live in different directories). */
function comparable(text: string, root: string): unknown {
  return JSON.parse(text.split(root).join('<out>'), (k, v) => (['seconds', 'imagesPerSec', 'trainSeconds', 'resume', 'provenance'].includes(k) ? undefined : v));
}
const metrics = (run: string, root: string) => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => comparable(l, root)); // the untrained encoder's run has none

/** Kills the command `KILLS` times at seeded moments, then lets it finish with --resume; returns how many kills landed. */
async function killAndResume(args: string[], seed: number, duration: number): Promise<number> {
  const rand = mulberry32(seed);
  let landed = 0;
  for (let k = 0; k < KILLS; k++) {
    const r = await run([...args, '--resume'], rand() * duration);
    if (r.signal === 'SIGKILL') landed++;
    else expect(r.status, r.stderr).toBe(0); // finished before the kill
  }
  const last = await run([...args, '--resume']);
  expect(last.status, last.stderr).toBe(0);
  return landed;
}

/** The run directories of a train (the directory itself) or a compare (runs/*). */
const runDirs = (out: string) => (existsSync(join(out, 'runs')) ? readdirSync(join(out, 'runs')).sort().map((n) => join(out, 'runs', n)) : [out]);

async function expectSameEnd(out: string, ref: string): Promise<void> {
  expect(leftovers(out)).toEqual([]);
  expect(filesUnder(out)).toEqual(filesUnder(ref));
  const refRuns = runDirs(ref);
  for (const [i, runDir] of runDirs(out).entries()) {
    expect(differing(await checkpointLeaves(runDir), await checkpointLeaves(refRuns[i])), runDir).toEqual([]);
    expect(metrics(runDir, out)).toEqual(metrics(refRuns[i], ref));
    if (existsSync(join(runDir, 'eval.json'))) expect(comparable(readFileSync(join(runDir, 'eval.json'), 'utf8'), out)).toEqual(comparable(readFileSync(join(refRuns[i], 'eval.json'), 'utf8'), ref));
  }
  if (existsSync(join(out, 'results.json'))) expect(comparable(readFileSync(join(out, 'results.json'), 'utf8'), out)).toEqual(comparable(readFileSync(join(ref, 'results.json'), 'utf8'), ref));
}

describe.each([
  { command: 'train', args: trainArgs, seeds: SEEDS || 4 },
  { command: 'compare', args: compareArgs, seeds: SEEDS || 2 },
])('$command killed at random moments and resumed ends as an uninterrupted run', ({ command, args, seeds }) => {
  let ref: string;
  let duration: number;
  beforeAll(async () => {
    ref = join(dir, `${command}-ref`);
    const r = await run(args(ref));
    expect(r.status, r.stderr).toBe(0);
    duration = r.ms;
  }, 60_000);

  it(`${seeds} seeds × ${KILLS} kills`, async () => {
    let landed = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const out = join(dir, `${command}-${seed}`);
      landed += await killAndResume(args(out), seed, duration);
      await expectSameEnd(out, ref);
    }
    expect(landed).toBeGreaterThan(0);
  }, 600_000);
});

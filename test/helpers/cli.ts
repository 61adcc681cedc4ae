/**
 * Shared by the command-line tests: run `wgrad` in this process (CPU backend) capturing what it
 * writes, or as a child process (for kills, signals and concurrent runs), tiny IDX datasets, and
 * byte-exact comparison of two runs' checkpoints.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as io from '../../src/io/node.js';
import { main } from '../../src/cli/cli.js';
import { dispose } from '../../src/tensor/scope.js';
import { treeLeaves } from '../../src/tensor/tree.js';

export type Result = { status: number | null; stdout: string; stderr: string };

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** Runs the command line in this process, capturing stdout/stderr; train/eval/compare get `--backend cpu`. */
export async function wgrad(...args: string[]): Promise<Result> {
  const out: string[] = [], err: string[] = [];
  const [ow, ew] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((c: string | Uint8Array) => (out.push(String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => (err.push(String(c)), true)) as typeof process.stderr.write;
  try {
    const withBackend = ['train', 'eval', 'compare'].includes(args[0]) && !args.includes('--help') ? [...args, '--backend', 'cpu'] : args;
    const status = await main(withBackend);
    return { status, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

/** Four IDX files of n random side×side images (default 8×8) with labels 0..2 (gzipped training files, plain test files). */
export function writeIdx(target: string, n: number, side = 8): void {
  mkdirSync(target, { recursive: true });
  let seed = 1;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255;
  const images = (count: number) => io.encodeIdx({ dtype: 'uint8', shape: [count, side, side], data: Uint8Array.from({ length: count * side * side }, rnd) });
  const labels = (count: number) => io.encodeIdx({ dtype: 'uint8', shape: [count], data: Uint8Array.from({ length: count }, (_, i) => i % 3) });
  writeFileSync(join(target, 'train-images-idx3-ubyte.gz'), gzipSync(images(n)));
  writeFileSync(join(target, 'train-labels-idx1-ubyte.gz'), gzipSync(labels(n)));
  writeFileSync(join(target, 't10k-images-idx3-ubyte'), images(12));
  writeFileSync(join(target, 't10k-labels-idx1-ubyte'), labels(12));
}

type RunTree = { params: unknown; state: { generator?: { count: number } }; vae?: unknown; epochsDone: number; vaeEpochsDone: number };

/** Every tensor leaf of a run's params, state (APLR's generator and its optimizer too) and VAE as [path, bytes], then the epoch counters. */
export async function checkpointLeaves(run: string): Promise<[string, number[]][]> {
  const { tree } = await io.loadCheckpoint<RunTree>(join(run, 'checkpoint.safetensors'));
  const out: [string, number[]][] = [];
  for (const [p, t] of treeLeaves({ params: tree.params, state: tree.state, vae: tree.vae })) {
    const d = await t.data();
    out.push([p, Array.from(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))]);
  }
  out.push(['epochs', [tree.vaeEpochsDone, tree.epochsDone, tree.state.generator?.count ?? -1]]);
  dispose(tree);
  return out;
}

/** The paths whose bytes differ (a short list: vitest's diff of two huge byte arrays would take minutes). */
export function differing(a: [string, number[]][], b: [string, number[]][]): string[] {
  if (a.length !== b.length) return [`${a.length} vs ${b.length} leaves`];
  return a.filter(([p, x], i) => p !== b[i][0] || x.length !== b[i][1].length || x.some((v, j) => v !== b[i][1][j])).map(([p]) => p);
}

/** A `wgrad` child process (src/cli/main.ts through tsx, CPU backend): `done` settles with its status, its signal and what it wrote. */
export function spawnWgrad(...args: string[]): { child: ChildProcess; done: Promise<Result & { signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...process.env, WGRAD_BACKEND: 'cpu' } });
  const out: string[] = [], err: string[] = [];
  child.stdout!.on('data', (c) => out.push(String(c)));
  child.stderr!.on('data', (c) => err.push(String(c)));
  const done = new Promise<Result & { signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (status, signal) => resolve({ status, signal, stdout: out.join(''), stderr: err.join('') }));
  });
  return { child, done };
}

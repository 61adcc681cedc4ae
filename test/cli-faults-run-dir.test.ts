/**
 * Run directories under faults (issue 19): a lock keeps a second wgrad process out of a directory
 * in use (naming the holder), a stale lock is taken over with a notice, and the lock goes on exit,
 * on errors and on SIGINT/SIGTERM; --resume mends what a kill leaves behind (a torn last line in
 * metrics.jsonl, an epoch record lost between the checkpoint and its line, a checkpoint-sized
 * temporary file of an interrupted rename).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { init } from '../src/init.js';
import { LOCK_FILE, ownerGone } from '../src/cli/run-lock.js';
import { checkpointLeaves, differing, spawnWgrad, wgrad, writeIdx } from './helpers/cli.js';

let dir: string;
let data: string;
const tiny = (out: string, ...extra: string[]) => ['--method', 'simclr', '--data', data, '--batch', '8', '--width', '2', '--proj-dim', '4', '--epochs', '2', '--out', out, ...extra];

beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = mkdtempSync(join(tmpdir(), 'wgrad-run-dir-'));
  data = join(dir, 'data');
  writeIdx(data, 32);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The pid of a process that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

/** Waits until `test` holds (polling), or fails after `ms`. */
async function until(test: () => boolean, what: string, ms = 20_000): Promise<void> {
  for (const t0 = Date.now(); !test();) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The metrics records without their timings (which differ between runs). */
const records = (run: string) => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => {
  const { seconds: _s, imagesPerSec: _i, ...rest } = JSON.parse(l);
  return rest;
});

describe('the lock of a run directory', () => {
  it('a directory held by a live process is refused, naming the holder; nothing is written', async () => {
    const out = join(dir, 'held');
    mkdirSync(out);
    const owner = { pid: process.ppid, host: hostname(), started: '2030-01-01T00:00:00.000Z', command: 'wgrad train --out elsewhere' };
    writeFileSync(join(out, LOCK_FILE), JSON.stringify(owner));
    const r = await wgrad('train', ...tiny(out));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`is held by wgrad train --out elsewhere (pid ${process.ppid} on ${hostname()}, since 2030-01-01T00:00:00.000Z)`);
    expect(readdirSync(out)).toEqual([LOCK_FILE]);
  });

  it('a stale lock (its process is gone) is taken over with a notice and removed at the end', async () => {
    const out = join(dir, 'stale');
    mkdirSync(out);
    writeFileSync(join(out, LOCK_FILE), JSON.stringify({ pid: deadPid(), host: hostname(), started: '2030-01-01T00:00:00.000Z', command: 'wgrad train' }));
    const r = await wgrad('train', ...tiny(out));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/note: taking over the stale lock .*\.wgrad\.lock of wgrad train \(pid \d+ .*\), which is no longer running/);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
  });

  it.runIf(existsSync('/proc/self/stat'))('a live pid that now names a later process (pid reuse) is a stale owner', () => {
    const stat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    expect(ownerGone({ pid: process.ppid, ticks: String(ticks) })).toBe(false);
    expect(ownerGone({ pid: process.ppid, ticks: String(ticks + 1) })).toBe(true);
    expect(ownerGone({ pid: deadPid() })).toBe(true);
  });

  it('two processes on one --out: the second is refused naming the first; the first finishes intact', async () => {
    const out = join(dir, 'two');
    const first = spawnWgrad('train', ...tiny(out, '--epochs', '15'));
    await until(() => existsSync(join(out, LOCK_FILE)), 'the first lock');
    const second = await wgrad('train', ...tiny(out, '--epochs', '15', '--resume')); // in this process: refused long before the first ends
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`is in use: .*\\.wgrad\\.lock is held by wgrad train --out .*two \\(pid ${first.child.pid} on `));
    const r = await first.done;
    expect(r.status, r.stderr).toBe(0);
    const epochs = records(out).filter((l) => l.event === 'epoch').map((l) => l.epoch);
    expect(epochs).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
  }, 120_000);

  it.each(['SIGINT', 'SIGTERM'] as const)('%s releases the lock and removes the process\'s temporary files', async (signal) => {
    const out = join(dir, `signal-${signal}`);
    const p = spawnWgrad('train', ...tiny(out, '--epochs', '200'));
    await until(() => existsSync(join(out, 'checkpoint.safetensors')), 'the first checkpoint');
    expect(existsSync(join(out, LOCK_FILE))).toBe(true);
    p.child.kill(signal);
    const r = await p.done;
    expect(r.signal).toBe(signal);
    expect(readdirSync(out).filter((f) => f.startsWith('.'))).toEqual([]);
  }, 120_000);

  it('an error releases the lock (a stale one taken over, then --resume refuses other settings)', async () => {
    const out = join(dir, 'error');
    expect((await wgrad('train', ...tiny(out, '--epochs', '1'))).status).toBe(0);
    writeFileSync(join(out, LOCK_FILE), JSON.stringify({ pid: deadPid(), host: hostname(), started: '2030-01-01T00:00:00.000Z', command: 'wgrad train' }));
    const r = await wgrad('train', ...tiny(out, '--epochs', '1', '--seed', '5', '--resume'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/taking over the stale lock[\s\S]*seed = 0, not 5/);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
  });
});

describe('--resume mends what a kill leaves behind', () => {
  let full: string;
  beforeAll(async () => {
    full = join(dir, 'full');
    expect((await wgrad('train', ...tiny(full))).status).toBe(0);
  });

  /** A run interrupted after its first epoch, `damage`d, then resumed: it must equal the uninterrupted one. */
  async function resumeAfter(name: string, damage: (run: string) => void): Promise<string> {
    const run = join(dir, name);
    expect((await wgrad('train', ...tiny(run, '--stop-after', '1'))).status).toBe(0);
    damage(run);
    const r = await wgrad('train', ...tiny(run, '--resume'));
    expect(r.status, r.stderr).toBe(0);
    expect(differing(await checkpointLeaves(run), await checkpointLeaves(full))).toEqual([]);
    expect(records(run)).toEqual(records(full));
    return r.stderr;
  }

  it('a torn last line in metrics.jsonl (a kill mid-append) is dropped with a notice', async () => {
    const stderr = await resumeAfter('torn', (run) => appendFileSync(join(run, 'metrics.jsonl'), '{"event":"step","phase":"enc'));
    expect(stderr).toMatch(/note: .*metrics\.jsonl: dropped a torn last line/);
  });

  it('an epoch record lost between the checkpoint and its line is restored from the checkpoint', async () => {
    const stderr = await resumeAfter('lost-epoch', (run) => {
      const path = join(run, 'metrics.jsonl');
      writeFileSync(path, readFileSync(path, 'utf8').trim().split('\n').filter((l) => !l.includes('"event":"epoch"')).map((l) => `${l}\n`).join(''));
    });
    expect(stderr).toMatch(/restored the record of epoch 1 from the checkpoint/);
  });

  it('the temporary file of a rename cut short is removed', async () => {
    let tmp = '';
    const stderr = await resumeAfter('temp', (run) => {
      tmp = join(run, `.checkpoint.safetensors.${deadPid()}.0123456789ab.tmp`);
      writeFileSync(tmp, readFileSync(join(run, 'checkpoint.safetensors')));
    });
    expect(stderr).toMatch(/note: removed .*\.checkpoint\.safetensors\.\d+\.0123456789ab\.tmp, the temporary file of a write that was interrupted/);
    expect(existsSync(tmp)).toBe(false);
  });
});

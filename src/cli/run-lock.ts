/**
 * The lock of an output directory: two wgrad processes writing one run directory would interleave
 * its metrics and overwrite each other's checkpoints, so each command holds DIR/.wgrad.lock while it
 * writes there.
 *
 * The lock file holds its owner (pid, host, start time, command line, and on Linux the boot id and
 * the process's start time in clock ticks, which tell a live owner from a reused pid). It is
 * created atomically with its contents: written to a temporary file, then hard-linked to the lock's
 * name (link fails with EEXIST when the lock exists, so exactly one process wins). A lock whose
 * owner is gone (same host, pid not running or running a later process) is stale: it is taken over
 * with a notice. The lock is removed on release, on errors (the callers release in `finally`), on
 * process.exit and on SIGINT/SIGTERM/SIGHUP (which then end the process as the signal would).
 */
import { linkSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { WgradError } from '../core/backend.js';
import { TEMP_FILE, tempPathFor } from '../io/node.js';
import { displayPath } from './paths.js';

export const LOCK_FILE = '.wgrad.lock';

interface LockOwner {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  started: string;
  command: string;
  /** Linux: /proc/sys/kernel/random/boot_id and the process's start time (ticks since boot). */
  boot?: string;
  ticks?: string;
}

/** Directory → the lock text this process wrote there. */
const held = new Map<string, string>();

/** The start time of process `pid` in clock ticks since boot (Linux), or undefined. */
function startTicks(pid: number): string | undefined {
  try {
    // /proc/PID/stat: "pid (comm) state ..."; comm may hold spaces and parentheses, so count fields after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Whether a process `pid` exists (EPERM: it does, owned by another user). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the owner of a lock on this host is gone: not running, or its pid now names a later process. */
export function ownerGone(owner: Pick<LockOwner, 'pid' | 'boot' | 'ticks'>): boolean {
  if (owner.pid === process.pid) return false;
  if (!running(owner.pid)) return true;
  const boot = bootId();
  if (owner.boot && boot && owner.boot !== boot) return true;
  const ticks = startTicks(owner.pid);
  return !!(owner.ticks && ticks && owner.ticks !== ticks);
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as LockOwner;
    return Number.isInteger(o?.pid) && typeof o.host === 'string' ? o : undefined;
  } catch {
    return undefined;
  }
}

const describeOwner = (o: LockOwner) => `${o.command} (pid ${o.pid} on ${o.host}, since ${o.started})`;

/** Creates the lock file with `text` atomically; false if it exists. */
function tryCreate(path: string, text: string): boolean {
  const tmp = tempPathFor(path);
  writeFileSync(tmp, text, { flag: 'wx' });
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
    // No hard links on this file system: an exclusive create (the contents follow a moment later).
    try {
      writeFileSync(path, text, { flag: 'wx' });
      return true;
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e2;
    }
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Locks the existing directory `dir` for `command` (the command line, shown to a second process);
 * `what` names it in errors (e.g. "--out runs/x"). Throws a WgradError naming the holder when another
 * live process holds it; takes over a stale lock, saying so through `log`. Returns the release.
 */
export function lockDir(dir: string, what: string, command: string, log: (line: string) => void): () => void {
  const key = resolve(dir);
  const path = join(key, LOCK_FILE);
  const boot = bootId();
  const text = `${JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString(), command, boot, ticks: boot && startTicks(process.pid) } satisfies LockOwner)}\n`;
  for (let attempt = 0; ; attempt++) {
    if (tryCreate(path, text)) break;
    const seen = readFileSync(path, 'utf8');
    const owner = parseOwner(seen);
    const gone = owner && owner.host === hostname() && (ownerGone(owner) || (owner.pid === process.pid && !held.has(key)));
    if (!gone || attempt >= 3) {
      const who = owner ? describeOwner(owner) : `an unreadable lock (${JSON.stringify(seen.slice(0, 80))})`;
      throw new WgradError('run directory', `${what} is in use: ${displayPath(path)} is held by ${who}. Wait for it to finish or choose another directory; if that process is no longer running, remove ${displayPath(path)}`);
    }
    log(`note: taking over the stale lock ${displayPath(path)} of ${describeOwner(owner)}, which is no longer running`);
    // Remove it only if it is still the lock judged stale (another process may have taken it over meanwhile).
    if (readFileSync(path, 'utf8') === seen) rmSync(path, { force: true });
  }
  held.set(key, text);
  listen();
  return () => release(key);
}

function release(key: string): void {
  const text = held.get(key);
  if (text === undefined) return;
  held.delete(key);
  const path = join(key, LOCK_FILE);
  try {
    if (readFileSync(path, 'utf8') === text) unlinkSync(path);
  } catch {
    // already gone
  }
  if (!held.size) unlisten();
}

/** Our own temporary files in the locked directories (a signal may interrupt a write between its temp file and its rename). */
function removeOwnTemps(key: string): void {
  try {
    for (const f of readdirSync(key)) if (TEMP_FILE.exec(f)?.[2] === String(process.pid)) rmSync(join(key, f), { force: true });
  } catch {
    // best effort on the way out
  }
}

function releaseAll(): void {
  for (const key of [...held.keys()]) {
    removeOwnTemps(key);
    release(key);
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function onSignal(signal: NodeJS.Signals): void {
  releaseAll();
  unlisten();
  // End as the signal would have (the default action, now that no listener is left).
  process.kill(process.pid, signal);
}

let listening = false;

function listen(): void {
  if (listening) return;
  listening = true;
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('exit', releaseAll);
}

function unlisten(): void {
  if (!listening) return;
  listening = false;
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off('exit', releaseAll);
}

/**
 * The output directories of the command line (train's and compare's run directories, eval's
 * --out): checked before any work, created, locked (run-lock.ts) and cleared of the temporary files
 * that an interrupted atomic write leaves behind; and the tolerant reading of the JSON Lines files
 * they hold (an append cut short by a kill leaves a torn last line).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { WgradError } from '../core/backend.js';
import { TEMP_FILE, tempPathFor } from '../io/node.js';
import { UsageError } from './args.js';
import { displayPath } from './paths.js';
import { LOCK_FILE, lockDir, ownerGone } from './run-lock.js';

/** What the file system's refusals mean, in words. */
const REASONS: Record<string, string> = {
  EROFS: 'the file system is read-only', EACCES: 'permission denied', EPERM: 'operation not permitted', ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded', ENOTDIR: 'a part of the path is a file, not a directory', EEXIST: 'a file of that name exists', ENAMETOOLONG: 'the name is too long',
};

function refused(flag: string, dir: string, command: string, e: unknown): UsageError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return new UsageError(`${flag} ${dir}: cannot write there: ${REASONS[code] ?? (e as Error).message}${code ? ` (${code})` : ''}`, command);
}

/** Creates and removes an empty temporary file in the directory `at` (throws what the file system says). */
function probeWrite(at: string): void {
  const tmp = tempPathFor(join(at, '.wgrad-write-probe'));
  writeFileSync(tmp, '', { flag: 'wx' });
  rmSync(tmp, { force: true });
}

/**
 * Checks, without creating anything, that `dir` can be an output directory: it is a directory or
 * can be created as one, and files can be written there (a probe file in it, or in its nearest
 * existing ancestor). A UsageError names `flag` and the reason.
 */
export function checkOutDir(dir: string, flag: string, command: string): void {
  let at = resolve(dir);
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  if (!statSync(at).isDirectory()) {
    throw new UsageError(`${flag} ${dir}: ${displayPath(at)} is a file, not a directory; choose another ${flag}`, command);
  }
  try {
    probeWrite(at);
  } catch (e) {
    throw refused(flag, dir, command, e);
  }
}

/**
 * Opens `dir` as the output directory of `command`: creates it (a UsageError names `flag` if it
 * cannot), locks it against other wgrad processes and removes the temporary files of writes an
 * interrupted process left there. Returns the release: it unlocks, and removes the directories it
 * created if nothing was written in them.
 */
export function openOutDir(dir: string, flag: string, command: string, log: (line: string) => void): () => void {
  let created: string | undefined;
  try {
    created = mkdirSync(dir, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') checkOutDir(dir, flag, command); // says which part is a file
    throw refused(flag, dir, command, e);
  }
  let unlock: () => void;
  try {
    unlock = lockDir(dir, `${flag} ${dir}`, `wgrad ${command} ${flag} ${dir}`, log);
  } catch (e) {
    removeEmpty(dir, created);
    const code = (e as NodeJS.ErrnoException).code;
    throw code ? refused(flag, dir, command, e) : e;
  }
  removeStaleTemps(dir, log);
  return () => {
    unlock();
    removeEmpty(dir, created);
  };
}

/** Removes `dir` and its parents up to `created` (the first directory mkdir made) while they are empty. */
function removeEmpty(dir: string, created: string | undefined): void {
  if (!created) return;
  for (let at = resolve(dir); ; at = dirname(at)) {
    try {
      if (readdirSync(at).length) return;
      rmdirSync(at);
    } catch {
      return;
    }
    if (at === resolve(created) || relative(created, at).startsWith('..')) return;
  }
}

/**
 * Removes the temporary files of interrupted atomic writes (io's TEMP_FILE names) from a locked
 * directory: no other wgrad process writes there, except one trying to take the lock (its lock
 * file's temporary, kept while that process runs).
 */
export function removeStaleTemps(dir: string, log: (line: string) => void): void {
  for (const f of readdirSync(dir)) {
    const m = TEMP_FILE.exec(f);
    if (!m || (m[1] === LOCK_FILE && !ownerGone({ pid: Number(m[2]) }))) continue;
    rmSync(join(dir, f), { force: true });
    log(`note: removed ${displayPath(join(dir, f))}, the temporary file of a write that was interrupted (process ${m[2]})`);
  }
}

/**
 * The records of a JSON Lines file. A last line that is not JSON is an append cut short (a kill
 * mid-write): it is dropped, and `onTorn` hears of it. Any other line that is not JSON is an error
 * naming the file and the line.
 */
export function readJsonLines<T>(path: string, onTorn?: (line: string) => void): T[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  while (lines.length && !lines.at(-1)!.trim()) lines.pop();
  const out: T[] = [];
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch (e) {
      if (i === lines.length - 1) {
        onTorn?.(line);
        break;
      }
      throw new WgradError('metrics', `${path}: line ${i + 1} is not JSON (${(e as Error).message}): ${JSON.stringify(line.slice(0, 80))}`);
    }
  }
  return out;
}

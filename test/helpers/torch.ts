/**
 * The float64 PyTorch cross-checks run Debian's python3-torch (scripts/setup.sh installs it). Where
 * it is missing they skip — but not in CI (CI=true), where a missing torch fails the test, so that a
 * broken set-up cannot pass silently.
 */
import { execFileSync } from 'node:child_process';
import { inCi } from './ci.js';

let found: string | null | undefined;

/** A python3 that imports torch, or undefined. */
export function torchPython(): string | undefined {
  if (found === undefined) {
    found = null;
    for (const py of ['/usr/bin/python3', 'python3']) {
      try {
        execFileSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
        found = py;
        break;
      } catch {
        // try the next one
      }
    }
  }
  return found ?? undefined;
}

/** The python3 to run; skips the test without torch outside CI, fails it in CI. */
export function requireTorch(ctx: { skip: (note?: string) => void }): string {
  const py = torchPython();
  if (py) return py;
  const reason = 'python3 with torch (Debian python3-torch) is not available';
  if (inCi()) throw new Error(`${reason}, and the PyTorch cross-checks are required in CI (CI=${process.env.CI}); run scripts/setup.sh`);
  ctx.skip(reason);
  throw new Error('unreachable: ctx.skip() returned');
}

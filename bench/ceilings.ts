/**
 * The CPU ceilings (the software GPU runs on the same CPU): numpy sgemm for the GEMM rows and the
 * same training steps in PyTorch, in Python subprocesses after the GPU rows. scripts/bench-setup.sh
 * installs what they need (OpenBLAS included); missing packages only leave the ceilings empty.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RowResult } from './harness.js';
import type { RunInfo } from './report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const errText = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300);

/** The first Python interpreter that can import `module` (Debian's first). */
function pythonWith(module: string): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', `import ${module}`], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return undefined;
}

function runPython(py: string, script: string, args: string[], timeoutMs: number): unknown {
  const r = spawnSync(py, [path.join(here, 'ceiling', script), ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`${script} failed (${r.signal ?? r.status}): ${(r.stderr || '').trim().split('\n').slice(-1)[0] ?? ''}`);
  return JSON.parse(r.stdout.trim().split('\n').slice(-1)[0]);
}

/** "1024" for a square GEMM row, "b×m×k×n" otherwise (numpy_sgemm.py's keys). */
const gemmKey = (r: RowResult) => (r.gemm ? (r.gemm[0] === 1 && r.gemm[1] === r.gemm[2] && r.gemm[2] === r.gemm[3] ? `${r.gemm[1]}` : r.gemm.join('x')) : undefined);

/** Measures the ceilings of `results`' GEMM and training rows and attaches them to the rows. */
export function measureCeilings(results: RowResult[], tasks: { id: string; model: string; batch: number }[], quick: boolean, log: (s: string) => void): RunInfo['ceilings'] {
  const ceilings: RunInfo['ceilings'] = {};
  const squares = [...new Set(results.map(gemmKey).filter((k): k is string => k !== undefined))];
  if (squares.length) {
    const py = pythonWith('numpy');
    if (!py) ceilings.numpy = { error: 'no python3 with numpy (run scripts/bench-setup.sh)' };
    else {
      try {
        log(`CPU ceiling: numpy sgemm ${squares.join(', ')} (${py})`);
        ceilings.numpy = runPython(py, 'numpy_sgemm.py', squares, 300_000) as RunInfo['ceilings']['numpy'];
      } catch (e) {
        ceilings.numpy = { error: errText(e) };
      }
    }
  }
  const run = tasks.filter((t) => results.some((r) => r.id === t.id));
  if (run.length) {
    const py = pythonWith('torch');
    if (!py) ceilings.torch = { error: 'no python3 with torch (run scripts/bench-setup.sh)' };
    else {
      try {
        log(`CPU ceiling: PyTorch training steps ${run.map((t) => t.id).join(', ')} (${py})`);
        ceilings.torch = runPython(py, 'torch_steps.py', [JSON.stringify(run), quick ? '1.5' : '3'], 600_000) as RunInfo['ceilings']['torch'];
      } catch (e) {
        ceilings.torch = { error: errText(e) };
      }
    }
  }
  ceilings.loadDuring = os.loadavg();
  attach(results, ceilings);
  return ceilings;
}

function attach(results: RowResult[], ceilings: RunInfo['ceilings']): void {
  const np = ceilings.numpy, th = ceilings.torch;
  for (const r of results) {
    let c: { name: string; value: number } | undefined;
    const gk = gemmKey(r);
    if (np && 'results' in np && gk) {
      const e = np.results[gk];
      if (e) c = { name: 'numpy sgemm', value: e.gflops };
    }
    if (th && 'results' in th && r.group === 'train') {
      const e = th.results[r.id];
      if (e?.steps_per_s) c = { name: 'PyTorch CPU', value: e.steps_per_s };
    }
    if (c) r.ceiling = { ...c, ratio: r.wgrad.value ? r.wgrad.value / c.value : undefined };
  }
}

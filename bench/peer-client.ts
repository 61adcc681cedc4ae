/**
 * The runner's end of a peer's process (peer-worker.ts): forks it, and turns a row into a harness
 * Side whose calls are messages. A call that takes longer than `callTimeoutS` kills the process
 * (the row fails with that message); a dead process is started again at the next row.
 */
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RowSpec, Side, SideImpl } from './harness.js';
import type { PeerId } from './peers.js';
import type { Request, WorkerOptions } from './peer-worker.js';

const here = path.dirname(fileURLToPath(import.meta.url));

type Reply = { seq: number; ok: boolean; value?: unknown; error?: string };
type Ready = { ready: boolean; describe?: string; adapter?: string; canSpan?: boolean; error?: string };

export class PeerProcess {
  describe = '';
  adapter = '';
  private child?: ChildProcess;
  private canSpan = false;
  private seq = 0;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  constructor(readonly id: PeerId, private readonly opts: WorkerOptions, private readonly callTimeoutS: number) {}

  get alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Forks the process and waits until its library has started (or failed to). */
  async start(): Promise<void> {
    const child = fork(path.join(here, 'peer-worker.ts'), [this.id, JSON.stringify(this.opts)], {
      serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.child = child;
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const ready = await new Promise<Ready>((resolve) => {
      const timer = setTimeout(() => resolve({ ready: false, error: 'did not start within 180 s' }), 180_000);
      child.once('message', (m: Ready) => { clearTimeout(timer); resolve(m); });
      child.once('exit', (code, sig) => { clearTimeout(timer); resolve({ ready: false, error: `exited (${sig ?? code}) while starting: ${lastLine(stderr)}` }); });
    });
    if (!ready.ready) {
      this.close();
      throw new Error(ready.error ?? 'did not start');
    }
    this.describe = ready.describe ?? '';
    this.adapter = ready.adapter ?? '';
    this.canSpan = !!ready.canSpan;
    child.on('message', (m: Reply) => this.settle(m));
    child.on('exit', (code, sig) => {
      for (const [, p] of this.pending) { clearTimeout(p.timer); p.reject(new Error(`peer process exited (${sig ?? code}): ${lastLine(stderr)}`)); }
      this.pending.clear();
    });
  }

  private settle(m: Reply): void {
    const p = this.pending.get(m.seq);
    if (!p) return;
    this.pending.delete(m.seq);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.value);
    else p.reject(new Error(m.error));
  }

  private call(req: { op: 'make'; row: string } | { op: Exclude<Request['op'], 'make'> }): Promise<unknown> {
    if (!this.alive) return Promise.reject(new Error('peer process is not running'));
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`${req.op} took longer than ${this.callTimeoutS} s (peer process stopped)`));
        this.close();
      }, this.callTimeoutS * 1000);
      this.pending.set(seq, { resolve, reject, timer });
      this.child!.send({ ...req, seq });
    });
  }

  /** The row on this peer, as a harness side. */
  side(spec: RowSpec): Side {
    return {
      name: this.id,
      make: async (): Promise<SideImpl> => {
        if (!this.alive) await this.start();
        await this.call({ op: 'make', row: spec.id });
        return {
          run: () => this.call({ op: 'run' }) as Promise<number>,
          check: () => this.call({ op: 'check' }) as Promise<Float32Array>,
          dispose: async () => { if (this.alive) await this.call({ op: 'dispose' }); },
          spanRun: this.canSpan ? () => this.call({ op: 'span' }) as Promise<{ wallMs: number; gpuMs: number | null }> : undefined,
        };
      },
    };
  }

  close(): void {
    if (this.child && this.alive) this.child.kill('SIGKILL');
  }
}

const lastLine = (s: string) => s.trim().split('\n').filter((l) => !/artificially reduced/.test(l)).slice(-1)[0] ?? '';

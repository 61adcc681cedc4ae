/**
 * Progress for long loops: a live bar redrawn in place on a TTY, plain lines on a pipe (at most one
 * every `intervalS` seconds, plus the last), each with done/total, the running mean loss, images/s
 * and the ETA.
 *
 *   epoch 2/5 [██████████░░░░░░░░░░]  8/15  loss 5.1234  412 img/s  ETA 0:12
 */

export interface ProgressOptions {
  /** The stream to write to (default process.stderr). */
  stream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  /** Minimum seconds between plain lines on a pipe (default 10). */
  intervalS?: number;
  /** Images per unit of progress (for images/s). */
  imagesPerStep?: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

export class Progress {
  private readonly start = performance.now();
  private lastPrint = -Infinity;
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private readonly tty: boolean;
  private readonly intervalS: number;
  private readonly imagesPerStep: number;
  private line = '';

  constructor(private readonly label: string, private readonly total: number, opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = !!this.stream.isTTY;
    this.intervalS = opts.intervalS ?? 10;
    this.imagesPerStep = opts.imagesPerStep ?? 0;
  }

  /** The status text after `done` of `total` units. */
  render(done: number, info: Record<string, number> = {}): string {
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = done > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? (this.total - done) / rate : Number.NaN;
    const width = 20;
    const filled = this.total > 0 ? Math.round((width * done) / this.total) : width;
    const bar = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
    const fields = Object.entries(info).map(([k, v]) => `${k} ${Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : v.toFixed(4)}`);
    if (this.imagesPerStep > 0 && done > 0) fields.push(`${Math.round((done * this.imagesPerStep) / elapsed)} img/s`);
    fields.push(done >= this.total ? `${formatDuration(elapsed)}` : `ETA ${formatDuration(eta)}`);
    const count = `${String(done).padStart(String(this.total).length)}/${this.total}`;
    return `${this.label} ${this.tty ? `${bar} ` : ''}${count}  ${fields.join('  ')}`;
  }

  update(done: number, info: Record<string, number> = {}): void {
    const text = this.render(done, info);
    if (this.tty) {
      const pad = Math.max(0, this.line.length - text.length);
      this.stream.write(`\r${text}${' '.repeat(pad)}`);
      this.line = text;
      if (done >= this.total) this.finish();
      return;
    }
    const now = performance.now() / 1000;
    if (done >= this.total || now - this.lastPrint >= this.intervalS) {
      this.stream.write(`${text}\n`);
      this.lastPrint = now;
    }
  }

  /** Ends the live line (TTY). */
  finish(): void {
    if (this.tty && this.line) this.stream.write('\n');
    this.line = '';
  }
}

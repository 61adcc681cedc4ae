/**
 * Loss curves the command line writes, drawn with the evaluation module's SVG writer
 * (src/eval/svg.ts): per step, read back from a run's metrics.jsonl (x = epochs, fractional), one
 * series per phase (IDAA's VAE, the encoder) or per method (compare).
 */
import { join } from 'node:path';
import { lineChart, type Series } from '../eval/svg.js';
import { readStepLines } from './metrics.js';
import { METRICS_FILE } from './run.js';

/** The per-step losses of a run directory, per phase, with x in (fractional) epochs. */
export function stepCurves(dir: string): Record<string, { x: number[]; y: number[] }> {
  const lines = readStepLines(join(dir, METRICS_FILE));
  const perEpoch = new Map<string, number>();
  for (const l of lines) perEpoch.set(`${l.phase}/${l.epoch}`, Math.max(perEpoch.get(`${l.phase}/${l.epoch}`) ?? 0, l.step));
  const out: Record<string, { x: number[]; y: number[] }> = {};
  for (const l of lines) {
    const c = (out[l.phase] ??= { x: [], y: [] });
    c.x.push(l.epoch - 1 + l.step / (perEpoch.get(`${l.phase}/${l.epoch}`) ?? 1));
    c.y.push(l.loss);
  }
  return out;
}

/** One run's training loss per step (the VAE phase, if any, as its own series). */
export function lossChart(dir: string, title: string): string {
  const curves = stepCurves(dir);
  const series: Series[] = Object.entries(curves).map(([phase, c]) => ({ name: phase === 'vae' ? 'VAE loss' : 'encoder loss', ...c }));
  return lineChart({ title, xLabel: 'epoch', yLabel: 'loss', series });
}

/** Encoder loss per step of several runs (compare). */
export function compareLossChart(runs: { name: string; dir: string; color?: string }[], title: string): string {
  return lineChart({
    title, xLabel: 'epoch', yLabel: 'training loss (each method\'s objective)',
    series: runs.map((r) => ({ name: r.name, color: r.color, ...(stepCurves(r.dir).encoder ?? { x: [], y: [] }) })),
  });
}

/**
 * Charts the command line writes: training-loss curves (per epoch, one series per phase or per
 * method). Drawn with the evaluation module's SVG writer (src/eval/svg.ts).
 */
import type { EpochRecord } from './run.js';
import { lineChart, type Series } from '../eval/svg.js';

/** Loss per epoch of one run (the VAE phase, if any, as its own series). */
export function lossChart(history: readonly EpochRecord[], title: string): string {
  const series: Series[] = [];
  for (const phase of ['vae', 'encoder'] as const) {
    const h = history.filter((r) => r.phase === phase);
    if (h.length) series.push({ name: phase === 'vae' ? 'VAE loss' : 'encoder loss', x: h.map((r) => r.epoch), y: h.map((r) => r.loss) });
  }
  return lineChart({ title, xLabel: 'epoch', yLabel: 'loss', series });
}

/** Encoder loss per epoch of several runs (compare). */
export function compareLossChart(runs: { name: string; history: readonly EpochRecord[] }[], title: string): string {
  return lineChart({
    title, xLabel: 'epoch', yLabel: 'training loss',
    series: runs.map((r) => {
      const h = r.history.filter((e) => e.phase === 'encoder');
      return { name: r.name, x: h.map((e) => e.epoch), y: h.map((e) => e.loss) };
    }),
  });
}

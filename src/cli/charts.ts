/**
 * Charts the command line writes: training-loss curves (per epoch, one series per phase or per
 * method). Drawn with the evaluation module's SVG writer when present.
 */
import type { EpochRecord } from './run.js';
import { lineChartSvg, type Series } from './svg.js';

/** Loss per epoch of one run (the VAE phase, if any, as its own series). */
export function lossChart(history: readonly EpochRecord[], title: string): string {
  const series: Series[] = [];
  for (const phase of ['vae', 'encoder'] as const) {
    const h = history.filter((r) => r.phase === phase);
    if (h.length) series.push({ name: phase === 'vae' ? 'VAE loss' : 'encoder loss', points: h.map((r) => [r.epoch, r.loss]) });
  }
  return lineChartSvg({ title, xLabel: 'epoch', yLabel: 'loss', series });
}

/** Encoder loss per epoch of several runs (compare). */
export function compareLossChart(runs: { name: string; history: readonly EpochRecord[] }[], title: string): string {
  return lineChartSvg({
    title, xLabel: 'epoch', yLabel: 'training loss',
    series: runs.map((r) => ({ name: r.name, points: r.history.filter((h) => h.phase === 'encoder').map((h) => [h.epoch, h.loss] as [number, number]) })),
  });
}

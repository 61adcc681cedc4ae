/**
 * The study's sizing page (docs/results.md, Part 1, "The setting, and how it is chosen"), generated
 * from the sizing runs' directories alone, so that the curve and the knobs the study uses are not
 * copied by hand:
 *
 *   npx tsx scripts/study-sizing.ts [--sizing results/study-sizing] [--images results/study/images]
 *
 * - The probe-versus-steps curve: SimCLR's linear probe on the validation split (the accuracy of the
 *   probe chosen there) after 2, 4 and 8 epochs on the image setting, beside the raw pixels and the
 *   untrained encoder. The 8-epoch point is the study's own SimCLR seed-0 run (the same command).
 * - The knobs: per domain, the validation accuracy of every grid point of noise σ, masking p and
 *   APLR's ε (seed 0, a fifth of the budget); the chosen value is the best one, ties going to the
 *   record's default.
 *
 * Writes SIZING/README.md and SIZING/curve.svg.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChart } from '../src/eval/svg.js';
import { readTables } from '../src/cli/report-command.js';
import type { StoredRun, Table } from '../src/cli/study-report.js';
import * as ssl from '../src/ssl/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const sizing = arg('sizing', 'results/study-sizing');
const images = arg('images', 'results/study/images');

/** The knobs: the method, its option as a row sets it, and the option's key in the record. */
const KNOBS = [
  { method: 'noise', option: 'noise-std', label: 'noise σ' },
  { method: 'mask', option: 'mask-prob', label: 'masking p' },
  { method: 'aplr', option: 'eps', label: 'APLR ε' },
] as const;

const pct = (v: number | undefined) => (v === undefined ? '–' : `${(100 * v).toFixed(2)} %`);
const valOf = (r: StoredRun) => r.eval.probeSelection?.valAccuracy;

/** The only table under `dir` (a compare --out), or undefined where it has no runs yet. */
function tableIn(dir: string): Table | undefined {
  if (!existsSync(dir)) return undefined;
  return [...readTables(dir).values()][0];
}

/** The record's default of a knob (a bare row such as "noise" runs with it). */
function defaultOf(method: string, option: string): number {
  const record = ssl.methodRecord(method);
  const flag = record.flags.find((f) => f.flag === option || f.key === option);
  const value = flag && (record.defaults as Record<string, unknown>)[flag.key];
  if (typeof value !== 'number') throw new Error(`${method} has no numeric option ${option}`);
  return value;
}

/** A row's knob value: "noise:noise-std=0.3" → 0.3, "noise" → the default. */
function knobValue(row: string, method: string, option: string): number | undefined {
  const [base, ...sets] = row.split(':');
  if (base !== method) return undefined;
  const set = sets.find((s) => s.startsWith(`${option}=`));
  return set ? Number(set.slice(option.length + 1)) : sets.length ? undefined : defaultOf(method, option);
}

function curveSection(): string[] {
  const points: { epochs: number; simclr?: number; raw?: number; random?: number; dir: string }[] = [];
  for (const d of readdirSync(join(sizing, 'images')).filter((n) => /^curve-e\d+$/.test(n)).sort()) {
    const t = tableIn(join(sizing, 'images', d));
    if (!t) continue;
    const of = (row: string) => t.runs.find((r) => r.row === row);
    points.push({ epochs: t.meta.epochs, simclr: of('simclr') && valOf(of('simclr')!), raw: of('raw') && valOf(of('raw')!), random: of('random') && valOf(of('random')!), dir: join(sizing, 'images', d) });
  }
  const study = tableIn(images)?.runs.find((r) => r.row === 'simclr' && r.seed === 0);
  const studyTable = study && tableIn(images);
  if (study && studyTable) points.push({ epochs: studyTable.meta.epochs, simclr: valOf(study), dir: `${images} (the study's SimCLR, seed 0)` });
  points.sort((a, b) => a.epochs - b.epochs);
  const raw = points.find((p) => p.raw !== undefined)?.raw, random = points.find((p) => p.random !== undefined)?.random;
  const steps = (e: number) => e * Math.floor(10000 / 128);
  const xs = points.map((p) => steps(p.epochs));
  writeFileSync(join(sizing, 'curve.svg'), lineChart({
    title: 'SimCLR\'s linear probe on the validation split versus training steps', subtitle: 'Fashion-MNIST, 10,000 training images, CNN width 8, batch 128, seed 0 (wasm)',
    xLabel: 'training steps (each point a full run with its own schedule)', yLabel: 'validation accuracy (%)',
    series: [
      { name: 'SimCLR', x: xs, y: points.map((p) => 100 * (p.simclr ?? Number.NaN)) },
      ...(raw === undefined ? [] : [{ name: 'raw pixels (linear)', x: xs, y: xs.map(() => 100 * raw), dash: '6,3' }]),
      ...(random === undefined ? [] : [{ name: 'untrained encoder', x: xs, y: xs.map(() => 100 * random), dash: '2,3' }]),
    ],
  }));
  const beats = points.filter((p) => p.simclr !== undefined && raw !== undefined && random !== undefined && p.simclr > raw && p.simclr > random);
  return [
    '## The probe-versus-steps curve (images)', '',
    `Raw pixels: ${pct(raw)}; the untrained encoder: ${pct(random)} (validation split).`, '',
    '| epochs | steps | SimCLR, validation probe | run |', '|---|---|---|---|',
    ...points.filter((p) => p.simclr !== undefined).map((p) => `| ${p.epochs} | ${steps(p.epochs)} | ${pct(p.simclr)} | ${p.dir} |`), '',
    beats.length ? `SimCLR beats both from ${beats[0].epochs} epochs on.` : 'At no budget measured does SimCLR\'s probe beat both the raw pixels and the untrained encoder on the validation split.', '',
    '![curve](curve.svg)', '',
  ];
}

function knobSection(): string[] {
  const lines = ['## The knobs (seed 0, a fifth of the budget, validation split)', '', 'Chosen: the best validation accuracy; ties go to the record\'s default.', ''];
  for (const d of readdirSync(sizing).flatMap((n) => (n === 'images' ? readdirSync(join(sizing, n)).map((m) => join(n, m)) : [n])).filter((n) => /knobs/.test(n)).sort()) {
    const t = tableIn(join(sizing, d));
    if (!t) continue;
    lines.push(`### ${t.meta.data.split(':')[0]} (${d}, ${t.meta.epochs} epochs)`, '', '| knob | value | validation probe | chosen |', '|---|---|---|---|');
    for (const k of KNOBS) {
      const grid = t.runs.flatMap((r) => { const v = knobValue(r.row, k.method, k.option); return v === undefined ? [] : [{ v, acc: valOf(r) ?? Number.NaN }]; }).sort((a, b) => a.v - b.v);
      if (!grid.length) continue;
      const def = defaultOf(k.method, k.option);
      const bestAcc = Math.max(...grid.map((g) => g.acc));
      const best = grid.find((g) => g.acc === bestAcc && g.v === def) ?? grid.find((g) => g.acc === bestAcc)!;
      for (const g of grid) lines.push(`| ${k.label} | ${g.v}${g.v === def ? ' (default)' : ''} | ${pct(g.acc)} | ${g === best ? '**chosen**' : ''} |`);
    }
    const refs = t.runs.filter((r) => ['raw', 'random'].includes(r.row));
    if (refs.length) lines.push('', refs.map((r) => `${r.row === 'raw' ? 'raw inputs' : 'untrained encoder'}: ${pct(valOf(r))}`).join('; ') + '.');
    lines.push('');
  }
  return lines;
}

const page = [
  '# The study\'s sizing runs', '',
  `Generated by \`npx tsx scripts/study-sizing.ts\` from the run directories under ${sizing} (and the study's SimCLR seed 0 under ${images}); do not edit by hand. The setting they inform is in [docs/results.md](../../docs/results.md#amendment-log).`, '',
  ...curveSection(), ...knobSection(),
].join('\n');
writeFileSync(join(sizing, 'README.md'), page);
console.log(`wrote ${join(sizing, 'README.md')} and ${join(sizing, 'curve.svg')}`);

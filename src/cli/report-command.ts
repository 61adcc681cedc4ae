/**
 * `wgrad report --runs DIR`: rebuilds every comparison's tables and charts under DIR from its run
 * directories alone — each run's row.json (its row, seed, times and the table's settings, written by
 * `wgrad compare`) and eval.json (its evaluation) — so that no number is copied by hand. Each
 * comparison (a directory holding runs/) gets its results.md, results.json and charts again (its
 * runs must share the table's settings and their evaluation's, seeds aside: checked)
 * (./study-report.ts), and --out gets one Markdown page: per table the rows × metrics and the
 * hypotheses it decides, then every verdict in one table.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { WgradError } from '../core/backend.js';
import { writeFileAtomic } from '../io/node.js';
import { type Flags, type Parsed, UsageError } from './args.js';
import { EVAL_FILE } from './eval-cache.js';
import { displayPath } from './paths.js';
import { checkOutDir } from './run-dir.js';
import { decideHypotheses, groupRows, metricLabel, verdictText } from './study.js';
import { hypothesesTable, metricsTable, type StoredRun, type Table, type TableMeta, writeTable } from './study-report.js';

export const ROW_FILE = 'row.json';
const FORMAT = 'wgrad-compare-run';

/** Writes a run's record (its row, seed and times, and the table's settings) beside its eval.json. */
export async function writeRunRecord(dir: string, meta: TableMeta, run: StoredRun): Promise<void> {
  const { eval: _result, dir: _dir, ...record } = run;
  await writeFileAtomic(join(dir, ROW_FILE), `${JSON.stringify({ format: FORMAT, version: 1, table: meta, run: record }, null, 2)}\n`, 'compare');
}

const readJson = (path: string): Record<string, unknown> => {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new WgradError('report', `${displayPath(path)} is unreadable: ${(e as Error).message}`);
  }
};

/** The run recorded in `dir` (row.json and eval.json) and its evaluation's shared settings, or why not. */
function readRun(dir: string): { meta: TableMeta; run: StoredRun; settings: string; robust: string } {
  const rec = readJson(join(dir, ROW_FILE)) as { format?: string; table: TableMeta; run: Omit<StoredRun, 'eval' | 'dir'> };
  if (rec.format !== FORMAT) throw new WgradError('report', `${displayPath(join(dir, ROW_FILE))} is not a wgrad compare run record (format ${JSON.stringify(rec.format)})`);
  if (!existsSync(join(dir, EVAL_FILE))) throw new WgradError('report', `${displayPath(dir)} has a ${ROW_FILE} but no ${EVAL_FILE}: its evaluation is missing (run the comparison again with --resume)`);
  const evaluation = readJson(join(dir, EVAL_FILE)) as { result?: StoredRun['eval']; provenance?: Record<string, unknown> };
  if (!evaluation.result) throw new WgradError('report', `${displayPath(join(dir, EVAL_FILE))} holds no result`);
  return { meta: rec.table, run: { ...rec.run, eval: evaluation.result, dir }, ...evaluationSettings(evaluation.provenance) };
}

/** The evaluation settings that compare --robust-rows sets per row: the radii and the robust linear evaluation. */
const ROBUST_SETTINGS = ['eps', 'robustLinearEpochs'];

/**
 * What must be the same for every run of a table: the evaluation's settings and data (not its seed,
 * nor what it evaluated), and, apart, its robust settings (the same for every row that measures
 * robust accuracy; none for a row outside --robust-rows).
 */
function evaluationSettings(provenance: Record<string, unknown> | undefined): { settings: string; robust: string } {
  const { seed: _s, checkpoint: _c, encoder: _e, ...shared } = provenance ?? {};
  const sorted = (entries: [string, unknown][]) => JSON.stringify(entries.sort(([a], [b]) => a.localeCompare(b)));
  return { settings: sorted(Object.entries(shared).filter(([k]) => !ROBUST_SETTINGS.includes(k))), robust: sorted(Object.entries(shared).filter(([k]) => ROBUST_SETTINGS.includes(k))) };
}

interface SettingsOf { meta: TableMeta; settings: string; robust: string; row: string; dir: string }

/** Measures robust accuracy: every row, or those of --robust-rows. */
const robustRow = (s: SettingsOf) => !s.meta.robustRows || s.meta.robustRows.includes(s.row);

/** A table's runs must share the table's settings and their evaluation's: a WgradError names the first run that does not. */
function checkSameSettings(first: SettingsOf, other: SettingsOf, firstRobust: SettingsOf | undefined): void {
  const why = JSON.stringify(first.meta) !== JSON.stringify(other.meta) ? 'were trained with other table settings (data, encoder, epochs, batch, robust rows)'
    : first.settings !== other.settings ? 'were evaluated with other settings or data'
    : robustRow(other) && firstRobust && firstRobust.robust !== other.robust ? 'were evaluated at other radii (or robust linear settings)' : undefined;
  const against = why?.includes('radii') ? firstRobust! : first;
  if (why) throw new WgradError('report', `${displayPath(other.dir)} and ${displayPath(against.dir)} are runs of one table but ${why}; run the comparison again with --resume to evaluate every run alike`);
}

/** The directories under `root` that hold a row.json (a run directory's subdirectories are not searched). */
function runDirs(root: string): string[] {
  if (existsSync(join(root, ROW_FILE))) return [root];
  return readdirSync(root).sort().flatMap((name) => {
    const p = join(root, name);
    return statSync(p).isDirectory() ? runDirs(p) : [];
  });
}

/** The comparisons under `root`: their runs grouped by the directory that holds runs/ (the compare --out). */
export function readTables(root: string): Map<string, Table> {
  const tables = new Map<string, Table>();
  const firsts = new Map<string, SettingsOf>();
  const firstRobusts = new Map<string, SettingsOf>();
  for (const dir of runDirs(root)) {
    const parts = dir.split(sep);
    const at = parts.lastIndexOf('runs');
    if (at < 0) throw new WgradError('report', `${displayPath(dir)} holds a ${ROW_FILE} but lies under no runs/ directory (a compare --out)`);
    const out = parts.slice(0, at).join(sep) || '.';
    const { meta, run, settings, robust } = readRun(dir);
    const these: SettingsOf = { meta, settings, robust, row: run.row, dir };
    const first = firsts.get(out) ?? these;
    checkSameSettings(first, these, firstRobusts.get(out));
    firsts.set(out, first);
    if (robustRow(these) && !firstRobusts.has(out)) firstRobusts.set(out, these);
    const t = tables.get(out) ?? { meta, runs: [] };
    t.runs.push(run);
    tables.set(out, t);
  }
  return tables;
}

/**
 * What report can put into a document (--into), each between its own pair of marker lines: the
 * whole page (docs/results.md's Part 2) or the verdicts table alone (a README's summary).
 */
const PARTS = { page: 'wgrad report', verdicts: 'wgrad report verdicts' } as const;
type Part = keyof typeof PARTS;

/** The marker lines of a part. */
export const markers = (part: Part) => ({ begin: `<!-- ${PARTS[part]}: begin (generated from the run directories; do not edit by hand) -->`, end: `<!-- ${PARTS[part]}: end -->` });

/** The parts marked in `text`: each with one begin line followed by one end line; a WgradError otherwise, or where none is. */
function markedParts(text: string, file: string): Part[] {
  const lines = text.split('\n').map((l) => l.trim());
  const found = (Object.keys(PARTS) as Part[]).filter((part) => lines.includes(markers(part).begin) || lines.includes(markers(part).end));
  for (const part of found) {
    const { begin, end } = markers(part);
    const [b, e] = [begin, end].map((m) => lines.flatMap((l, i) => (l === m ? [i] : [])));
    if (b.length !== 1 || e.length !== 1 || e[0] < b[0]) {
      throw new WgradError('report', `--into ${file}: expected one line "${begin}" followed by one line "${end}"; found ${b.length} and ${e.length}${b.length === 1 && e.length === 1 ? ' in the wrong order' : ''}`);
    }
  }
  if (!found.length) throw new WgradError('report', `--into ${file}: it marks no part to generate; expected the lines "${markers('page').begin}" … "${markers('page').end}" (the page) or "${markers('verdicts').begin}" … "${markers('verdicts').end}" (the verdicts table)`);
  return found;
}

/** `text` with each marked part's lines replaced by its generated text (nothing the user wrote around them is touched). */
export function replaceGenerated(text: string, generated: Record<Part, string>, file: string): string {
  let lines = text.split('\n');
  for (const part of markedParts(text, file)) {
    const { begin, end } = markers(part);
    const b = lines.findIndex((l) => l.trim() === begin), e = lines.findIndex((l) => l.trim() === end);
    lines = [...lines.slice(0, b + 1), '', generated[part].trim(), '', ...lines.slice(e)];
  }
  return lines.join('\n');
}

export const REPORT_FLAGS: Flags = {
  runs: { kind: 'string', value: 'DIR', help: 'a directory holding comparisons (compare --out directories, at any depth; required)' },
  out: { kind: 'string', value: 'FILE.md', help: 'the Markdown page with every table and verdict (default DIR/README.md)' },
  into: { kind: 'string', value: 'FILE.md', help: `also write into FILE.md: the page (headings one level down, links relative to FILE.md) between the lines "${markers('page').begin}" and "${markers('page').end}", and the verdicts table alone between "${markers('verdicts').begin}" and "${markers('verdicts').end}" (e.g. docs/results.md, README.md)` },
};

/** The page of every table under the runs directory, chart links relative to the page, and its verdicts table alone. */
function reportPage(tables: Map<string, Table>, page: string): { page: string; verdicts: string } {
  const lines = ['# Study results', '', `Generated by \`wgrad report\` from the run directories (each run's row.json and eval.json); do not edit by hand.`, ''];
  const verdicts: string[] = [];
  for (const [out, t] of tables) {
    const link = (f: string) => relative(dirname(page), join(out, f)).split(sep).join('/');
    const decided = decideHypotheses(groupRows(t.runs), t.meta.domain);
    lines.push(`## ${t.meta.data.split(':')[0]} (${t.meta.domain}; ${displayPath(out)})`, '',
      `${t.meta.encoder}, ${t.meta.epochs} epochs, batch ${t.meta.batch}. Details: [results.md](${link('results.md')}).`, '',
      metricsTable(t.runs), '', ...(decided.length ? [hypothesesTable(decided), ''] : []),
      `![clean and robust accuracy](${link('metrics.svg')}) ![accuracy versus ε](${link('accuracy-vs-eps.svg')})`, '');
    for (const r of decided) {
      const i = r.interval;
      const interval = Number.isFinite(i.lo) ? `[${i.lo.toFixed(2)}, ${i.hi.toFixed(2)}]` : 'none';
      verdicts.push(`| ${r.hypothesis.id} | ${t.meta.data.split(':')[0]} | ${metricLabel(r.hypothesis)} | ${i.mean.toFixed(2)} | ${interval} | ${r.seeds.length} | ${verdictText(r)} |`);
    }
  }
  const table = verdicts.length ? ['| id | data | metric | mean difference (points) | 95 % interval | seeds | verdict |', '|---|---|---|---|---|---|---|', ...verdicts].join('\n') : 'No hypothesis is decided by these tables yet.';
  if (verdicts.length) lines.push('## Verdicts', '', table, '');
  return { page: lines.join('\n'), verdicts: table };
}

/** `text` (the document `file`) with its marked parts generated from `tables`: the page (headings one level down) and the verdicts table. */
export function documentWith(tables: Map<string, Table>, file: string, text: string): string {
  const generated = reportPage(tables, file);
  const section = generated.page.split('\n').slice(1).map((l) => (l.startsWith('#') ? `#${l}` : l)).join('\n');
  return replaceGenerated(text, { page: section, verdicts: generated.verdicts }, file);
}

/** FILE's text, checked for the markers before any file is written. */
function readInto(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--into ${file}: ${(e as Error).message}`, 'report');
  }
  markedParts(text, file);
  return text;
}

export async function reportCommand(a: Parsed): Promise<void> {
  if (a.runs === undefined) throw new UsageError('--runs DIR is required (a directory holding compare --out directories)', 'report');
  const root = a.runs as string;
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new UsageError(`--runs ${root}: not a directory`, 'report');
  const page = (a.out as string | undefined) ?? join(root, 'README.md');
  checkOutDir(dirname(page), '--out', 'report');
  const tables = readTables(root);
  if (!tables.size) throw new UsageError(`--runs ${root}: no run directories (no ${ROW_FILE} under it; they are written by wgrad compare)`, 'report');
  const into = a.into as string | undefined;
  const intoText = into === undefined ? undefined : readInto(into);
  for (const [out, t] of tables) writeTable(out, t);
  await writeFileAtomic(page, reportPage(tables, page).page, 'report');
  if (into !== undefined) await writeFileAtomic(into, documentWith(tables, into, intoText!), 'report');
  process.stderr.write(`rebuilt ${tables.size} table${tables.size > 1 ? 's' : ''} (${[...tables.keys()].map(displayPath).join(', ')}); wrote ${displayPath(page)}\n`);
}

/**
 * `wgrad compare --seeds` and `wgrad report` end to end on the CPU backend with one-epoch budgets:
 * a row × seed per run directory, a multi-seed comparison resumed from a shorter one (finished runs
 * reused, not retrained), the aggregation (mean ± sd, the paired differences of the hypotheses
 * whose rows are in the table), `report` rebuilding the same tables from the directories alone, and
 * the refusals of malformed rows and seeds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init } from '../src/init.js';
import { tQuantile } from '../src/cli/stats.js';
import { wgrad, writeIdx } from './helpers/cli.js';

let dir: string;
let data: string;

beforeAll(async () => {
  await init({ backend: 'cpu' });
  dir = mkdtempSync(join(tmpdir(), 'wgrad-study-'));
  data = join(dir, 'data');
  writeIdx(data, 16);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const budget = () => ['--data', data, '--batch', '8', '--width', '2', '--proj-dim', '4', '--epochs', '1', '--probe-epochs', '1', '--robust-limit', '4', '--steps', '1', '--knn-k', '3', '--eval-eps', '0.1'];
const rows = 'noise,aplr,aplr:perturbation=zero';

describe('compare --seeds and report', () => {
  it('runs each row per seed, resumes a shorter comparison, aggregates, and report rebuilds the same tables', async () => {
    const out = join(dir, 'cmp');
    const one = await wgrad('compare', '--methods', rows, '--seeds', '1', ...budget(), '--out', out);
    expect(one.status, one.stderr).toBe(0);
    const ckpt = join(out, 'runs', 'aplr.perturbation-zero', 'seed-0', 'checkpoint.safetensors');
    const before = statSync(ckpt).mtimeMs;

    const two = await wgrad('compare', '--methods', rows, '--seeds', '2', ...budget(), '--out', out, '--resume');
    expect(two.status, two.stderr).toBe(0);
    expect(two.stderr.match(/evaluation reused/g)).toHaveLength(3); // seed 0's three runs
    expect(statSync(ckpt).mtimeMs).toBe(before);
    for (const r of ['noise', 'aplr', 'aplr.perturbation-zero']) for (const s of [0, 1]) for (const f of ['checkpoint.safetensors', 'eval.json', 'row.json']) expect(existsSync(join(out, 'runs', r, `seed-${s}`, f)), `${r} ${s} ${f}`).toBe(true);

    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(json.rows.map((r: { row: string; seed: number }) => `${r.row}/${r.seed}`)).toEqual(['noise/0', 'aplr/0', 'aplr:perturbation=zero/0', 'noise/1', 'aplr/1', 'aplr:perturbation=zero/1']);
    const probe = (row: string, seed: number) => json.rows.find((r: { row: string; seed: number }) => r.row === row && r.seed === seed).eval.linearAccuracy as number;
    const aplr = json.summary.find((s: { row: string }) => s.row === 'aplr');
    expect(aplr.probe.mean).toBeCloseTo((probe('aplr', 0) + probe('aplr', 1)) / 2, 12);
    expect(aplr.probe.sd).toBeCloseTo(Math.abs(probe('aplr', 0) - probe('aplr', 1)) / Math.SQRT2, 12);
    expect(json.hypotheses.map((h: { hypothesis: string }) => h.hypothesis)).toEqual(['A1', 'A3']);
    const a3 = json.hypotheses[1];
    expect(a3.seeds).toEqual([0, 1]);
    const d = [0, 1].map((s) => 100 * (probe('aplr', s) - probe('aplr:perturbation=zero', s)));
    a3.differences.forEach((x: number, i: number) => expect(x).toBeCloseTo(d[i], 10));
    const half = (tQuantile(0.975, 1) * Math.abs(d[0] - d[1]) / Math.SQRT2) / Math.SQRT2;
    expect(a3.interval.lo).toBeCloseTo((d[0] + d[1]) / 2 - half, 8);
    expect(a3.verdict).toBe('pending'); // two of the pre-registered three seeds: the interval, no verdict yet

    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain('seeds 0, 1 (each cell: mean ± sd over the seeds)');
    expect(md).toMatch(/\| aplr \(perturbation = zero\) \| \d+\.\d\d ± \d+\.\d\d % \|/);
    expect(md).toMatch(/\| A3 \| .* \| aplr \| aplr:perturbation=zero \| clean linear probe \| 0, 1 \| .* \(t = 12\.706, n = 2\) \| pending \(2 of 3 seeds\) \|/);

    const files = ['results.md', 'results.json', 'accuracy-vs-eps.svg', 'metrics.svg'];
    const saved = files.map((f) => readFileSync(join(out, f), 'utf8'));
    for (const f of files) rmSync(join(out, f));
    const rep = await wgrad('report', '--runs', dir, '--out', join(dir, 'tables.md'));
    expect(rep.status, rep.stderr).toBe(0);
    files.forEach((f, i) => expect(readFileSync(join(out, f), 'utf8'), f).toBe(saved[i]));
    const page = readFileSync(join(dir, 'tables.md'), 'utf8');
    expect(page).toContain(md.slice(md.indexOf('| method |'), md.indexOf('\n\n', md.indexOf('| method |'))));
    expect(page).toMatch(/## Verdicts[\s\S]*\| A1 \|[\s\S]*\| A3 \|/);
    expect(page).toContain('](cmp/metrics.svg)');

    // A run evaluated under other settings cannot join the table.
    const evalPath = join(out, 'runs', 'aplr', 'seed-1', 'eval.json');
    const stored = JSON.parse(readFileSync(evalPath, 'utf8'));
    writeFileSync(evalPath, JSON.stringify({ ...stored, provenance: { ...stored.provenance, robustLimit: 8 } }));
    const mixed = await wgrad('report', '--runs', dir, '--out', join(dir, 'tables.md'));
    expect(mixed.status).toBe(1);
    expect(mixed.stderr).toMatch(/aplr\/seed-1 and .*aplr\/seed-0 are runs of one table but were evaluated with other settings or data/);
  }, 120_000);

  it('--robust-rows attacks only the rows named; the table and report say so and still check the radii', async () => {
    const root = join(dir, 'robust-rows');
    const out = join(root, 'cmp');
    const r = await wgrad('compare', '--methods', 'random,noise,mask', '--robust-rows', 'noise,mask', ...budget(), '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    const evalOf = (row: string) => json.rows.find((x: { row: string }) => x.row === row).eval;
    expect(evalOf('random').robust).toEqual([]);
    expect(evalOf('random').robustTotal).toBe(0);
    expect(evalOf('random').linearAccuracy).toBeGreaterThan(0);
    expect(evalOf('noise').robust.map((x: { eps: number }) => x.eps)).toEqual([0, 0.1]);
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain('for the rows noise, mask only (compare --robust-rows');
    expect(md).toMatch(/\| untrained encoder[^|]*\| [\d.]+ % \| [\d.]+ % \| – \| \d+ s \|/);
    const rep = await wgrad('report', '--runs', root);
    expect(rep.status, rep.stderr).toBe(0);
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toBe(md);

    // --into: the page replaces the marked part of a document, headings one level down; the rest is kept.
    const doc = join(root, 'doc.md');
    const begin = '<!-- wgrad report: begin (generated from the run directories; do not edit by hand) -->';
    writeFileSync(doc, `# Mine\n\nprose before\n\n${begin}\nstale\n<!-- wgrad report: end -->\n\nprose after\n`);
    const into = await wgrad('report', '--runs', root, '--into', doc);
    expect(into.status, into.stderr).toBe(0);
    const text = readFileSync(doc, 'utf8');
    expect(text).toMatch(/^# Mine\n\nprose before\n\n<!-- wgrad report: begin[^\n]*\n\nGenerated by `wgrad report`/);
    expect(text).not.toContain('stale');
    expect(text).toContain('### IDX files in');
    expect(text).toContain('](cmp/results.md)');
    expect(text).toContain(md.slice(md.indexOf('| method |'), md.indexOf('\n\n', md.indexOf('| method |'))));
    expect(text.endsWith('<!-- wgrad report: end -->\n\nprose after\n')).toBe(true);
    // the verdicts table alone (a README's summary)
    writeFileSync(doc, 'top\n<!-- wgrad report verdicts: begin (generated from the run directories; do not edit by hand) -->\n<!-- wgrad report verdicts: end -->\n');
    expect((await wgrad('report', '--runs', root, '--into', doc)).status).toBe(0);
    expect(readFileSync(doc, 'utf8')).toContain('verdicts: begin (generated from the run directories; do not edit by hand) -->\n\nNo hypothesis is decided by these tables yet.\n\n<!-- wgrad report verdicts: end -->');
    for (const [content, msg] of [
      ['no markers\n', /it marks no part to generate/],
      [`${begin}\n${begin}\n<!-- wgrad report: end -->\n`, /expected one line "<!-- wgrad report: begin.*found 2 and 1/],
      ['<!-- wgrad report: end -->\n' + begin + '\n', /found 1 and 1 in the wrong order/],
    ] as const) {
      writeFileSync(doc, content);
      const bad = await wgrad('report', '--runs', root, '--into', doc);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(msg);
      expect(readFileSync(doc, 'utf8')).toBe(content);
    }

    // A robust row evaluated at other radii cannot join the table; the clean row's missing radii are expected.
    const evalPath = join(out, 'runs', 'noise', 'eval.json');
    const stored = JSON.parse(readFileSync(evalPath, 'utf8'));
    writeFileSync(evalPath, JSON.stringify({ ...stored, provenance: { ...stored.provenance, eps: [0.2] } }));
    const mixed = await wgrad('report', '--runs', root);
    expect(mixed.status).toBe(1);
    expect(mixed.stderr).toMatch(/runs\/noise and .*runs\/mask are runs of one table but were evaluated at other radii/);
    const bad = await wgrad('compare', '--methods', 'random,noise', '--robust-rows', 'nosie', ...budget(), '--out', join(root, 'never'));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--robust-rows "nosie" is not one of .*noise/);
    expect(existsSync(join(root, 'never'))).toBe(false);
  }, 120_000);

  it('refuses malformed rows, seeds and report directories before any work', async () => {
    const out = join(dir, 'never');
    for (const [args, msg] of [
      [['--methods', 'aplr:bogus=1'], /bogus is not an option of aplr/],
      [['--methods', 'random:eps=1'], /the untrained encoder \("random"\) take no options/],
      [['--methods', 'aplr:perturbation=sideways'], /perturbation = sideways: expected one of learned, zero, random/],
      [['--methods', 'simclr:reg-perturbation=random'], /reg-perturbation is not an option of simclr/],
      [['--methods', 'aplr:eps'], /"eps" is not option=value/],
      [['--seeds', '1,1'], /lists a seed twice/],
      [['--seeds', '0'], /expected a count N ≥ 1/],
    ] as const) {
      const r = await wgrad('compare', ...args, ...budget(), '--out', out);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
    expect(existsSync(out)).toBe(false);
    const none = await wgrad('report', '--runs', data);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/no run directories/);
    expect((await wgrad('report')).stderr).toMatch(/--runs DIR is required/);
  });
});

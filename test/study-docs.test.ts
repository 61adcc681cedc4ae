/**
 * The study's numbers in README.md and docs/results.md are generated, not typed: their marked parts
 * must be exactly what `wgrad report --runs results/study --into FILE` makes from the committed run
 * directories (results/study/<table>/runs/<row>/seed-<s>/{row.json, eval.json}). After syncing new
 * runs: `npx tsx src/cli/main.ts report --runs results/study --into docs/results.md` (and README.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { documentWith, readTables } from '../src/cli/report-command.js';
import { root } from './helpers/markdown.js';

const runs = join(root, 'results', 'study');

describe('the study in the docs is generated from results/study', () => {
  it.each(['README.md', 'docs/results.md'])('%s holds what report makes of the committed runs', (file) => {
    const text = readFileSync(join(root, file), 'utf8');
    expect(existsSync(runs)).toBe(true);
    const tables = readTables(runs);
    expect(tables.size).toBeGreaterThan(0);
    expect(documentWith(tables, join(root, file), text), `${file} is out of date: run npx tsx src/cli/main.ts report --runs results/study --into ${file}`).toBe(text);
  });
});

/**
 * `--data <file.csv>`: a table read through src/io/csv.ts (UTF-8 only: other bytes are an error
 * naming the line). The class is the column `label` (numeric labels compared as numbers: `1` and
 * `1.0` are one class); a column `split` (values `train` / `test`) says which rows are for training,
 * as in the shipped data/satellite.csv and data/letter-recognition.csv. Without a `split` column the
 * split is fixed and stratified: in file order, every 5th row of each class (the 5th, 10th, ...) is
 * a test row (20 %). --train-limit and --test-limit keep a seeded class-stratified sample of each
 * split (`stratifiedSample`: every class keeps its share, whatever the file's order).
 * The preprocessing is fitted on the (sampled) training rows only and applied to both splits:
 * numeric columns standardized, categorical ones one-hot, a missing value (empty, NA, NaN, nan, ?,
 * … see csv.ts) in a numeric column imputed with the training mean (0 after standardizing), in a
 * categorical one its own "missing" slot. A preprocessing given in the options (the run's, for
 * `eval`) is applied instead of fitting one.
 */
import { WgradError } from '../core/backend.js';
import { stratifiedSample } from '../data/batching.js';
import { checkTabularSchema, classKey, encodeTabular, fitTabular, type CsvTable, type TabularSchema } from '../io/csv.js';
import { readCsvFile } from '../io/node.js';
import { key } from '../random/random.js';
import { givenPreprocessing, type HostDataset, type HostSplit, type LoadOptions } from './dataset.js';
import { displayPath } from './paths.js';

const LABEL = 'label';
const SPLIT = 'split';

function splitRows(t: CsvTable): { train: number[]; test: number[] } {
  const s = t.header.indexOf(SPLIT);
  const train: number[] = [], test: number[] = [];
  if (s >= 0) {
    t.rows.forEach((row, r) => {
      const v = row[s];
      if (v !== 'train' && v !== 'test') throw new WgradError('data', `${t.name}, line ${t.lines[r]}: the split column must be "train" or "test", got ${JSON.stringify(v)}`);
      (v === 'train' ? train : test).push(r);
    });
    return { train, test };
  }
  const l = t.header.indexOf(LABEL);
  const seen = new Map<string | number, number>();
  t.rows.forEach((row, r) => {
    const k = (seen.get(classKey(row[l])) ?? 0) + 1;
    seen.set(classKey(row[l]), k);
    (k % 5 === 0 ? test : train).push(r);
  });
  return { train, test };
}

/** The rows `rows` of `t`, or a stratified sample of `limit` of them (see LoadOptions). */
function subTable(t: CsvTable, rows: number[], name: string, limit: number | undefined, seed: number): CsvTable {
  const label = t.header.indexOf(LABEL);
  const kept = limit === undefined ? rows : Array.from(stratifiedSample(rows.map((r) => classKey(t.rows[r][label])), limit, key(seed)), (i) => rows[i]);
  return { name, header: t.header, rows: kept.map((r) => t.rows[r]), lines: kept.map((r) => t.lines[r]) };
}

/** A schema given for `path` (see LoadOptions.preprocessing), checked: a classification schema of the column `label`. */
function givenSchema(value: unknown, path: string): TabularSchema {
  const schema = checkTabularSchema(value, `the preprocessing given for ${path}`);
  if (schema.task !== 'classification' || schema.label !== LABEL) {
    throw new WgradError('data', `the preprocessing given for ${path} is a ${schema.task} schema of the column ${JSON.stringify(schema.label)}, not a classification of "${LABEL}"`);
  }
  return schema;
}

/** Loads a CSV file (see the module comment). */
export async function loadTabularDataset(path: string, spec: string, opts: LoadOptions): Promise<HostDataset> {
  const given = givenPreprocessing(opts, 'tabular', spec);
  const t = await readCsvFile(path);
  if (!t.header.includes(LABEL)) {
    throw new WgradError('data', `${path}: no "${LABEL}" column (the class); the header has ${t.header.map((h) => JSON.stringify(h)).join(', ')}`);
  }
  if (t.rows.length === 0) throw new WgradError('data', `${path}: no data rows`);
  const rows = splitRows(t);
  const seed = opts.limitSeed ?? 0;
  const train = subTable(t, rows.train, `${path} (training rows)`, opts.trainLimit, seed);
  const test = subTable(t, rows.test, `${path} (test rows)`, opts.testLimit, seed);
  if (!train.rows.length || !test.rows.length) {
    throw new WgradError('data', `${path}: ${train.rows.length} training and ${test.rows.length} test rows; both splits need rows${t.header.includes(SPLIT) ? ` (see its "${SPLIT}" column)` : ''}`);
  }
  const ignore = t.header.includes(SPLIT) ? [SPLIT] : [];
  const schema: TabularSchema = given ? givenSchema(given.schema, path) : fitTabular(train, { label: LABEL, ignore });
  if (schema.classes!.length < 2) {
    throw new WgradError('data', `${path}: one class only (${JSON.stringify(schema.classes![0])}) in the training rows; a classification dataset needs at least 2`);
  }
  if (schema.featureNames.length === 0) throw new WgradError('data', `${path}: no feature columns besides "${LABEL}"${ignore.length ? ` and "${SPLIT}"` : ''}`);
  const split = (table: CsvTable): HostSplit => {
    const a = encodeTabular(schema, table, { name: table.name });
    return { x: a.x, labels: a.y as Int32Array, n: a.n };
  };
  const [trainSplit, testSplit] = [split(train), split(test)];
  const d = schema.featureNames.length;
  const kinds = schema.columns.filter((c) => c.kind === 'categorical').length;
  return {
    domain: 'tabular', train: trainSplit, test: testSplit, shape: [d], classes: schema.classes!.length, classNames: schema.classes, dir: path,
    preprocessing: { domain: 'tabular', schema },
    description: `the table ${displayPath(path)}: ${trainSplit.n} training and ${testSplit.n} test rows, ${schema.columns.length} columns`
      + `${kinds ? ` (${kinds} categorical, one-hot)` : ''} → ${d} standardized features, ${schema.classes!.length} classes`
      + `${given ? ' (with the preprocessing given, not one fitted on these training rows)' : ''}`,
  };
}

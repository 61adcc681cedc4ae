/**
 * `--data <file.csv>`: a table read through src/io/csv.ts. The class is the column `label`; a column
 * `split` (values `train` / `test`) says which rows are for training, as in the shipped
 * data/satellite.csv and data/letter-recognition.csv. Without a `split` column the split is fixed and
 * stratified: in file order, every 5th row of each class (the 5th, 10th, ...) is a test row (20 %).
 * The preprocessing (standardized numeric columns, one-hot categorical ones, imputed missing values)
 * is fitted on the training rows only (after --train-limit) and applied to both splits.
 */
import { WgradError } from '../core/backend.js';
import { encodeTabular, fitTabular, type CsvTable, type TabularSchema } from '../io/csv.js';
import { readCsvFile } from '../io/node.js';
import type { HostDataset, HostSplit, LoadOptions } from './dataset.js';
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
  const seen = new Map<string, number>();
  t.rows.forEach((row, r) => {
    const k = (seen.get(row[l]) ?? 0) + 1;
    seen.set(row[l], k);
    (k % 5 === 0 ? test : train).push(r);
  });
  return { train, test };
}

const subTable = (t: CsvTable, rows: number[], name: string): CsvTable => ({
  name, header: t.header, rows: rows.map((r) => t.rows[r]), lines: rows.map((r) => t.lines[r]),
});

/** Loads a CSV file (see the module comment). */
export async function loadTabularDataset(path: string, opts: LoadOptions): Promise<HostDataset> {
  const t = await readCsvFile(path);
  if (!t.header.includes(LABEL)) {
    throw new WgradError('data', `${path}: no "${LABEL}" column (the class); the header has ${t.header.map((h) => JSON.stringify(h)).join(', ')}`);
  }
  if (t.rows.length === 0) throw new WgradError('data', `${path}: no data rows`);
  const rows = splitRows(t);
  const train = subTable(t, rows.train.slice(0, opts.trainLimit ?? rows.train.length), `${path} (training rows)`);
  const test = subTable(t, rows.test.slice(0, opts.testLimit ?? rows.test.length), `${path} (test rows)`);
  if (!train.rows.length || !test.rows.length) {
    throw new WgradError('data', `${path}: ${train.rows.length} training and ${test.rows.length} test rows; both splits need rows${t.header.includes(SPLIT) ? ` (see its "${SPLIT}" column)` : ''}`);
  }
  const ignore = t.header.includes(SPLIT) ? [SPLIT] : [];
  const schema: TabularSchema = fitTabular(train, { label: LABEL, ignore });
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
    domain: 'tabular', train: trainSplit, test: testSplit, shape: [d], classes: schema.classes!.length, classNames: schema.classes, dir: path, tabular: schema,
    description: `the table ${displayPath(path)}: ${trainSplit.n} training and ${testSplit.n} test rows, ${schema.columns.length} columns`
      + `${kinds ? ` (${kinds} categorical, one-hot)` : ''} → ${d} standardized features, ${schema.classes!.length} classes`,
  };
}

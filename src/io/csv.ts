/**
 * CSV for tabular data.
 *
 * `parseCsv` reads RFC 4180 text: a header row, then records; fields separated by `,` (or
 * `delimiter`); a field in double quotes may hold delimiters, newlines and doubled quotes (`""`);
 * unquoted fields are trimmed; blank lines are skipped (so in a one-column file an empty unquoted
 * field is skipped too: quote it, `""`); a UTF-8 byte-order mark is dropped. Every record must have
 * as many fields as the header.
 *
 * `fitTabular` learns a preprocessing from the training rows and `encodeTabular` applies it to any
 * split, so the test split is standardized with the training statistics:
 *   - the label column (`label`) is taken out: for `task: 'classification'` (default) its distinct
 *     values, sorted (numerically when all are numbers), become classes 0..K−1 (int32); numeric
 *     labels are compared as numbers, so `1`, `1.0` and `01` are one class (named as first spelled
 *     in training). For `'regression'` it must be numeric and is returned as float32, unscaled. A
 *     missing or unknown label is an error naming the line.
 *   - a feature column whose every non-missing training value is a decimal number is **numeric**:
 *     standardized to (v − mean) / std with the training mean and population std (std 0 → 1); a
 *     missing value is imputed with the training mean, i.e. it becomes 0.
 *   - any other feature column (or one listed in `categorical`) is **categorical**: one-hot over its
 *     training categories (sorted) plus one final "missing" slot, which takes missing values and
 *     categories not seen in training.
 *   - missing values are the fields equal (after trimming) to one of `missing`. The default is
 *     pandas' `read_csv` list (empty, `NA`, `NaN`, `nan`, `-nan`, `N/A`, `NULL`, `null`, `None`,
 *     `#N/A`, `<NA>`, …) plus `?` (UCI's spelling), so a `NaN` cell in a numeric column is a missing
 *     value imputed with the training mean, not a category that turns the column categorical.
 * Errors name the line (1-based, counting the header, where the record starts) and the column.
 * A number outside the float32 range (e.g. `1e400`, which would read as Infinity) is an error too.
 */
import { WgradError } from '../core/backend.js';
import { FLOAT32_MAX } from '../core/dtype.js';
import { fromStorageArray } from '../tensor/engine.js';
import type { Tensor } from '../tensor/tensor.js';

/** A parsed CSV file: its header, its rows of fields and where each row starts. */
export interface CsvTable {
  /** Where the text came from, for errors. */
  name: string;
  header: string[];
  rows: string[][];
  /** The line (1-based) on which each row starts. */
  lines: number[];
}

/** Options of `parseCsv`: the delimiter and a name for errors. */
export interface CsvOptions {
  delimiter?: string;
  /** The file name or another label, used in errors. */
  name?: string;
}

/** Parses CSV text with a header row (see the module comment for the dialect). */
export function parseCsv(text: string, opts: CsvOptions = {}): CsvTable {
  const name = opts.name ?? 'CSV';
  const delim = opts.delimiter ?? ',';
  if (delim.length !== 1 || delim === '"' || delim === '\n' || delim === '\r') {
    throw new WgradError('parseCsv', `${name}: the delimiter must be one character other than a quote or newline, got ${JSON.stringify(delim)}`);
  }
  const fail = (line: number, msg: string): never => {
    throw new WgradError('parseCsv', `${name}, line ${line}: ${msg}`);
  };
  const records: string[][] = [];
  const lines: number[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    let blank = true;
    for (;;) {
      // One field.
      let j = i;
      while (j < n && (text[j] === ' ' || text[j] === '\t') && text[j] !== delim) j++;
      let value: string;
      if (text[j] === '"') {
        blank = false;
        const quoteLine = line;
        let k = j + 1;
        let out = '';
        for (;;) {
          if (k >= n) fail(quoteLine, 'unterminated quoted field');
          const c = text[k];
          if (c === '"') {
            if (text[k + 1] === '"') { out += '"'; k += 2; continue; }
            k++;
            break;
          }
          if (c === '\n') line++;
          out += c;
          k++;
        }
        while (k < n && (text[k] === ' ' || text[k] === '\t') && text[k] !== delim) k++;
        if (k < n && text[k] !== delim && text[k] !== '\n' && text[k] !== '\r') {
          fail(line, `unexpected ${JSON.stringify(text[k])} after a closing quote (field ${fields.length + 1})`);
        }
        value = out;
        i = k;
      } else {
        let k = i;
        while (k < n && text[k] !== delim && text[k] !== '\n' && text[k] !== '\r') k++;
        value = text.slice(i, k).trim();
        if (value.includes('"')) fail(line, `a quote inside an unquoted field (field ${fields.length + 1}): ${JSON.stringify(value)}`);
        if (value !== '' || text[k] === delim) blank = false;
        i = k;
      }
      fields.push(value);
      if (i < n && text[i] === delim) { i++; continue; }
      // End of record.
      if (text[i] === '\r') i++;
      if (text[i] === '\n') i++;
      line++;
      break;
    }
    if (blank && fields.length === 1) continue; // an empty line
    records.push(fields);
    lines.push(start);
  }
  if (records.length === 0) throw new WgradError('parseCsv', `${name}: no header row (the text is empty)`);
  const header = records[0];
  const seen = new Set<string>();
  header.forEach((h, c) => {
    if (h === '') fail(lines[0], `column ${c + 1} has an empty name in the header`);
    if (seen.has(h)) fail(lines[0], `duplicate column name ${JSON.stringify(h)} in the header`);
    seen.add(h);
  });
  for (let r = 1; r < records.length; r++) {
    if (records[r].length !== header.length) {
      fail(lines[r], `ragged row: ${records[r].length} fields, the header has ${header.length}`);
    }
  }
  return { name, header, rows: records.slice(1), lines: lines.slice(1) };
}

/** Options of the tabular preprocessing: the label column, the task, the missing values, ... */
export interface TabularOptions {
  /** The label (target) column. */
  label: string;
  /** 'classification' (default): labels → int32 classes. 'regression': a float32 target. */
  task?: 'classification' | 'regression';
  /** Field values that mean "missing" (compared after trimming). Default `DEFAULT_MISSING`. */
  missing?: readonly string[];
  /** Columns treated as categorical even if their values are numbers. */
  categorical?: readonly string[];
  /** Columns left out (e.g. an id). */
  ignore?: readonly string[];
  /** Delimiter when text is given. */
  delimiter?: string;
}

/** One fitted feature column: standardized numeric, or one-hot categorical. */
export type TabularColumn =
  | { name: string; kind: 'numeric'; mean: number; std: number; missingInTraining: number }
  | { name: string; kind: 'categorical'; categories: string[]; missingInTraining: number };

/** A fitted preprocessing; plain JSON, so it can be stored in a checkpoint's config. */
export interface TabularSchema {
  label: string;
  task: 'classification' | 'regression';
  /** Class names in class-index order (classification). */
  classes?: string[];
  /** Feature columns in the order their features appear in `x`. */
  columns: TabularColumn[];
  /** One name per feature: the column name, or `column=category` (`column=<missing>` for the missing slot). */
  featureNames: string[];
  missing: string[];
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const isNumber = (s: string) => DECIMAL.test(s);
/** What identifies a class: a numeric label's value (`1` and `1.0` are one class), else the text. */
export const classKey = (label: string): string | number => (isNumber(label) ? Number(label) : label);
/** pandas' default `na_values` (`read_csv`), and `?`, which UCI tables use. */
export const DEFAULT_MISSING: readonly string[] = [
  '', '#N/A', '#N/A N/A', '#NA', '-1.#IND', '-1.#QNAN', '-NaN', '-nan', '1.#IND', '1.#QNAN', '<NA>', 'N/A', 'NA', 'NULL', 'NaN', 'None', 'n/a', 'nan', 'null', '?',
];
const compareStrings = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/** The category a missing categorical field is encoded as. */
export const MISSING_CATEGORY = '<missing>';

function table(data: CsvTable | string, delimiter?: string, name?: string): CsvTable {
  return typeof data === 'string' ? parseCsv(data, { delimiter, name }) : data;
}

function columnIndex(t: CsvTable, col: string, what: string): number {
  const c = t.header.indexOf(col);
  if (c < 0) {
    throw new WgradError('tabular', `${t.name}: unknown ${what} column ${JSON.stringify(col)}; the header has ${t.header.map((h) => JSON.stringify(h)).join(', ')}`);
  }
  return c;
}

const where = (t: CsvTable, r: number, col: string, c: number) => `${t.name}, line ${t.lines[r]}, column ${JSON.stringify(col)} (${c + 1})`;

/** The value of the decimal `v` at row r, column c; one that float32 cannot hold (1e400 → Infinity) is an error. */
function numberAt(op: string, t: CsvTable, r: number, col: string, c: number, v: string): number {
  const x = Number(v);
  if (!(Math.abs(x) <= FLOAT32_MAX)) {
    throw new WgradError(op, `${where(t, r, col, c)}: ${JSON.stringify(v.trim())} is outside the float32 range (±3.4e38)`);
  }
  return x;
}

/** Learns the preprocessing (column kinds, statistics, categories, classes) from training rows. */
export function fitTabular(train: CsvTable | string, opts: TabularOptions): TabularSchema {
  const t = table(train, opts.delimiter, 'training CSV');
  const task = opts.task ?? 'classification';
  if (task !== 'classification' && task !== 'regression') {
    throw new WgradError('fitTabular', `task must be 'classification' or 'regression', got ${JSON.stringify(task)}`);
  }
  const missing = [...(opts.missing ?? DEFAULT_MISSING)];
  const isMissing = (s: string) => missing.includes(s.trim());
  const labelCol = columnIndex(t, opts.label, 'label');
  for (const c of [...(opts.categorical ?? []), ...(opts.ignore ?? [])]) columnIndex(t, c, 'listed');
  if (t.rows.length === 0) throw new WgradError('fitTabular', `${t.name}: no data rows`);

  // The label.
  let classes: string[] | undefined;
  const labels = t.rows.map((row, r) => {
    const v = row[labelCol];
    if (isMissing(v)) throw new WgradError('fitTabular', `${where(t, r, opts.label, labelCol)}: the label is missing`);
    if (task === 'regression' && !isNumber(v)) {
      throw new WgradError('fitTabular', `${where(t, r, opts.label, labelCol)}: a regression target must be numeric, got ${JSON.stringify(v)}`);
    }
    if (task === 'regression') numberAt('fitTabular', t, r, opts.label, labelCol, v);
    return v;
  });
  if (task === 'classification') {
    const firstSpelling = new Map<string | number, string>();
    for (const v of labels) if (!firstSpelling.has(classKey(v))) firstSpelling.set(classKey(v), v);
    const distinct = [...firstSpelling.values()];
    classes = distinct.every(isNumber) ? distinct.sort((a, b) => Number(a) - Number(b)) : distinct.sort(compareStrings);
  }

  // The features.
  const columns: TabularColumn[] = [];
  const featureNames: string[] = [];
  t.header.forEach((col, c) => {
    if (c === labelCol || opts.ignore?.includes(col)) return;
    const values = t.rows.map((row) => row[c]).filter((v) => !isMissing(v));
    const missingCount = t.rows.length - values.length;
    const numeric = !opts.categorical?.includes(col) && values.length > 0 && values.every(isNumber);
    if (numeric) {
      const xs = t.rows.flatMap((row, r) => (isMissing(row[c]) ? [] : [numberAt('fitTabular', t, r, col, c, row[c])]));
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const v = xs.reduce((a, b) => a + (b - mean) * (b - mean), 0) / xs.length;
      const std = Math.sqrt(v) > 0 ? Math.sqrt(v) : 1;
      columns.push({ name: col, kind: 'numeric', mean, std, missingInTraining: missingCount });
      featureNames.push(col);
    } else {
      const categories = [...new Set(values)].sort(compareStrings);
      columns.push({ name: col, kind: 'categorical', categories, missingInTraining: missingCount });
      featureNames.push(...categories.map((k) => `${col}=${k}`), `${col}=${MISSING_CATEGORY}`);
    }
  });
  return { label: opts.label, task, classes, columns, featureNames, missing };
}

/**
 * Checks that `value` is a schema `fitTabular` could have made (e.g. one read back from a checkpoint)
 * before it is applied; errors name `source`.
 */
export function checkTabularSchema(value: unknown, source: string): TabularSchema {
  const fail = (what: string): never => {
    throw new WgradError('tabular', `${source}: not a fitted tabular schema (${what})`);
  };
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  const s = value as TabularSchema;
  if (!s || typeof s !== 'object' || typeof s.label !== 'string') fail('no label column name');
  if (s.task !== 'classification' && s.task !== 'regression') fail(`task ${JSON.stringify(s.task)}`);
  if (s.task === 'classification' && !strings(s.classes)) fail('classes is not a list of names');
  if (!strings(s.missing) || !strings(s.featureNames) || !Array.isArray(s.columns)) fail('missing, featureNames or columns is not a list');
  let features = 0;
  for (const c of s.columns as unknown[] as Partial<Record<string, unknown>>[]) {
    if (c?.kind === 'numeric' && Number.isFinite(c.mean) && Number.isFinite(c.std) && (c.std as number) > 0) features += 1;
    else if (c?.kind === 'categorical' && strings(c.categories)) features += c.categories.length + 1;
    else fail(`column ${JSON.stringify(c?.name)}: not a numeric column with a finite mean and a positive std, nor a categorical one with its categories`);
  }
  if (features !== s.featureNames.length) fail(`its columns make ${features} features but it names ${s.featureNames.length}`);
  return s;
}

/** Encoded rows on the host: x is [n, d] row-major; y is absent when the table has no label column. */
export interface TabularArrays {
  x: Float32Array;
  y?: Int32Array | Float32Array;
  n: number;
  d: number;
}

/** Applies a fitted preprocessing to a table (the training one or another split). */
export function encodeTabular(schema: TabularSchema, data: CsvTable | string, opts: { delimiter?: string; name?: string } = {}): TabularArrays {
  const t = table(data, opts.delimiter, opts.name ?? 'CSV');
  const isMissing = (s: string) => schema.missing.includes(s.trim());
  const n = t.rows.length;
  const d = schema.featureNames.length;
  const x = new Float32Array(n * d);
  let offset = 0;
  for (const col of schema.columns) {
    const c = columnIndex(t, col.name, 'feature');
    if (col.kind === 'numeric') {
      for (let r = 0; r < n; r++) {
        const v = t.rows[r][c];
        if (isMissing(v)) continue; // the mean, standardized: 0
        if (!isNumber(v)) {
          throw new WgradError('encodeTabular', `${where(t, r, col.name, c)}: ${JSON.stringify(v)} is not a number, but the column was numeric in training`);
        }
        x[r * d + offset] = (numberAt('encodeTabular', t, r, col.name, c, v) - col.mean) / col.std;
      }
      offset += 1;
    } else {
      const index = new Map(col.categories.map((k, i) => [k, i]));
      for (let r = 0; r < n; r++) {
        const v = t.rows[r][c];
        const k = isMissing(v) ? undefined : index.get(v);
        x[r * d + offset + (k ?? col.categories.length)] = 1;
      }
      offset += col.categories.length + 1;
    }
  }
  const labelCol = t.header.indexOf(schema.label);
  if (labelCol < 0) return { x, n, d };
  let y: Int32Array | Float32Array;
  if (schema.task === 'classification') {
    const index = new Map(schema.classes!.map((k, i) => [classKey(k), i]));
    y = Int32Array.from(t.rows, (row, r) => {
      const k = index.get(classKey(row[labelCol]));
      if (k === undefined) {
        const what = isMissing(row[labelCol]) ? 'the label is missing' : `label ${JSON.stringify(row[labelCol])} is not one of the training classes (${schema.classes!.join(', ')})`;
        throw new WgradError('encodeTabular', `${where(t, r, schema.label, labelCol)}: ${what}`);
      }
      return k;
    });
  } else {
    y = Float32Array.from(t.rows, (row, r) => {
      const v = row[labelCol];
      if (!isNumber(v)) throw new WgradError('encodeTabular', `${where(t, r, schema.label, labelCol)}: the regression target ${JSON.stringify(v)} is not a number`);
      return numberAt('encodeTabular', t, r, schema.label, labelCol, v);
    });
  }
  return { x, y, n, d };
}

/** Host arrays → tensors: x float32 [n, d]; y int32 [n] (classification) or float32 [n]. */
export function tabularTensors(a: TabularArrays): { x: Tensor; y?: Tensor } {
  const x = fromStorageArray(a.x, [a.n, a.d], 'float32');
  if (!a.y) return { x };
  return { x, y: fromStorageArray(a.y, [a.n], a.y instanceof Int32Array ? 'int32' : 'float32') };
}

/**
 * Fits on `train` and encodes it (and `test`, if given, with the training statistics) into tensors.
 * The caller owns the returned tensors.
 */
export function readTabular(
  train: CsvTable | string,
  opts: TabularOptions & { test?: CsvTable | string },
): { schema: TabularSchema; train: { x: Tensor; y?: Tensor }; test?: { x: Tensor; y?: Tensor } } {
  const trainTable = table(train, opts.delimiter, 'training CSV');
  const schema = fitTabular(trainTable, opts);
  const trainArrays = encodeTabular(schema, trainTable);
  const testArrays = opts.test === undefined ? undefined : encodeTabular(schema, opts.test, { delimiter: opts.delimiter, name: 'test CSV' });
  return {
    schema,
    train: tabularTensors(trainArrays),
    test: testArrays && tabularTensors(testArrays),
  };
}

/**
 * Converts a data frame from an R data file (.rda, as in Debian's `r-cran-mlbench`) to CSV, without R:
 * a small reader of R's serialization format (XDR, versions 2 and 3), enough for data frames of
 * numeric, integer, logical, character and factor columns.
 *
 *   npx tsx scripts/data/mlbench-to-csv.ts               # the two tables shipped in data/ (see data/README.md)
 *   npx tsx scripts/data/mlbench-to-csv.ts FILE.rda OBJECT LABEL TRAIN_ROWS OUT.csv
 *
 * The CSV has the feature columns in R's order, then `label` (the class column LABEL, as its factor
 * level names) and `split` (`train` for the first TRAIN_ROWS rows, `test` for the rest). R's NA and
 * NaN become empty fields (missing values for src/io/csv.ts). The .rda may be gzip-, bzip2- or
 * xz-compressed (mlbench's are xz); bzip2 and xz are decompressed by Debian's `bzip2` / `xz` commands.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';

export type RValue =
  | { type: 'null' }
  | { type: 'real'; data: Float64Array; attr: Map<string, RValue> }
  | { type: 'int' | 'lgl'; data: Int32Array; attr: Map<string, RValue> }
  | { type: 'str'; data: (string | null)[]; attr: Map<string, RValue> }
  | { type: 'list'; items: RValue[]; attr: Map<string, RValue> }
  | { type: 'pairlist'; tags: (string | null)[]; items: RValue[]; attr: Map<string, RValue> }
  | { type: 'sym'; name: string }
  | { type: 'char'; value: string | null }
  | { type: 'other'; sexp: number };

const NA_INT = -2147483648;

/** Decompresses an .rda file's bytes (gzip, bzip2, xz or none). */
export function decompressRda(bytes: Uint8Array, name = 'R data'): Uint8Array {
  const starts = (...b: number[]) => b.every((v, i) => bytes[i] === v);
  if (starts(0x1f, 0x8b)) return gunzipSync(bytes);
  const tool = starts(0xfd, 0x37, 0x7a, 0x58, 0x5a) ? 'xz' : starts(0x42, 0x5a, 0x68) ? 'bzip2' : undefined;
  if (!tool) return bytes;
  try {
    return execFileSync(tool, ['-dc'], { input: bytes, maxBuffer: 1 << 30 });
  } catch (e) {
    throw new Error(`${name}: cannot run \`${tool} -dc\` to decompress it (install Debian's ${tool === 'xz' ? 'xz-utils' : 'bzip2'}): ${(e as Error).message}`);
  }
}

/** Parses an uncompressed .rda (RDX2/RDX3 + XDR serialization): the named objects it holds. */
export function parseRda(raw: Uint8Array, name = 'R data'): Map<string, RValue> {
  const magic = new TextDecoder().decode(raw.subarray(0, 5));
  if (magic !== 'RDX2\n' && magic !== 'RDX3\n') throw new Error(`${name}: not an R data file (starts with ${JSON.stringify(magic)}; expected RDX2 or RDX3)`);
  const top = new RReader(raw.subarray(5), name).read();
  if (top.type !== 'pairlist') throw new Error(`${name}: expected a list of named objects`);
  return new Map(top.items.map((v, i) => [top.tags[i] ?? `#${i}`, v]));
}

class RReader {
  private at = 0;
  private readonly view: DataView;
  private readonly refs: RValue[] = [];

  constructor(private readonly b: Uint8Array, private readonly name: string) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const format = new TextDecoder().decode(b.subarray(0, 2));
    if (format !== 'X\n') throw new Error(`${name}: only the XDR (binary, big-endian) format is supported, got ${JSON.stringify(format)}`);
    this.at = 2;
    const version = this.int();
    this.int(); // the writer's R version
    this.int(); // the minimal reader version
    if (version === 3) { const n = this.int(); this.at += n; } // the native encoding's name
    else if (version !== 2) throw new Error(`${name}: serialization version ${version} (supported: 2, 3)`);
  }

  private fail(msg: string): never {
    throw new Error(`${this.name}: ${msg} (at byte ${this.at})`);
  }

  private int(): number {
    if (this.at + 4 > this.b.length) this.fail('truncated');
    const v = this.view.getInt32(this.at, false);
    this.at += 4;
    return v;
  }

  private length(): number {
    const n = this.int();
    if (n !== -1) return n;
    return this.int() * 2 ** 32 + (this.int() >>> 0);
  }

  read(): RValue {
    const flags = this.int();
    const sexp = flags & 0xff;
    const hasAttr = (flags & (1 << 9)) !== 0;
    const hasTag = (flags & (1 << 10)) !== 0;
    switch (sexp) {
      case 254: case 253: case 252: case 251: case 250: case 242: case 241: return { type: 'null' };
      case 255: { // a reference to an earlier symbol or environment
        const i = (flags >> 8) || this.int();
        return this.refs[i - 1] ?? this.fail(`bad reference ${i}`);
      }
      case 1: { // SYMSXP
        const c = this.read();
        const sym: RValue = { type: 'sym', name: c.type === 'char' ? c.value ?? 'NA' : '?' };
        this.refs.push(sym);
        return sym;
      }
      case 9: { // CHARSXP
        const n = this.int();
        if (n === -1) return { type: 'char', value: null };
        const value = new TextDecoder().decode(this.b.subarray(this.at, this.at + n));
        this.at += n;
        return { type: 'char', value };
      }
      case 2: case 6: case 239: case 240: return this.pairlist(hasAttr, hasTag);
      case 10: case 13: {
        const n = this.length();
        const data = new Int32Array(n);
        for (let i = 0; i < n; i++) data[i] = this.int();
        return { type: sexp === 10 ? 'lgl' : 'int', data, attr: this.attributes(hasAttr) };
      }
      case 14: {
        const n = this.length();
        const data = new Float64Array(n);
        for (let i = 0; i < n; i++, this.at += 8) data[i] = this.view.getFloat64(this.at, false);
        return { type: 'real', data, attr: this.attributes(hasAttr) };
      }
      case 16: {
        const n = this.length();
        const data = Array.from({ length: n }, () => { const c = this.read(); return c.type === 'char' ? c.value : null; });
        return { type: 'str', data, attr: this.attributes(hasAttr) };
      }
      case 19: case 20: {
        const n = this.length();
        const items = Array.from({ length: n }, () => this.read());
        return { type: 'list', items, attr: this.attributes(hasAttr) };
      }
      case 238: return this.altrep();
      default: return this.fail(`unsupported R object type ${sexp} (this reader handles data frames of numbers, strings and factors)`);
    }
  }

  /** Pairlists (LISTSXP and friends), read iteratively along the CDR chain. */
  private pairlist(hasAttr: boolean, hasTag: boolean): RValue {
    const out: Extract<RValue, { type: 'pairlist' }> = { type: 'pairlist', tags: [], items: [], attr: new Map() };
    let first = true;
    for (;;) {
      const attr = this.attributes(hasAttr);
      if (first) out.attr = attr;
      first = false;
      const tag = hasTag ? this.read() : undefined;
      out.tags.push(tag?.type === 'sym' ? tag.name : null);
      out.items.push(this.read());
      const flags = this.int();
      const sexp = flags & 0xff;
      if (sexp === 254) return out;
      if (sexp !== 2) { this.at -= 4; out.items.push(this.read()); out.tags.push(null); return out; }
      hasAttr = (flags & (1 << 9)) !== 0;
      hasTag = (flags & (1 << 10)) !== 0;
    }
  }

  private attributes(hasAttr: boolean): Map<string, RValue> {
    if (!hasAttr) return new Map();
    const a = this.read();
    if (a.type !== 'pairlist') this.fail('attributes are not a pairlist');
    return new Map(a.items.map((v, i) => [a.tags[i] ?? `#${i}`, v]));
  }

  /** ALTREP objects: R ≥ 3.5 writes compact integer sequences (e.g. 1:n) this way. */
  private altrep(): RValue {
    const info = this.read();
    const state = this.read();
    const attr = this.read();
    const cls = info.type === 'pairlist' && info.items[0]?.type === 'sym' ? info.items[0].name : '?';
    const attrs = attr.type === 'pairlist' ? new Map(attr.items.map((v, i) => [attr.tags[i] ?? `#${i}`, v])) : new Map<string, RValue>();
    if ((cls === 'compact_intseq' || cls === 'compact_realseq') && state.type === 'real') {
      const [n, start, step] = state.data;
      const data = Float64Array.from({ length: n }, (_, i) => start + i * step);
      return cls === 'compact_intseq' ? { type: 'int', data: Int32Array.from(data), attr: attrs } : { type: 'real', data, attr: attrs };
    }
    if (cls === 'wrap_integer' || cls === 'wrap_real' || cls === 'wrap_string' || cls === 'deferred_string') {
      const inner = state.type === 'pairlist' ? state.items[0] : state;
      if (inner && 'attr' in inner) return { ...inner, attr: new Map([...inner.attr, ...attrs]) } as RValue;
    }
    return this.fail(`unsupported ALTREP class ${cls}`);
  }
}

const strings = (v: RValue | undefined): (string | null)[] | undefined => (v?.type === 'str' ? v.data : undefined);

/** A data frame's columns as strings (factors as their level names; NA and NaN as null). */
export function dataFrameColumns(df: RValue, name = 'object'): { names: string[]; columns: (string | null)[][] } {
  if (df.type !== 'list' || !strings(df.attr.get('class'))?.includes('data.frame')) throw new Error(`${name} is not a data.frame`);
  const names = (strings(df.attr.get('names')) ?? []).map((s, i) => s ?? `V${i + 1}`);
  const columns = df.items.map((col, c) => {
    const levels = 'attr' in col ? strings(col.attr.get('levels')) : undefined;
    if (col.type === 'int' && levels) return Array.from(col.data, (k) => (k === NA_INT ? null : levels[k - 1] ?? null));
    if (col.type === 'int') return Array.from(col.data, (k) => (k === NA_INT ? null : String(k)));
    if (col.type === 'lgl') return Array.from(col.data, (k) => (k === NA_INT ? null : k ? 'TRUE' : 'FALSE'));
    if (col.type === 'real') return Array.from(col.data, (x) => (Number.isFinite(x) ? String(x) : Number.isNaN(x) ? null : x > 0 ? 'Inf' : '-Inf'));
    if (col.type === 'str') return col.data;
    throw new Error(`${name}: column ${names[c]} has an unsupported type ${col.type}`);
  });
  return { names, columns };
}

const quote = (s: string) => (/[",\n\r]/.test(s) || s !== s.trim() ? `"${s.replaceAll('"', '""')}"` : s);

/** CSV text: the features, then `label` (column `label` of the frame) and `split` (first `trainRows` rows: train). */
export function toCsv(frame: { names: string[]; columns: (string | null)[][] }, label: string, trainRows: number): string {
  const li = frame.names.indexOf(label);
  if (li < 0) throw new Error(`no column ${JSON.stringify(label)}; the frame has ${frame.names.join(', ')}`);
  const features = frame.names.map((_, i) => i).filter((i) => i !== li);
  for (const n of [...features.map((i) => frame.names[i])]) if (n === 'label' || n === 'split') throw new Error(`a feature column is named ${n}`);
  const rows = frame.columns[0]?.length ?? 0;
  if (!(trainRows > 0 && trainRows < rows)) throw new Error(`the training rows (${trainRows}) must be between 1 and ${rows - 1}`);
  const lines = [[...features.map((i) => frame.names[i]), 'label', 'split'].map(quote).join(',')];
  for (let r = 0; r < rows; r++) {
    const cells = [...features, li].map((i) => quote(frame.columns[i][r] ?? ''));
    lines.push([...cells, r < trainRows ? 'train' : 'test'].join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** Reads OBJECT from an .rda file and writes the CSV. */
export function convert(rda: string, object: string, label: string, trainRows: number, out: string): { rows: number; features: number } {
  const objects = parseRda(decompressRda(readFileSync(rda), rda), rda);
  const df = objects.get(object);
  if (!df) throw new Error(`${rda}: no object ${object} (it has ${[...objects.keys()].join(', ')})`);
  const frame = dataFrameColumns(df, `${rda}: ${object}`);
  writeFileSync(out, toCsv(frame, label, trainRows));
  return { rows: frame.columns[0].length, features: frame.names.length - 1 };
}

const MLBENCH = '/usr/lib/R/site-library/mlbench/data';
/** The tables shipped in data/: UCI's canonical training/test splits (see data/README.md). */
export const SHIPPED = [
  { rda: `${MLBENCH}/Satellite.rda`, object: 'Satellite', label: 'classes', trainRows: 4435, out: 'data/satellite.csv' },
  { rda: `${MLBENCH}/LetterRecognition.rda`, object: 'LetterRecognition', label: 'lettr', trainRows: 16000, out: 'data/letter-recognition.csv' },
];

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const jobs = args.length === 0 ? SHIPPED
    : args.length === 5 ? [{ rda: args[0], object: args[1], label: args[2], trainRows: Number(args[3]), out: args[4] }]
      : (() => { throw new Error('usage: mlbench-to-csv.ts [FILE.rda OBJECT LABEL TRAIN_ROWS OUT.csv]'); })();
  for (const j of jobs) {
    const { rows, features } = convert(j.rda, j.object, j.label, j.trainRows, j.out);
    console.log(`${j.out}: ${rows} rows (${j.trainRows} train, ${rows - j.trainRows} test), ${features} features, from ${j.object} in ${j.rda}`);
  }
}

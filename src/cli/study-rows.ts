/**
 * The rows of `wgrad compare --methods`: "random" (the untrained encoder), a method ("simclr"), a
 * method with the robustness regularizer ("simclr+reg"), and variants of either with options set
 * ("aplr:perturbation=zero", "simclr+reg:reg-perturbation=random", several as "aplr:eps=0.2:perturbation=random"),
 * so that one table holds a method beside its ablations as differently named rows. An option is
 * named by its key or its flag (the method's first, then the regularizer's), and its value is
 * checked against that option's bounds. Each row × seed is trained in its own run directory.
 */
import { join } from 'node:path';
import { parseOption } from '../core/options.js';
import * as ssl from '../ssl/index.js';
import { UsageError } from './args.js';
import type { FlagSource } from './record-flags.js';
import { REGULARIZER_SOURCE, type RunConfig } from './run-config.js';

export interface RowSpec {
  /** As given in --methods. */
  name: string;
  /** 'random' (the untrained encoder), 'raw' (the inputs themselves) or a method's name. */
  base: string;
  /** With the robustness regularizer. */
  reg: boolean;
  /** Options set by the row: [source, option key, value]. */
  sets: { source: 'method' | 'regularizer'; key: string; value: unknown }[];
}

/** The rows that train nothing: the untrained encoder and the raw inputs. */
export const UNTRAINED_ROWS = ['random', 'raw'];

/** The bases a row can name: "random", "raw", every method and every method + "+reg". */
export function rowBases(): string[] {
  const names = ssl.methodNames();
  return [...UNTRAINED_ROWS, ...names, ...names.map((m) => `${m}+reg`)];
}

/** The option of `source` named `name` (its key or its flag). */
const optionOf = (source: FlagSource, name: string) => source.flags.find((f) => f.key === name || f.flag === name);

/** One row of --methods (or an item of `flag`), parsed and checked (a UsageError names the row and what is wrong). */
export function parseRow(name: string, flag = '--methods'): RowSpec {
  const [head, ...settings] = name.split(':');
  if (!rowBases().includes(head)) throw new UsageError(`${flag} ${JSON.stringify(head)} is not one of ${rowBases().join(', ')}`, 'compare');
  const [base, reg] = head.split('+');
  if (UNTRAINED_ROWS.includes(base) && settings.length) throw new UsageError(`${flag} ${name}: ${base === 'raw' ? 'the raw inputs ("raw")' : 'the untrained encoder ("random")'} take no options`, 'compare');
  const sources: [RowSpec['sets'][number]['source'], FlagSource][] = [['method', ssl.methodRecord(UNTRAINED_ROWS.includes(base) ? ssl.methodNames()[0] : base)], ...(reg ? [['regularizer', REGULARIZER_SOURCE] as [RowSpec['sets'][number]['source'], FlagSource]] : [])];
  const sets = settings.map((text) => {
    const m = /^([A-Za-z][\w-]*)=(.+)$/.exec(text);
    if (!m) throw new UsageError(`${flag} ${name}: ${JSON.stringify(text)} is not option=value`, 'compare');
    const found = sources.map(([which, src]) => [which, optionOf(src, m[1])] as const).find(([, f]) => f);
    if (!found) throw new UsageError(`${flag} ${name}: ${m[1]} is not an option of ${sources.map(([, s]) => s.name).join(' or ')} (${sources.flatMap(([, s]) => s.flags.map((f) => f.key)).join(', ')})`, 'compare');
    const [which, option] = found as [RowSpec['sets'][number]['source'], NonNullable<ReturnType<typeof optionOf>>];
    const parsed = parseOption(option.spec, option.spec.kind === 'boolean' ? m[2] === 'true' : m[2]);
    if ('problem' in parsed) throw new UsageError(`${flag} ${name}: ${m[1]} = ${m[2]}: ${parsed.problem}`, 'compare');
    return { source: which, key: option.key, value: parsed.value };
  });
  return { name, base, reg: !!reg, sets };
}

/** The row's configuration: the run's from the flags, with `shared` (--method-options) and then the row's options set on it. */
export function applyRow(cfg: RunConfig, row: RowSpec, shared: RowSpec['sets'] = []): RunConfig {
  const out = { ...cfg, options: { ...cfg.options }, regularizerOptions: cfg.regularizerOptions && { ...cfg.regularizerOptions } };
  for (const s of [...shared, ...row.sets]) {
    if (s.source === 'method') out.options[s.key] = s.value;
    else (out.regularizerOptions as unknown as Record<string, unknown>)[s.key] = s.value;
  }
  if (!UNTRAINED_ROWS.includes(row.base)) out.options = ssl.methodOptions(ssl.methodRecord(out.method), out.options);
  return out;
}

/**
 * --method-options: options set on every row of a method without changing the rows' names (so that
 * the hypotheses, which name rows, still find them), e.g. the knob chosen on the validation split:
 * "aplr:eps=0.05" sets APLR's ε on aplr, aplr:perturbation=zero, …; "simclr+reg:eps=0.1" the
 * regularizer's of the simclr+reg rows. A row's own options are applied after them.
 */
export function sharedOptions(items: readonly string[] | undefined, rows: readonly RowSpec[]): (row: RowSpec) => RowSpec['sets'] {
  const specs = (items ?? []).map((item) => {
    const spec = parseRow(item, '--method-options');
    if (UNTRAINED_ROWS.includes(spec.base) || !spec.sets.length) throw new UsageError(`--method-options ${item}: expected METHOD[+reg]:option=value`, 'compare');
    if (!rows.some((r) => applies(spec, r))) throw new UsageError(`--method-options ${item}: no row of --methods is ${spec.base}${spec.reg ? '+reg' : ''}`, 'compare');
    return spec;
  });
  return (row) => specs.filter((s) => applies(s, row)).flatMap((s) => s.sets);
}

/** A --method-options item applies to the rows of its method (with "+reg": those with the regularizer). */
const applies = (spec: RowSpec, row: RowSpec) => spec.base === row.base && (!spec.reg || row.reg);

/** The row's label in tables: the untrained encoder's, "+ regularizer (β = …)", the options set. */
export function rowLabel(row: RowSpec, beta: number): string {
  if (row.base === 'random') return 'untrained encoder (baseline)';
  if (row.base === 'raw') return 'raw inputs (probe and kNN on the inputs)';
  const sets = row.sets.map((s) => `${s.source === 'regularizer' ? 'regularizer ' : ''}${s.key} = ${String(s.value)}`).join(', ');
  return `${row.base}${row.reg ? ` + regularizer (β = ${beta})` : ''}${sets ? ` (${sets})` : ''}`;
}

/** A row's directory name: the name with "+", ":" and "=" replaced (simclr-reg, aplr.perturbation-zero). */
export const rowDirName = (name: string): string => name.replace(/\+/g, '-').replace(/:/g, '.').replace(/=/g, '-');

/**
 * The run directory of a row and seed: OUT/runs/<row> for a single-seed comparison without --seeds
 * (the layout before seeds), OUT/runs/<row>/seed-<s> otherwise.
 */
export function runDir(out: string, row: string, seed: number, perSeed: boolean): string {
  return perSeed ? join(out, 'runs', rowDirName(row), `seed-${seed}`) : join(out, 'runs', rowDirName(row));
}

/** The seeds of --seeds: "N" is N seeds from --seed on; a list is those seeds (no repeats). */
export function seedList(given: string | undefined, first: number): number[] {
  if (given === undefined) return [first];
  const items = given.split(',').map((t) => t.trim());
  const bad = items.find((t) => !/^\d+$/.test(t) || !Number.isSafeInteger(Number(t)) || Number(t) > 4294967295);
  if (bad !== undefined || !items.length) throw new UsageError(`--seeds ${given}: expected a count N ≥ 1 or a list of seeds (integers 0 to 2^32 − 1)`, 'compare');
  if (items.length === 1) {
    const n = Number(items[0]);
    if (n < 1) throw new UsageError(`--seeds ${given}: expected a count N ≥ 1 or a list of seeds`, 'compare');
    if (first + n - 1 > 4294967295) throw new UsageError(`--seeds ${given} from --seed ${first} goes past 2^32 − 1`, 'compare');
    return Array.from({ length: n }, (_, i) => first + i);
  }
  const seeds = items.map(Number);
  if (new Set(seeds).size !== seeds.length) throw new UsageError(`--seeds ${given} lists a seed twice`, 'compare');
  return seeds;
}

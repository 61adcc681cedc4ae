/**
 * Flags derived from records that declare their options (src/core/options.ts): the SSL methods, the
 * option groups every method takes (the robustness regularizer) and the evaluation's attacks. One
 * flag may be declared by several records (--eps: RoCL's attack radius, APLR's noise radius, the
 * regularizer's ε), each for its own option with its own bounds and default: the command line parses
 * the flag once by its kind, then each record that uses it checks the value against its own bounds.
 */
import type { OptionFlag, OptionGroup, OptionSpec } from '../core/options.js';
import { valueProblem } from '../core/options.js';
import { type Flags, type Parsed, UsageError } from './args.js';

/** A record whose options are set by flags (the default `any`: a list holds records of different options). */
export interface FlagSource<O extends object = any> extends OptionGroup<O> {
  /** Its name in --help and in messages ("rocl", "the regularizer"). */
  name: string;
}

const show = (v: unknown) => (Array.isArray(v) ? v.join(',') : String(v));

/** One source's line of a flag's help: its help text and its default. */
function helpOf(source: FlagSource, f: OptionFlag<object>): string {
  const d = (source.defaults as Record<string, unknown>)[f.key];
  return `${f.spec.help}${d !== undefined && f.spec.kind !== 'boolean' ? ` (default ${show(d)})` : ''}`;
}

/**
 * The flags the sources declare, one per name: its kind (the sources must agree), and a help text
 * naming each source that uses it. No bounds and no default: those are each source's (optionsFrom).
 * A name the command already has (`reserved`) is an error of the source.
 */
export function sourceFlags(sources: readonly FlagSource[], reserved: Flags = {}): Flags {
  const byName = new Map<string, { spec: OptionSpec; users: { source: FlagSource; flag: OptionFlag<object> }[] }>();
  for (const source of sources) {
    for (const flag of source.flags as readonly OptionFlag<object>[]) {
      if (flag.flag in reserved) throw new Error(`${source.name} declares --${flag.flag}, a flag the command has already`);
      const entry = byName.get(flag.flag) ?? { spec: flag.spec, users: [] };
      if (entry.spec.kind !== flag.spec.kind) throw new Error(`--${flag.flag} is a ${flag.spec.kind} for ${source.name} but a ${entry.spec.kind} for ${entry.users[0].source.name}`);
      entry.users.push({ source, flag });
      byName.set(flag.flag, entry);
    }
  }
  const out: Flags = {};
  for (const [name, { spec, users }] of byName) {
    // Sources with the same text share one entry ("simclr, rocl, idaa: …").
    const texts = new Map<string, string[]>();
    for (const u of users) texts.set(helpOf(u.source, u.flag), [...(texts.get(helpOf(u.source, u.flag)) ?? []), u.source.name]);
    const help = [...texts].map(([text, names]) => `${names.join(', ')}: ${text}`).join('; ');
    const choices = [...new Set(users.flatMap((u) => u.flag.spec.choices ?? []))];
    out[name] = { kind: spec.kind, help, value: spec.value, ...(choices.length && { choices }) };
  }
  return out;
}

/**
 * The options of `source` from parsed flags: its defaults, overridden by the flags given, each
 * checked against this source's bounds (a UsageError naming the flag and the source).
 */
export function optionsFrom<O extends object>(command: string, source: FlagSource<O>, a: Parsed): O {
  const o: Record<string, unknown> = { ...source.defaults };
  for (const f of source.flags) {
    const v = a[f.flag];
    if (v === undefined || (f.spec.kind === 'boolean' && v === false)) continue;
    const problem = valueProblem(f.spec, v);
    if (problem) throw new UsageError(`--${f.flag} ${show(v)}: ${problem} (for ${source.name})`, command);
    o[f.key] = v;
  }
  return o as O;
}

/** The source flags given on the command line that none of `users` takes: a UsageError naming the first and who takes it. */
export function refuseUnused(command: string, a: Parsed, all: readonly FlagSource[], users: readonly FlagSource[], hint: string): void {
  for (const name of new Set(all.flatMap((s) => s.flags.map((f) => f.flag)))) {
    const v = a[name];
    if (v === undefined || v === false || users.some((s) => s.flags.some((f) => f.flag === name))) continue;
    const takers = all.filter((s) => s.flags.some((f) => f.flag === name)).map((s) => s.name);
    throw new UsageError(`--${name} is not used by ${hint} (it is an option of ${takers.join(', ')})`, command);
  }
}

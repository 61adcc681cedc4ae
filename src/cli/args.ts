/**
 * Command-line flags without a dependency: node:util's parseArgs (strict: unknown flags are errors)
 * plus typed, validated values. Every problem is a UsageError, which main prints with the command's
 * usage line and exits with status 2.
 */
import { parseArgs } from 'node:util';
import { type OptionKind, type OptionSpec, parseOption } from '../core/options.js';

export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A flag: a declared option (src/core/options.ts: kind, bounds, choices, help, default), or another
 * name of one (`aliasOf`: its value is the other flag's; giving both is refused).
 */
export type FlagSpec = OptionSpec & { aliasOf?: string };
export type FlagKind = OptionKind;

export type Flags = Record<string, FlagSpec>;
export type Parsed = Record<string, string | number | boolean | string[] | number[] | undefined>;

export function parseFlags(command: string, argv: readonly string[], flags: Flags): Parsed {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const [name, f] of Object.entries(flags)) options[name] = { type: f.kind === 'boolean' ? 'boolean' : 'string' };
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true }) as { values: Record<string, string | boolean | undefined>; positionals: string[] });
  } catch (e) {
    throw new UsageError(cleanParseError((e as Error).message), command);
  }
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, command);
  const out: Parsed = { help: values.help === true };
  for (const [name, f] of Object.entries(flags)) {
    if (f.aliasOf) continue;
    const alias = Object.keys(flags).find((a) => flags[a].aliasOf === name && values[a] !== undefined);
    if (alias && values[name] !== undefined) throw new UsageError(`--${alias} and --${name} are the same setting: give one of them`, command);
    const raw = alias ? values[alias] : values[name];
    out[name] = raw === undefined ? (isList(f.kind) && typeof f.default === 'string' ? convert(command, name, f, f.default) : f.default) : convert(command, alias ?? name, f, raw);
  }
  return out;
}

const isList = (kind: FlagKind) => kind === 'list' || kind === 'ints' || kind === 'numbers';

function cleanParseError(msg: string): string {
  // node's messages end with advice about '--' that does not apply here.
  return msg.replace(/\. To specify a positional argument.*$/s, '').replace(/^Unknown option '(.+?)'.*$/s, 'unknown flag $1');
}

function convert(command: string, name: string, f: FlagSpec, raw: string | boolean): string | number | boolean | string[] | number[] {
  const r = parseOption(f, raw);
  if ('problem' in r) throw new UsageError(`--${name} ${JSON.stringify(raw)}: ${r.problem}`, command);
  return r.value;
}

/** A list of numbers ≥ min from a list flag's items (decimal, float32), validated. */
export function numberList(command: string, name: string, items: string[], min = 0): number[] {
  return convert(command, name, { kind: 'numbers', min, help: '' }, items.join(',')) as number[];
}

/** The flag table as --help text. */
export function flagHelp(flags: Flags): string {
  const rows = Object.entries(flags).map(([name, f]) => {
    const placeholder = f.kind === 'boolean' ? '' : ` ${f.value ?? (f.choices ? f.choices.join('|') : f.kind === 'int' ? 'N' : f.kind === 'number' ? 'X' : isList(f.kind) ? 'A,B' : 'S')}`;
    const dflt = f.default !== undefined && f.kind !== 'boolean' ? ` (default ${f.default})` : '';
    return [`  --${name}${placeholder}`, `${f.help}${dflt}`];
  });
  const width = Math.min(34, Math.max(...rows.map(([a]) => a.length)) + 2);
  return rows.map(([a, b]) => (a.length + 2 > width ? `${a}\n${' '.repeat(width)}${b}` : `${a.padEnd(width)}${b}`)).join('\n');
}

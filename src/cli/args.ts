/**
 * Command-line flags without a dependency: node:util's parseArgs (strict: unknown flags are errors)
 * plus typed, validated values. Every problem is a UsageError, which main prints with the command's
 * usage line and exits with status 2.
 */
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FlagKind = 'int' | 'number' | 'string' | 'boolean' | 'list';

export interface FlagSpec {
  kind: FlagKind;
  help: string;
  /** Shown in --help and used when the flag is absent. */
  default?: string | number | boolean;
  /** Allowed values (string flags, and each item of a list). */
  choices?: readonly string[];
  /** Inclusive lower bound (numbers). */
  min?: number;
  /** Exclusive lower bound (numbers). */
  above?: number;
  max?: number;
  /** Placeholder in --help (default derived from the kind). */
  value?: string;
}

export type Flags = Record<string, FlagSpec>;
export type Parsed = Record<string, string | number | boolean | string[] | undefined>;

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
    const raw = values[name];
    out[name] = raw === undefined ? (f.kind === 'list' && f.default !== undefined ? convert(command, name, f, String(f.default)) : f.default) : convert(command, name, f, raw);
  }
  return out;
}

function cleanParseError(msg: string): string {
  // node's messages end with advice about '--' that does not apply here.
  return msg.replace(/\. To specify a positional argument.*$/s, '').replace(/^Unknown option '(.+?)'.*$/s, 'unknown flag $1');
}

function convert(command: string, name: string, f: FlagSpec, raw: string | boolean): string | number | boolean | string[] {
  const bad = (why: string) => new UsageError(`--${name} ${JSON.stringify(raw)}: ${why}`, command);
  if (f.kind === 'boolean') return raw === true;
  const text = String(raw);
  if (f.kind === 'string') {
    if (text === '') throw bad('expected a value');
    if (f.choices && !f.choices.includes(text)) throw bad(`expected one of ${f.choices.join(', ')}`);
    return text;
  }
  if (f.kind === 'list') {
    const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (!items.length) throw bad('expected a comma-separated list');
    for (const it of items) if (f.choices && !f.choices.includes(it)) throw bad(`${JSON.stringify(it)} is not one of ${f.choices.join(', ')}`);
    return items;
  }
  const v = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(v)) throw bad(`expected ${f.kind === 'int' ? 'an integer' : 'a number'}`);
  if (f.kind === 'int' && !Number.isInteger(v)) throw bad('expected an integer');
  if (f.min !== undefined && v < f.min) throw bad(`must be ≥ ${f.min}`);
  if (f.above !== undefined && !(v > f.above)) throw bad(`must be > ${f.above}`);
  if (f.max !== undefined && v > f.max) throw bad(`must be ≤ ${f.max}`);
  return v;
}

/** A list of numbers from a list flag, validated. */
export function numberList(command: string, name: string, items: string[], min = 0): number[] {
  return items.map((s) => {
    const v = Number(s);
    if (!Number.isFinite(v) || v < min) throw new UsageError(`--${name}: ${JSON.stringify(s)} is not a number ≥ ${min}`, command);
    return v;
  });
}

/** The flag table as --help text. */
export function flagHelp(flags: Flags): string {
  const rows = Object.entries(flags).map(([name, f]) => {
    const placeholder = f.kind === 'boolean' ? '' : ` ${f.value ?? (f.choices ? f.choices.join('|') : f.kind === 'int' ? 'N' : f.kind === 'number' ? 'X' : f.kind === 'list' ? 'A,B' : 'S')}`;
    const dflt = f.default !== undefined && f.kind !== 'boolean' ? ` (default ${f.default})` : '';
    return [`  --${name}${placeholder}`, `${f.help}${dflt}`];
  });
  const width = Math.min(34, Math.max(...rows.map(([a]) => a.length)) + 2);
  return rows.map(([a, b]) => (a.length + 2 > width ? `${a}\n${' '.repeat(width)}${b}` : `${a.padEnd(width)}${b}`)).join('\n');
}

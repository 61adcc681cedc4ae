/**
 * Declared options: a setting's kind, bounds, choices and help, written once beside what it
 * configures (an SSL method, an evaluation attack, an option group such as the robustness
 * regularizer), so that the command line can derive its flags, --help text and validation from the
 * declaration instead of restating them.
 *
 * Numbers are parsed as decimals only ("0x10", "0b1", "Infinity" and "" are refused, where
 * JavaScript's Number() would accept them) and checked in float32 terms: every number here ends up
 * as a float32 tensor value, so a value beyond ±3.4028235e38 is refused, and bounds are compared on
 * the value rounded to float32 (1e-50 is 0 in float32 and fails "must be > 0"). Integers are decimal
 * digits and safe integers (2^53 − 1 at most).
 */
import { FLOAT32_MAX } from './dtype.js';

export type OptionKind = 'int' | 'number' | 'string' | 'boolean' | 'list' | 'ints' | 'numbers';
export type OptionValue = string | number | boolean | string[] | number[];

export interface OptionSpec {
  kind: OptionKind;
  help: string;
  /** The value when absent (a record's option takes its default from the record's defaults instead). */
  default?: OptionValue;
  /** Allowed values (string kinds, and each item of a list). */
  choices?: readonly string[];
  /** Inclusive lower bound (numbers; each item of a number list). */
  min?: number;
  /** Exclusive lower bound. */
  above?: number;
  /** Inclusive upper bound. */
  max?: number;
  /** Placeholder in --help (default derived from the kind). */
  value?: string;
}

/** An option of a record (a method, an attack, a group), set by the command-line flag `flag`. */
export interface OptionFlag<O> {
  /** The flag's name, without "--". Several records may declare one flag, each for its own option. */
  flag: string;
  /** The option it sets. */
  key: keyof O & string;
  spec: OptionSpec;
}

/** Options declared once: their defaults (the one place they live) and the flags that set them. */
export interface OptionGroup<O extends object> {
  defaults: Readonly<O>;
  flags: readonly OptionFlag<O>[];
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

/** The value of one number or integer, or why not (the caller names the flag). */
function parseNumber(text: string, integer: boolean): number | string {
  const t = text.trim();
  if (!(integer ? INTEGER : DECIMAL).test(t)) return integer ? 'expected an integer' : 'expected a decimal number';
  const v = Number(t);
  if (integer && !Number.isSafeInteger(v)) return `expected an integer of at most ${Number.MAX_SAFE_INTEGER} in magnitude`;
  if (!integer && !(Math.abs(v) <= FLOAT32_MAX)) return `beyond the float32 range (±${FLOAT32_MAX.toPrecision(8)})`;
  return v;
}

/** Why `v` breaks the spec's bounds (compared in float32 for 'number' kinds), or undefined. */
export function boundsProblem(spec: Pick<OptionSpec, 'kind' | 'min' | 'above' | 'max'>, v: number): string | undefined {
  const x = spec.kind === 'number' || spec.kind === 'numbers' ? Math.fround(v) : v;
  const note = x !== v ? ` (${v} is ${x} in float32)` : '';
  if (spec.min !== undefined && !(x >= spec.min)) return `must be ≥ ${spec.min}${note}`;
  if (spec.above !== undefined && !(x > spec.above)) return `must be > ${spec.above}${note}`;
  if (spec.max !== undefined && !(x <= spec.max)) return `must be ≤ ${spec.max}${note}`;
  return undefined;
}

/** Why `v` is not one of the spec's choices, or undefined. */
function choiceProblem(spec: OptionSpec, v: string): string | undefined {
  return spec.choices && !spec.choices.includes(v) ? `expected one of ${spec.choices.join(', ')}` : undefined;
}

/**
 * A command-line text (or a boolean flag's presence) as the spec's kind, checked against its bounds
 * and choices: { value } or { problem } saying what was expected.
 */
export function parseOption(spec: OptionSpec, raw: string | boolean): { value: OptionValue } | { problem: string } {
  if (spec.kind === 'boolean') return { value: raw === true };
  const text = String(raw);
  if (spec.kind === 'string') {
    if (text === '') return { problem: 'expected a value' };
    const problem = choiceProblem(spec, text);
    return problem ? { problem } : { value: text };
  }
  if (spec.kind === 'list' || spec.kind === 'ints' || spec.kind === 'numbers') {
    const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (!items.length) return { problem: 'expected a comma-separated list' };
    if (spec.kind === 'list') {
      const bad = items.find((it) => choiceProblem(spec, it));
      return bad ? { problem: `${JSON.stringify(bad)} is not one of ${spec.choices!.join(', ')}` } : { value: items };
    }
    const values: number[] = [];
    for (const it of items) {
      const v = parseNumber(it, spec.kind === 'ints');
      const problem = typeof v === 'string' ? v : boundsProblem(spec, v);
      if (problem) return { problem: items.length > 1 ? `${JSON.stringify(it)}: ${problem}` : problem };
      values.push(v as number);
    }
    return { value: values };
  }
  const v = parseNumber(text, spec.kind === 'int');
  if (typeof v === 'string') return { problem: v };
  const problem = boundsProblem(spec, v);
  return problem ? { problem } : { value: v };
}

/** Why an already-typed value breaks the spec (bounds, choices), or undefined. */
export function valueProblem(spec: OptionSpec, value: OptionValue): string | undefined {
  if (typeof value === 'number') return boundsProblem(spec, value);
  if (typeof value === 'string') return choiceProblem(spec, value);
  if (Array.isArray(value)) {
    for (const it of value as (string | number)[]) {
      const p = typeof it === 'number' ? boundsProblem(spec, it) : choiceProblem(spec, it);
      if (p) return `${JSON.stringify(it)}: ${p}`;
    }
  }
  return undefined;
}

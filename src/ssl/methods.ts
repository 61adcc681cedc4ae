/**
 * The methods: a list of records (./method.ts), each declared in its own file. The command line
 * and `compare` read everything method-specific from here; a new method is one file and one line in
 * METHODS (or a registerMethod call, e.g. from a test or a script).
 *
 * The optimizer is the caller's (optim's makeOptimizer; the record names the default): the papers
 * use LARS over SGD (momentum 0.9, trust 0.001, weight decay 1e-6) with a linear warm-up then cosine
 * decay for SimCLR and RoCL, and Adam 3e-4 with cosine decay for IDAA; APLR's abstract names none,
 * and the domain-agnostic methods train with Adam (one optimizer for the three keeps the comparison fair).
 */
import { WgradError } from '../core/backend.js';
import { valueProblem } from '../core/options.js';
import type { Key } from '../random/random.js';
import { APLR } from './aplr.js';
import { initState, type SslState } from './common.js';
import { IDAA } from './idaa.js';
import type { MethodContext, MethodRecord, MethodStep } from './method.js';
import type { ModelConfig, ModelParams, ModelState } from './model.js';
import { ROCL } from './rocl.js';
import { SIMCLR } from './simclr.js';
import { SUPERVISED, SUPERVISED_AT } from './supervised.js';
import { MASK, NOISE } from './views.js';

/** Any method record (their options and states differ). */
export type AnyMethod = MethodRecord<any, any>;

/** The built-in methods, in the order the command line lists them (the supervised references last). */
export const METHODS: readonly AnyMethod[] = [SIMCLR, ROCL, IDAA, NOISE, MASK, APLR, SUPERVISED, SUPERVISED_AT];

const registry: AnyMethod[] = [...METHODS];

/** Every method: the built-in ones, then those registered. */
export function methods(): readonly AnyMethod[] {
  return registry;
}

/** The names of every method, built-in and registered. */
export function methodNames(): string[] {
  return registry.map((m) => m.name);
}

/** The method named `name`, or undefined. */
export function findMethod(name: string): AnyMethod | undefined {
  return registry.find((m) => m.name === name);
}

/** The method called `name`; a WgradError listing the methods otherwise. */
export function methodRecord(name: string): AnyMethod {
  const m = findMethod(name);
  if (!m) throw new WgradError('ssl.method', `unknown method ${JSON.stringify(name)}; expected one of ${methodNames().join(', ')}`);
  return m;
}

/**
 * Adds a method after the built-in ones. Its name must be new and a plain word ("random" and "+"
 * are `compare`'s), every flag must set one of its options, and a flag it shares with another
 * method (e.g. --eps) must have that method's kind.
 */
export function registerMethod(record: AnyMethod): void {
  const bad = (why: string) => new WgradError('ssl.registerMethod', `method ${JSON.stringify(record.name)}: ${why}`);
  if (!/^[a-z][a-z0-9-]*$/.test(record.name) || record.name === 'random') throw bad('the name must be a lower-case word (letters, digits, "-"), not "random"');
  if (findMethod(record.name)) throw bad('a method of that name exists');
  for (const f of record.flags) {
    if (!(f.key in record.defaults)) throw bad(`flag --${f.flag} sets ${f.key}, which is not among its options (${Object.keys(record.defaults).join(', ')})`);
    const other = registry.flatMap((m) => m.flags).find((g) => g.flag === f.flag && g.spec.kind !== f.spec.kind);
    if (other) throw bad(`flag --${f.flag} is a ${f.spec.kind} here but a ${other.spec.kind} in another method`);
  }
  if (!record.domains.length) throw bad('it must support at least one data domain');
  registry.push(record);
}

/**
 * A method's options: its defaults, then (for a stored run's options) `before` for the ones the run
 * predates, then `given`. Every value is checked against its flag's bounds (a WgradError names it).
 */
export function methodOptions<O extends object>(record: MethodRecord<O, SslState>, given: Partial<O> = {}, stored = false): O {
  const set = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<O>;
  const o = { ...record.defaults, ...(stored ? record.before : {}), ...set } as O;
  for (const f of record.flags) {
    const v = o[f.key] as unknown;
    const problem = v === undefined ? undefined : valueProblem(f.spec, v as never);
    if (problem) throw new WgradError('ssl.method', `${record.name}: option ${f.key} (--${f.flag}) = ${JSON.stringify(v)}: ${problem}`);
  }
  return o;
}

/** The model configuration a method needs on top of the encoder's (plain BN when the method says nothing). */
export function methodModelConfig(name: string, base: ModelConfig, options?: object): ModelConfig {
  const m = methodRecord(name);
  return m.modelConfig ? m.modelConfig(base, methodOptions(m, options)) : { ...base, bnBranches: undefined };
}

/** A method's initial training state: { model, opt } and its own fields; `key` seeds its own parameters. */
export function methodInitState(name: string, options: object, params: ModelParams, modelState: ModelState, key: Key, ctx: MethodContext): SslState {
  const m = methodRecord(name);
  const o = methodOptions(m, options);
  return m.init ? m.init(params, modelState, key, o, ctx) : initState(params, modelState, ctx.optimizer);
}

/** A method's step with its options bound. */
export function methodStep(name: string, options: object, ctx: MethodContext): MethodStep {
  const m = methodRecord(name);
  return m.step(methodOptions(m, options), ctx);
}

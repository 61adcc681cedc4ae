/**
 * The flags of the evaluation's attacks, derived from their records (src/eval/attacks.ts): --attack
 * takes their names, and each attack's options (--steps for PGD and APGD) are flags checked against
 * that attack's bounds; a flag the chosen attack does not take is refused.
 */
import { ATTACKS, PGD } from '../eval/attacks.js';
import { type Flags, type Parsed, UsageError } from './args.js';
import { parseOption } from '../core/options.js';
import { type FlagSource, optionsFrom, refuseUnused, sourceFlags } from './record-flags.js';

const sources: readonly FlagSource[] = ATTACKS;

/** --attack and the attacks' own flags. */
export const ATTACK_FLAGS: Flags = {
  attack: { kind: 'string', choices: ATTACKS.map((a) => a.name), default: PGD.name, help: 'white-box attack on encoder + linear head (the attacks list below)' },
  ...sourceFlags(sources),
};

/** The attacks for --help: name, summary, its flags. */
export function attacksHelp(): string[] {
  const width = Math.max(...ATTACKS.map((a) => a.name.length)) + 2;
  return ATTACKS.map((a) => `  ${a.name.padEnd(width)}${a.summary}${a.flags.length ? ` (${a.flags.map((f) => `--${f.flag}`).join(', ')})` : ''}`);
}

/**
 * The chosen attack and its options from the flags (its defaults, then the flags given, checked
 * against its bounds), and the iterations of the PGD that the robust linear evaluation runs (the
 * attack's own, else PGD's default).
 */
export function attackSettings(command: string, a: Parsed): { attack: string; steps: number } {
  const record = ATTACKS.find((r) => r.name === a.attack)!;
  refuseUnused(command, a, sources, [record], `--attack ${record.name}`);
  const o = optionsFrom<{ steps?: number }>(command, record, a);
  return { attack: record.name, steps: o.steps ?? PGD.defaults.steps };
}

/**
 * --robust-attacks: "name[:steps]" items (pgd:20,apgd:100), each an attack record with its steps
 * checked against that attack's bounds (an attack without steps, FGSM, takes none).
 */
export function robustAttackList(command: string, items: readonly string[] | undefined): { attack: string; steps: number }[] | undefined {
  if (!items) return undefined;
  const bad = (item: string, why: string) => new UsageError(`--robust-attacks ${item}: ${why}`, command);
  return items.map((item) => {
    const [name, steps, ...rest] = item.split(':');
    const record = ATTACKS.find((r) => r.name === name);
    if (!record || rest.length) throw bad(item, `expected ATTACK or ATTACK:STEPS with ATTACK one of ${ATTACKS.map((a) => a.name).join(', ')}`);
    const flag = record.flags.find((f) => f.key === 'steps');
    if (steps === undefined) return { attack: name, steps: (record.defaults as { steps?: number }).steps ?? PGD.defaults.steps };
    if (!flag) throw bad(item, `${name} takes no steps`);
    const r = parseOption(flag.spec, steps);
    if ('problem' in r) throw bad(item, `steps ${steps}: ${r.problem}`);
    return { attack: name, steps: r.value as number };
  });
}

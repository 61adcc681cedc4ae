/**
 * The flags of the evaluation's attacks, derived from their records (src/eval/attacks.ts): --attack
 * takes their names, and each attack's options (--steps for PGD and APGD) are flags checked against
 * that attack's bounds; a flag the chosen attack does not take is refused.
 */
import { ATTACKS, PGD } from '../eval/attacks.js';
import type { Flags, Parsed } from './args.js';
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

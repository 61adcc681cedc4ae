/**
 * The white-box attacks an evaluation offers by name (`wgrad eval --attack`), each one record: its
 * name, its options with their defaults and the flags that set them (src/core/options.ts), its label
 * in tables, and the attack at radius ε on a classifier (inside the data's box). The command line
 * derives --attack's choices, the attacks' flags and their --help text from ATTACKS.
 *
 *   pgd   PGD on the cross-entropy, random start, α = ε/10, `steps` iterations (RoCL's evaluation)
 *   apgd  APGD-CE (Croce & Hein), `steps` iterations
 *   fgsm  one signed-gradient step of size ε
 */
import { apgdCe } from '../attacks/apgd.js';
import { crossEntropy } from '../attacks/objectives.js';
import { fgsm, pgd } from '../attacks/pgd.js';
import type { OptionGroup } from '../core/options.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Attack } from './accuracy.js';

/** An attack on a classifier `model` (x → logits) at radius ε, with its options bound. */
export interface AttackRecord<O extends object = { steps?: number }> extends OptionGroup<O> {
  name: string;
  /** One line for --help. */
  summary: string;
  /** Its name in tables and charts with its options (e.g. "PGD-20"). */
  label(o: O): string;
  /** The attack at radius ε, inside `box` ([0, 1] for images; null: none, for standardized tables and log-mels). */
  at(model: (x: Tensor) => Tensor, o: O, box: readonly [number, number] | null): (eps: number) => Attack;
}

const STEPS = { kind: 'int', min: 1, max: 10000, help: 'attack iterations' } as const;

/** The PGD evaluation attack on the cross-entropy (random start, α = ε/10; 20 steps by default). */
export const PGD: AttackRecord<{ steps: number }> = {
  name: 'pgd',
  summary: 'PGD on the cross-entropy: random start, α = ε/10',
  defaults: { steps: 20 },
  flags: [{ flag: 'steps', key: 'steps', spec: STEPS }],
  label: (o) => `PGD-${o.steps}`,
  at: (model, o, box) => (eps) => (x, y, k) => pgd(crossEntropy(model, y), x, k, { eps, alpha: eps / 10, steps: o.steps, randomStart: true, box }),
};

/** The APGD-CE evaluation attack (20 steps by default). */
export const APGD: AttackRecord<{ steps: number }> = {
  name: 'apgd',
  summary: 'APGD-CE (Croce & Hein): step size adapted per example',
  defaults: { steps: 20 },
  flags: [{ flag: 'steps', key: 'steps', spec: STEPS }],
  label: (o) => `APGD-CE-${o.steps}`,
  at: (model, o, box) => (eps) => (x, y, k) => apgdCe(model, x, y, k, { eps, steps: o.steps, box }),
};

/** The FGSM evaluation attack (one step of size ε). */
export const FGSM: AttackRecord<Record<string, never>> = {
  name: 'fgsm',
  summary: 'FGSM: one signed-gradient step of size ε',
  defaults: {},
  flags: [],
  label: () => 'FGSM',
  at: (model, _o, box) => (eps) => (x, y, k) => fgsm(crossEntropy(model, y), x, k, { eps, box }),
};

// Records of different options share one list.
/** The evaluation attacks, by name (the CLI's `--attack` values). */
export const ATTACKS: readonly AttackRecord<any>[] = [PGD, APGD, FGSM];

/** The evaluation attack named `name`, or undefined. */
export function attackRecord(name: string): AttackRecord<{ steps?: number }> | undefined {
  return ATTACKS.find((a) => a.name === name);
}

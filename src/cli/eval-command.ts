/** `wgrad eval` (filled in below once src/eval lands). */
import type { Flags, Parsed } from './args.js';
import { BACKEND_FLAG } from './backend.js';

export const EVAL_FLAGS: Flags = {
  checkpoint: { kind: 'string', value: 'DIR', help: 'run directory written by wgrad train (required)' },
  attack: { kind: 'string', choices: ['pgd', 'apgd', 'fgsm'], default: 'pgd', help: 'attack on encoder + linear head' },
  eps: { kind: 'list', default: '0.05,0.1', help: 'L∞ radii for robust accuracy' },
  backend: BACKEND_FLAG,
};

export async function evalCommand(_a: Parsed): Promise<void> {
  throw new Error('not yet');
}

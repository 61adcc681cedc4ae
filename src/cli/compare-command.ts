/** `wgrad compare` (filled in below once src/eval lands). */
import type { Flags, Parsed } from './args.js';
import { RUN_FLAGS } from './train-command.js';

export const COMPARE_FLAGS: Flags = { ...RUN_FLAGS };

export async function compareCommand(_a: Parsed): Promise<void> {
  throw new Error('not yet');
}

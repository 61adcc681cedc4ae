/** The one error type of wgrad (kept apart from backend.ts so every core module can raise it without a cycle). */

/** Error thrown for invalid use of an op: names the op, the shapes/dtypes, and what was expected. */
export class WgradError extends Error {
  constructor(op: string, message: string) {
    super(`${op}: ${message}`);
    this.name = 'WgradError';
  }
}

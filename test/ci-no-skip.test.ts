/**
 * In CI (CI=true) a WebGPU test must fail, not skip, when no adapter can be started
 * (test/helpers/ci.ts, used by nn-webgpu and the WebGPU parts of the data tests).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { inCi, skipUnlessCi } from './helpers/ci.js';

const saved = process.env.CI;
afterEach(() => {
  if (saved === undefined) delete process.env.CI;
  else process.env.CI = saved;
});

describe('skipUnlessCi', () => {
  it('throws (the test fails) with the reason when CI=true or CI=1', () => {
    for (const value of ['true', '1', 'TRUE']) {
      process.env.CI = value;
      expect(inCi()).toBe(true);
      let skipped = false;
      expect(() => skipUnlessCi({ skip: () => { skipped = true; } }, 'no WebGPU adapter: none found')).toThrow(
        /WebGPU is required in CI .* no WebGPU adapter: none found/,
      );
      expect(skipped).toBe(false);
    }
  });

  it('skips with the reason outside CI', () => {
    for (const value of [undefined, '', 'false', '0']) {
      if (value === undefined) delete process.env.CI;
      else process.env.CI = value;
      expect(inCi()).toBe(false);
      const notes: string[] = [];
      const ctx = { skip: (note?: string) => { notes.push(note ?? ''); throw new Error('skipped'); } };
      expect(() => skipUnlessCi(ctx, 'no adapter')).toThrow('skipped');
      expect(notes).toEqual(['no adapter']);
    }
  });
});

/**
 * A kernel dump written to a directory (Node only; imported by src/node.ts alone):
 *
 *   DIR/kernels/0001-<key>.wgsl   each kernel's WGSL, numbered in the order compiled, its full
 *                                 pipeline key on the first line
 *   DIR/submits/0001.txt          each submitted batch: one line per dispatch (kernel file,
 *                                 workgroup grid, bound storage sizes) or readback
 *
 * Files are written as things happen (synchronously), so a run that crashes leaves everything up to
 * the crash. Meant for a few steps: every submit is a file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WgradError } from '../../core/backend.js';
import { formatSubmit, type KernelDumpSink } from './kernel-dump.js';

const pad = (n: number) => String(n).padStart(4, '0');

/** A file-name-safe form of a pipeline key (the full key is inside the file). */
function slug(key: string): string {
  return key.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
}

/** A sink writing the kernels and submits of the WebGPU runtime under `dir` (created if missing). */
export function kernelDumpToDir(dir: string): KernelDumpSink {
  const kernels = join(dir, 'kernels');
  const submits = join(dir, 'submits');
  try {
    mkdirSync(kernels, { recursive: true });
    mkdirSync(submits, { recursive: true });
  } catch (e) {
    throw new WgradError('init', `dumpKernels: cannot create the dump directory ${JSON.stringify(dir)}: ${(e as Error).message}`);
  }
  const files = new Map<string, string>();
  return {
    kernel(key, wgsl) {
      const name = `${pad(files.size + 1)}-${slug(key)}.wgsl`;
      files.set(key, name);
      writeFileSync(join(kernels, name), `// key: ${key}\n${wgsl}`);
    },
    submit(index, commands) {
      writeFileSync(join(submits, `${pad(index)}.txt`), formatSubmit(index, commands, (key) => files.get(key) ?? key));
    },
  };
}

/**
 * Dumping what the GPU is asked to do: every newly compiled kernel's WGSL, and every submitted
 * batch's commands (which kernel, its workgroup grid, the sizes of the storages it binds).
 *
 * Why: a user chasing a wrong value or a slow step, and a learner reading the tour
 * (docs/internals.md), want to see the kernels fusion generated and how many dispatches a step
 * costs without a GPU debugger. The runtime reports to a `KernelDumpSink` when one is given
 * (`init({ dumpKernels })`); `wgrad/node` turns a directory name (or WGRAD_DUMP=dir) into a sink
 * that writes files (dump-dir.ts). With no sink the runtime does no extra work.
 */

/** One command of a submitted batch. */
export type DumpedCommand =
  | {
    kind: 'dispatch';
    /** The kernel's pipeline key (equal keys mean identical WGSL). */
    key: string;
    workgroups: readonly [number, number, number];
    /** Bytes of each bound storage, in binding order: the first `readOnly` are inputs, the rest outputs. */
    bindings: readonly number[];
    readOnly: number;
    /** Bytes of the kernel's uniform block (0: none). */
    uniformBytes: number;
  }
  | { kind: 'readback'; bytes: number };

/** Receives what the WebGPU runtime compiles and submits. */
export interface KernelDumpSink {
  /** A kernel compiled for the first time on this device: its pipeline key and WGSL. */
  kernel(key: string, wgsl: string): void;
  /** A batch just submitted (numbered from 1), its commands in recorded order. */
  submit(index: number, commands: readonly DumpedCommand[]): void;
}

/** `[in 48 B, in 4 B, out 48 B]`: the bound storages, inputs first. */
function fmtBindings(c: Extract<DumpedCommand, { kind: 'dispatch' }>): string {
  return c.bindings.map((b, i) => `${i < c.readOnly ? 'in' : 'out'} ${b} B`).join(', ');
}

/**
 * The text of one submitted batch: a line per command. `kernelName` maps a key to what the reader
 * should look up (dump-dir.ts gives the WGSL file's name).
 */
export function formatSubmit(index: number, commands: readonly DumpedCommand[], kernelName: (key: string) => string = (k) => k): string {
  const dispatches = commands.filter((c) => c.kind === 'dispatch').length;
  const lines = [`# submit ${index}: ${dispatches} dispatch${dispatches === 1 ? '' : 'es'}`];
  commands.forEach((c, i) => {
    const n = String(i).padStart(3);
    if (c.kind === 'readback') lines.push(`${n}  readback ${c.bytes} B`);
    else {
      const uniforms = c.uniformBytes ? `  uniforms ${c.uniformBytes} B` : '';
      lines.push(`${n}  ${kernelName(c.key)}  workgroups [${c.workgroups.join(', ')}]  bindings [${fmtBindings(c)}]${uniforms}`);
    }
  });
  return `${lines.join('\n')}\n`;
}

/** The commands of the batch being recorded, handed to the sink at each submit (runtime.ts). */
export class CommandLog {
  private commands: DumpedCommand[] = [];
  private submits = 0;

  constructor(readonly sink: KernelDumpSink) {}

  record(c: DumpedCommand): void {
    this.commands.push(c);
  }

  submitted(): void {
    const commands = this.commands;
    this.commands = [];
    this.sink.submit(++this.submits, commands);
  }
}

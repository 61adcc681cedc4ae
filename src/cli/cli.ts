/**
 * The command table and dispatcher of the `wgrad` command line (src/cli/main.ts is the executable
 * entry point). `main(argv)` returns the exit status instead of exiting, so tests can call it.
 */
import { flagHelp, type Flags, parseFlags, UsageError } from './args.js';
import { methodsHelp, trainCommand, trainFlags } from './train-command.js';
import { evalFlags, evalCommand } from './eval-command.js';
import { compareFlags, compareCommand } from './compare-command.js';
import { REPORT_FLAGS, reportCommand } from './report-command.js';
import { attacksHelp } from './attack-flags.js';
import * as ssl from '../ssl/index.js';

interface Command {
  summary: string;
  /** Its usage line (a function: the method list can grow by registerMethod). */
  usage: () => string;
  /** Its flags (derived from the method and attack records when asked, for the same reason). */
  flags: () => Flags;
  run: (a: ReturnType<typeof parseFlags>) => Promise<void>;
  /** More --help sections (the methods, the attacks). */
  sections?: () => string[];
  examples: string[];
}

const COMMANDS: Record<string, Command> = {
  train: {
    summary: 'train an encoder with one of the self-supervised methods (wgrad train --help lists them), optionally + the robustness regularizer',
    usage: () => `wgrad train --method ${ssl.methodNames().join('|')} [--regularizer β] [--data subset|fashion-mnist|DIR|FILE.csv] [--epochs N] [--batch B] [--eps E] [--seed S] [--out DIR] [--resume]`,
    flags: trainFlags, run: trainCommand, sections: () => ['methods:', ...methodsHelp()],
    examples: [
      'wgrad train --method rocl', 'wgrad train --method simclr --regularizer 1 --epochs 5 --out runs/simclr-reg', 'wgrad train --method rocl --out runs/rocl --resume',
      'wgrad train --method aplr --data data/satellite.csv --batch 256 --out runs/aplr-satellite', 'wgrad train --method mask --data data/spoken-digits --out runs/mask-digits',
    ],
  },
  eval: {
    summary: 'evaluate a trained encoder: linear probe, kNN, robust accuracy, accuracy-vs-ε chart',
    usage: () => 'wgrad eval --checkpoint DIR [--attack pgd|apgd|fgsm] [--eval-eps 0.05,0.1] [--steps 20]',
    flags: evalFlags, run: evalCommand, sections: () => ['attacks:', ...attacksHelp()],
    examples: ['wgrad eval --checkpoint runs/rocl', 'wgrad eval --checkpoint runs/rocl --attack apgd --eps 0,0.05,0.1,0.15'],
  },
  compare: {
    summary: 'train and evaluate every method with one encoder and one budget; Markdown table, JSON, SVG charts',
    usage: () => 'wgrad compare [--data subset|fashion-mnist|DIR|FILE.csv] [--epochs N] [--methods random,simclr,aplr,noise,mask,simclr+reg] [--out DIR]',
    flags: compareFlags, run: compareCommand, sections: () => ['methods:', ...methodsHelp()],
    examples: [
      'wgrad compare --epochs 1', 'wgrad compare --data fashion-mnist --train-limit 10000 --epochs 10 --out results/compare',
      'wgrad compare --data data/satellite.csv --batch 256 --out results/compare-satellite',
      'wgrad compare --seeds 3 --methods aplr,aplr:perturbation=zero,noise --robust-attacks pgd:20,apgd:100 --probe-select val --out results/study/images --resume',
    ],
  },
  report: {
    summary: 'rebuild the tables (mean ± sd over seeds, the pre-registered hypotheses and their verdicts) and charts of comparisons from their run directories',
    usage: () => 'wgrad report --runs DIR [--out FILE.md]',
    flags: () => REPORT_FLAGS, run: reportCommand,
    examples: ['wgrad report --runs results/study --out docs/results-tables.md'],
  },
};

function mainHelp(): string {
  return [
    'wgrad — adversarial self-supervised learning on WebGPU',
    '',
    'usage: wgrad <command> [flags]     (wgrad <command> --help for its flags)',
    '',
    ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(9)}${c.summary}`),
    '',
    'Start with: wgrad train --method rocl   (a few minutes on the committed Fashion-MNIST subset)',
  ].join('\n');
}

function commandHelp(name: string, c: Command): string {
  const sections = c.sections ? ['', ...c.sections()] : [];
  return [`wgrad ${name}: ${c.summary}`, '', `usage: ${c.usage()}`, '', 'flags:', flagHelp(c.flags()), '  --help', ...sections, '', 'examples:', ...c.examples.map((e) => `  ${e}`)].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    if (topic && COMMANDS[topic]) process.stdout.write(`${commandHelp(topic, COMMANDS[topic])}\n`);
    else process.stdout.write(`${mainHelp()}\n`);
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS[name];
  try {
    if (!cmd) throw new UsageError(`unknown command ${JSON.stringify(name)}; expected one of ${Object.keys(COMMANDS).join(', ')}`);
    const a = parseFlags(name, rest, cmd.flags());
    if (a.help) {
      process.stdout.write(`${commandHelp(name, cmd)}\n`);
      return 0;
    }
    await cmd.run(a);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`wgrad${e.command ? ` ${e.command}` : ''}: ${e.message}\n`);
      const c = e.command ? COMMANDS[e.command] : undefined;
      process.stderr.write(c ? `usage: ${c.usage()}\n(wgrad ${e.command} --help for every flag)\n` : `(wgrad --help for the commands)\n`);
      return 2;
    }
    const err = e as Error;
    process.stderr.write(`wgrad ${name}: error: ${err.name === 'WgradError' ? err.message : err.stack ?? String(err)}\n`);
    return 1;
  }
}


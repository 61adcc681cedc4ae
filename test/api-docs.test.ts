/**
 * The API reference (`npm run docs`: TypeDoc on the package's entry points, src/index.ts and
 * src/node.ts, configured by typedoc.json) cannot rot: every public export — function, class,
 * method, accessor, variable, interface, type — has a doc comment, every {@link} resolves, and no
 * public signature names a type the reference leaves out (typedoc.json's `intentionallyNotExported`
 * lists the internal helper types that public signatures mention on purpose). Option fields
 * (`Property`) are not required: many are self-describing; document the others where they are.
 *
 * This runs TypeDoc's conversion and validation (not the HTML rendering) in this process, on the
 * same configuration `npm run docs` uses, and fails on any warning, naming each. Type errors are
 * left to `tsc -p tsconfig.all.json`, which `npm test` runs first.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Application, LogLevel, TSConfigReader } from 'typedoc';
import { afterAll, describe, expect, it } from 'vitest';
import { root } from './helpers/markdown.js';

/** The warnings and errors TypeDoc reports on the project (typedoc.json, with `overrides`). */
async function apiDocProblems(overrides: Record<string, unknown> = {}): Promise<string[]> {
  const { $schema: _, ...config } = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8')) as Record<string, unknown>;
  const plugin = (config.plugin as string[]).map((p) => join(root, p));
  const app = await Application.bootstrapWithPlugins(
    { ...config, plugin, tsconfig: join(root, 'tsconfig.json'), entryPoints: (config.entryPoints as string[]).map((e) => join(root, e)), ...overrides, skipErrorChecking: true, logLevel: 'Warn' },
    [new TSConfigReader()],
  );
  const problems: string[] = [];
  app.logger.log = (message: string, level: LogLevel) => {
    if (level >= LogLevel.Warn) problems.push(message.replace(/\x1b\[[0-9;]*m/g, ''));
  };
  const project = await app.convert();
  if (!project) return [...problems, 'TypeDoc could not convert the project'];
  app.validate(project);
  return problems;
}

const fixture = mkdtempSync(join(tmpdir(), 'wgrad-api-docs-'));
afterAll(() => rmSync(fixture, { recursive: true, force: true }));

describe('API reference (typedoc.json, npm run docs)', () => {
  it('refuses an undocumented export and a broken {@link}', async () => {
    writeFileSync(join(fixture, 'entry.ts'), [
      '/** Documented, but links to {@link nowhere}. */',
      'export function documented(): number { return 1; }',
      'export function undocumented(): number { return 2; }',
      '',
    ].join('\n'));
    writeFileSync(join(fixture, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', types: [] },
      include: ['entry.ts'],
    }));
    const problems = await apiDocProblems({ entryPoints: [join(fixture, 'entry.ts')], tsconfig: join(fixture, 'tsconfig.json') });
    expect(problems.some((p) => /undocumented .*does not have any documentation/.test(p)), problems.join('\n')).toBe(true);
    expect(problems.some((p) => /nowhere/.test(p)), problems.join('\n')).toBe(true);
  });

  it('documents every public export of src/index.ts and src/node.ts, with no broken link', async () => {
    expect(await apiDocProblems()).toEqual([]);
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { checkLayers, LAYERS, type LayerViolation } from '../../../scripts/check-layers.ts';
import { findImports } from '../../../scripts/find-imports.ts';

/** A tree that follows every rule; each test plants one file that breaks (or keeps) one. */
const CLEAN: Record<string, string> = {
  'core/index.ts': "export * from './ids.ts';\n",
  'core/ids.ts': 'export type Id = string;\n',
  'sys/index.ts':
    "import fs from 'node:fs';\nimport type { Id } from '../core/index.ts';\nexport const x = fs;\n",
  'store/index.ts': "import { x } from '../sys/index.ts';\nimport '../core/index.ts';\nexport { x };\n",
  'api/index.ts': "export * from './routes/index.ts';\n",
  'api/routes/index.ts': "import { x } from '../../store/index.ts';\nimport { y } from '../client.ts';\n",
  'api/client.ts': "export const y = await import('./routes/index.ts');\n",
  'daemon/index.ts': "import { x } from '../store/index.ts';\nimport { y } from '../api/index.ts';\n",
  'cli/status.ts': "import { y } from '../api/index.ts';\nimport type { Id } from '../core/index.ts';\n",
  'cli/init.ts': "import { x } from '../store/index.ts';\n",
};

describe('checkLayers', () => {
  let tmp: string;
  let src: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hindsight-layers-'));
    src = path.join(tmp, 'src');
    plant(CLEAN);
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const plant = (files: Record<string, string>) => {
    for (const [file, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(src, file)), { recursive: true });
      fs.writeFileSync(path.join(src, file), text);
    }
  };
  /** The violations as `file:line rule`, the shape a reader of the CLI output sees. */
  const found = () => checkLayers(src).map((v: LayerViolation) => `${v.file}:${v.line} ${v.rule}`);

  it('passes a clean tree', () => {
    assert.deepEqual(checkLayers(src), []);
  });

  it('fails an upward import with the file, line, specifier and a hint', () => {
    plant({
      'store/x.ts': "import { x } from '../sys/index.ts';\nimport { t } from '../timeline/index.ts';\n",
    });
    const [v, ...rest] = checkLayers(src);
    assert.deepEqual(rest, []);
    assert.equal(v.file, 'store/x.ts');
    assert.equal(v.line, 2);
    assert.equal(v.specifier, '../timeline/index.ts');
    assert.equal(v.rule, 'upward import');
    assert.match(v.message, /^upward import: store imports timeline/);
    assert.match(v.hint, /down/);
  });

  it('fails an internal import and names the public surface instead', () => {
    plant({ 'store/x.ts': "import { ids } from '../core/ids.ts';\n" });
    const [v, ...rest] = checkLayers(src);
    assert.deepEqual(rest, []);
    assert.deepEqual([v.file, v.line, v.rule], ['store/x.ts', 1, 'internal import']);
    assert.match(v.hint, /'\.\.\/core\/index\.ts'/);
  });

  it('fails an upward import type, and an upward export from', () => {
    plant({
      'sys/x.ts': "import type { T } from '../daemon/index.ts';\nexport { y } from '../api/index.ts';\n",
    });
    assert.deepEqual(found(), ['sys/x.ts:1 upward import', 'sys/x.ts:2 upward import']);
  });

  it('fails a dynamic import from core that goes up', () => {
    plant({ 'core/x.ts': "export const load = () =>\n  import('../daemon/index.ts');\n" });
    assert.deepEqual(found(), ['core/x.ts:2 upward import']);
  });

  it('fails a node: module in core, and a bare builtin name too', () => {
    plant({
      'core/x.ts': "import fs from 'node:fs';\nimport path from 'path';\nimport lib from 'some-package';\n",
    });
    assert.deepEqual(found(), ['core/x.ts:1 node in core', 'core/x.ts:2 node in core']);
  });

  it('fails a cli command that imports the daemon, but not the offline init', () => {
    plant({
      'cli/volume.ts': "import { run } from '../daemon/index.ts';\n",
      'cli/init.ts': "import { run } from '../daemon/index.ts';\n",
    });
    assert.deepEqual(found(), ['cli/volume.ts:1 cli import']);
  });

  it('fails a folder that is not in LAYERS, once', () => {
    plant({ 'plugins/index.ts': "import { x } from '../store/index.ts';\n" });
    const violations = checkLayers(src);
    assert.deepEqual(
      violations.map((v) => `${v.file}:${v.line} ${v.rule}`),
      ['plugins/:0 unknown folder'],
    );
    assert.match(violations[0].hint, /LAYERS/);
  });

  it('fails a file of 501 lines at its line 501, and passes one of 500', () => {
    const lines = (n: number) => 'export const a = 1;\n'.repeat(n);
    plant({ 'store/long.ts': lines(501), 'store/limit.ts': lines(500) });
    assert.deepEqual(found(), ['store/long.ts:501 file too long']);
  });

  it('reports the line of the specifier of a multi-line import', () => {
    plant({ 'sys/x.ts': "// header\nimport {\n  a,\n  b,\n} from '../timeline/index.ts';\n" });
    assert.deepEqual(found(), ['sys/x.ts:5 upward import']);
  });

  it('reports an internal upward import twice, once per rule', () => {
    plant({ 'link/x.ts': "import { e } from '../timeline/epochs.ts';\n" });
    assert.deepEqual(found(), ['link/x.ts:1 internal import', 'link/x.ts:1 upward import']);
  });

  it('fails an import that leaves src', () => {
    plant({ 'daemon/x.ts': "import { h } from '../../test/harness/index.ts';\n" });
    assert.deepEqual(found(), ['daemon/x.ts:1 outside src']);
  });

  it('allows a nested file to reach its own folder by any path', () => {
    plant({ 'api/routes/deep/x.ts': "import { y } from '../../client.ts';\nimport '../../index.ts';\n" });
    assert.deepEqual(checkLayers(src), []);
  });

  it('keeps LAYERS lowest first, core at the bottom and demo at the top', () => {
    assert.equal(LAYERS[0], 'core');
    assert.equal(LAYERS[LAYERS.length - 1], 'demo');
  });

  it('exits 1 and prints file:line: message (hint) when run as a script, 0 with a summary when clean', () => {
    const script = path.resolve(import.meta.dirname, '../../../scripts/check-layers.ts');
    const clean = spawnSync(process.execPath, [script, src], { encoding: 'utf8' });
    assert.equal(clean.status, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, /^layers ok: 10 files, \d+ imports checked\n$/);
    plant({ 'store/x.ts': "import { t } from '../timeline/index.ts';\n" });
    const dirty = spawnSync(process.execPath, [script, src], { encoding: 'utf8' });
    assert.equal(dirty.status, 1);
    const expected = `${path.join(src, 'store/x.ts')}:1: upward import: store imports timeline`;
    assert.ok(dirty.stdout.startsWith(expected), dirty.stdout);
    assert.match(dirty.stdout.split('\n')[0], /\(.+\)$/);
  });
});

describe('findImports', () => {
  it('skips imports written in comments, strings, templates and regexes', () => {
    const text = [
      "/** Example: import { a } from '../daemon/index.ts'; */",
      "// import('../cli/index.ts')",
      `const s = \`import x from "../ui/index.ts" \${/["'\`]/.test(q) ? \`\${"'"}\` : ''}\`;`,
      "const re = /from '..\\/api'/;",
      "import { b } from '../core/index.ts';",
    ].join('\n');
    assert.deepEqual(findImports(text), [{ specifier: '../core/index.ts', line: 5 }]);
  });

  it('finds every form: default, named, type, namespace, re-export, side effect, dynamic', () => {
    const text = [
      "import a from 'a';",
      "import { b } from 'b';",
      "import type { C } from 'c';",
      "import * as d from 'd';",
      "export * from 'e';",
      "export { f } from 'f';",
      "import 'g';",
      "const h = await import('h', { with: { type: 'json' } });",
      "const i = Array.from('i'); obj.import('j'); import.meta.resolve('k');",
    ].join('\n');
    const specifiers = findImports(text).map((r) => r.specifier);
    assert.deepEqual(specifiers, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
  });
});

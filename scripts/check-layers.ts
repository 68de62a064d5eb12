/**
 * `npm run check:layers` (and a step of `npm test`): checks that the imports of `src/` follow
 * the project's layers (docs/layering.md). Run as `node scripts/check-layers.ts [srcDir]`; it
 * prints `file:line: message (hint)` for each violation and exits 1, or prints one summary line.
 *
 * The rules:
 * - The folders of `src/` are layers, lowest first, in the order of `LAYERS`. A file in folder A
 *   may import from folder B only when B is A or lower ("upward import"). A folder of `src/`
 *   that is not in `LAYERS` is a violation itself, so that a new folder is placed in the order
 *   deliberately ("unknown folder"); so is a file directly in `src/`.
 * - Another folder is imported only through its public surface `../B/index.ts`, never through
 *   an internal file ("internal import").
 * - `core/` imports no `node:` module: the domain is pure ("node in core").
 * - `cli/` imports only `cli`, `api` and `core`, except the `OFFLINE_COMMANDS` ("cli import").
 * - No file has more than `MAX_FILE_LINES` lines ("file too long").
 * - `src/` imports nothing outside itself, such as the test harness ("outside src").
 *
 * A file in a nested folder (`api/routes/x.ts`) belongs to its top-level folder (`api`), and
 * imports within one top-level folder are always allowed. Every import form counts: static,
 * `import type`, `export ... from`, side-effect and dynamic `import('...')` with a string
 * literal. Only relative specifiers name folders; bare package names are allowed everywhere.
 */
import fs from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { findImports } from './find-imports.ts';

/** LAYERS is the order of the folders of `src/`, lowest first; a folder imports only its own and lower ones. */
export const LAYERS = [
  'core',
  'sys',
  'store',
  'volumes',
  'capture',
  'link',
  'timeline',
  'roles',
  'backup',
  'monitor',
  'api',
  'ui',
  'daemon',
  'cli',
  'demo',
] as const;

/**
 * OFFLINE_COMMANDS are the `cli/` files allowed to import any lower folder. They run where no
 * daemon is answering yet (`init` and `join` create its state, `agent` is the daemon), so they
 * cannot go through the API client as every other command does.
 */
export const OFFLINE_COMMANDS: readonly string[] = ['init.ts', 'join.ts', 'agent.ts', 'backup-offline.ts'];

/** CLI_IMPORTABLE are the folders an ordinary command may import: it talks to the daemon only through the API. */
const CLI_IMPORTABLE: readonly string[] = ['cli', 'api', 'core'];

/** MAX_FILE_LINES is the length past which a file must be split (STYLE.md: a 500-line file needs a reason). */
export const MAX_FILE_LINES = 500;

/** LayerRule names the rule a violation breaks; messages start with it, so a run can be grepped by rule. */
export type LayerRule =
  | 'upward import'
  | 'internal import'
  | 'node in core'
  | 'cli import'
  | 'unknown folder'
  | 'outside src'
  | 'file too long';

/** LayerViolation is one broken rule: where (relative to the checked folder), what, and what to do instead. */
export interface LayerViolation {
  /** Path relative to the checked folder, with `/`; a folder ends in `/`. */
  file: string;
  /** Line of the import specifier or of the first line over the limit; 0 for a whole folder. */
  line: number;
  /** The import specifier as written; empty when the violation is not about an import. */
  specifier: string;
  rule: LayerRule;
  message: string;
  hint: string;
}

/** LayerReport is the result of a check: the violations, and how much was checked. */
export interface LayerReport {
  files: number;
  imports: number;
  violations: LayerViolation[];
}

/** checkLayers returns the violations of the layering rules in `srcDir`, sorted by file and line. */
export function checkLayers(srcDir: string): LayerViolation[] {
  return inspectLayers(srcDir).violations;
}

/** One broken rule, before it is placed: [rule, what is wrong, what to do instead]. */
type Finding = [rule: LayerRule, detail: string, hint: string];

/** inspectLayers checks `srcDir` like `checkLayers` and also counts the files and imports it read. */
export function inspectLayers(srcDir: string): LayerReport {
  const violations: LayerViolation[] = [];
  const add = (file: string, line: number, specifier: string, [rule, detail, hint]: Finding) =>
    violations.push({ file, line, specifier, rule, message: `${rule}: ${detail}`, hint });
  for (const entry of fs.readdirSync(srcDir, { withFileTypes: true })) {
    if (entry.isDirectory() && rankOf(entry.name) < 0) {
      add(`${entry.name}/`, 0, '', ['unknown folder', 'not in LAYERS', addLayerHint(entry.name)]);
    }
  }
  const files = fs
    .readdirSync(srcDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.[cm]?[jt]sx?$/.test(e.name))
    .map((e) => path.relative(srcDir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
  let imports = 0;
  for (const file of files) {
    const text = fs.readFileSync(path.join(srcDir, file), 'utf8');
    const folder = file.includes('/') ? file.slice(0, file.indexOf('/')) : '';
    if (folder === '') add(file, 0, '', ['unknown folder', 'outside every layer folder', addLayerHint(file)]);
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (lines > MAX_FILE_LINES) {
      const detail = `${lines} lines, over ${MAX_FILE_LINES}`;
      add(file, MAX_FILE_LINES + 1, '', ['file too long', detail, 'split it by concept']);
    }
    for (const { specifier, line } of findImports(text)) {
      imports++;
      for (const finding of importFindings(file, folder, specifier)) add(file, line, specifier, finding);
    }
  }
  violations.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
  return { files: files.length, imports, violations };
}

/** The rules one import of `file` breaks; an import can break two (internal and upward). */
function importFindings(file: string, folder: string, spec: string): Finding[] {
  if (folder === 'core' && (spec.startsWith('node:') || isBuiltin(spec))) {
    return [['node in core', `core imports ${spec}`, 'keep core pure; do the I/O in sys and hand it in']];
  }
  if (!spec.startsWith('./') && !spec.startsWith('../')) return [];
  const target = path.posix.join(path.posix.dirname(file), spec);
  if (target.startsWith('../')) {
    return [['outside src', `${spec} leaves src/`, 'src/ stands alone; move what it needs into a layer']];
  }
  const targetFolder = target.includes('/') ? target.slice(0, target.indexOf('/')) : '';
  // A file directly in src/ is reported once on its own; its importers need no second report.
  if (folder === '' || targetFolder === '' || targetFolder === folder) return [];
  const out: Finding[] = [];
  const surface = `${targetFolder}/index.ts`;
  if (target !== surface) {
    const publicSpec = path.posix.relative(path.posix.dirname(file), surface);
    out.push(['internal import', `${target} is internal to ${targetFolder}`, `import '${publicSpec}'`]);
  }
  const from = rankOf(folder);
  const to = rankOf(targetFolder);
  const isOnlineCommand = folder === 'cli' && !OFFLINE_COMMANDS.includes(file.slice('cli/'.length));
  if (from >= 0 && to > from) {
    const hint = `move what ${folder} needs down to ${folder} or below, or have ${targetFolder} hand it in`;
    out.push(['upward import', `${folder} imports ${targetFolder}, a higher layer`, hint]);
  } else if (isOnlineCommand && !CLI_IMPORTABLE.includes(targetFolder)) {
    const hint = `go through the API client, api/index.ts; only ${OFFLINE_COMMANDS.join(', ')} are exempt`;
    out.push(['cli import', `a command may import only cli, api and core, not ${targetFolder}`, hint]);
  }
  return out;
}

/** Where `folder` sits in LAYERS, lowest 0; -1 for a folder not in the list. */
function rankOf(folder: string): number {
  return (LAYERS as readonly string[]).indexOf(folder);
}

/** What to do about a folder or file outside the layers. */
function addLayerHint(name: string): string {
  return `add it to LAYERS in scripts/check-layers.ts at its place in the order, or move ${name} into a layer`;
}

if (import.meta.main) {
  const srcDir = process.argv[2] ?? 'src';
  if (!fs.existsSync(srcDir)) {
    process.stderr.write(`check-layers: ${srcDir} does not exist\n`);
    process.exit(2);
  }
  const report = inspectLayers(srcDir);
  for (const v of report.violations) {
    const where = v.line > 0 ? `${path.join(srcDir, v.file)}:${v.line}` : path.join(srcDir, v.file);
    process.stdout.write(`${where}: ${v.message} (${v.hint})\n`);
  }
  if (report.violations.length > 0) {
    process.stdout.write(`layers: ${report.violations.length} violations (docs/layering.md)\n`);
    process.exit(1);
  }
  process.stdout.write(`layers ok: ${report.files} files, ${report.imports} imports checked\n`);
}

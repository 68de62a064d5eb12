/**
 * build-native compiles the addons in native/ into native/build/NAME.node (run by `npm install`):
 * inotify.c (capture's watcher) and malloc.c (the agent gives free heap pages back).
 *
 * It needs a C compiler and Node-API's headers, and downloads nothing: the headers come from
 * the Node that the `node` package brought (node_modules/node/node_modules/node-linux-*), from
 * the running Node's own prefix, or from /usr/include/node. Without a compiler the install still
 * succeeds, loudly: capture then has no way to hear that the kernel dropped events, and scans
 * the volume on a timer instead (`hindsight status` says so); without malloc.node the agent's
 * memory is trimmed by V8 alone.
 *
 *   node scripts/build-native.ts [--quiet]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ADDONS = ['inotify', 'malloc'];

/** headerDirs lists the candidate folders that hold node_api.h, best first. */
function headerDirs(): string[] {
  const bundled = join(ROOT, 'node_modules', 'node', 'node_modules');
  const fromPackage = existsSync(bundled)
    ? readdirSync(bundled)
        .filter((name) => name.startsWith('node-linux-'))
        .map((name) => join(bundled, name, 'include', 'node'))
    : [];
  return [...fromPackage, join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'];
}

function build(name: string): string {
  const source = join(ROOT, 'native', `${name}.c`);
  const output = join(ROOT, 'native', 'build', `${name}.node`);
  if (process.platform !== 'linux') return `skipped ${name}: Linux only (this is ${process.platform})`;
  const include = headerDirs().find((dir) => existsSync(join(dir, 'node_api.h')));
  if (include === undefined) throw new Error(`no node_api.h in ${headerDirs().join(', ')}`);
  mkdirSync(dirname(output), { recursive: true });
  const compiler = process.env.CC ?? 'cc';
  const staging = `${output}.tmp`;
  execFileSync(
    compiler,
    ['-O2', '-fPIC', '-shared', '-pthread', '-Wall', '-Wextra', `-I${include}`, '-o', staging, source],
    { stdio: ['ignore', 'inherit', 'pipe'] },
  );
  execFileSync('mv', ['-f', staging, output]);
  return `built ${output} against ${include}`;
}

for (const name of ADDONS) {
  try {
    const said = build(name);
    if (!process.argv.includes('--quiet')) console.log(`hindsight: ${said}`);
  } catch (err) {
    warn(name, err);
  }
}

function warn(name: string, err: unknown): void {
  const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
  const line = '!'.repeat(78);
  console.warn(
    [
      line,
      `hindsight: could not build the ${name} addon (native/${name}.c).`,
      `  ${stderr || (err as Error).message}`,
      name === 'inotify'
        ? '  Capture still works, but cannot hear the kernel drop events: it scans each volume\n  every few seconds instead of watching it.'
        : '  The agent still works, but its memory may stay at its busiest peak.',
      '  Install a C compiler (apt-get install gcc libc6-dev) and run `npm run build:native`.',
      line,
    ].join('\n'),
  );
}

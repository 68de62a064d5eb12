import { errorMessage, isHindsightError } from '../core/index.ts';

/** COMMANDS maps each subcommand to the module that runs it (one file per command). */
const COMMANDS: Record<string, () => Promise<{ run: (argv: string[], command: string) => Promise<number> }>> =
  {
    init: () => import('./init.ts'),
    join: () => import('./join.ts'),
    invite: () => import('./invite.ts'),
    agent: () => import('./agent.ts'),
    witness: () => import('./agent.ts'),
    volume: () => import('./volume.ts'),
    status: () => import('./status.ts'),
    events: () => import('./events.ts'),
    verify: () => import('./verify.ts'),
    gc: () => import('./gc.ts'),
    delay: () => import('./funnel.ts'),
    hold: () => import('./funnel.ts'),
    resume: () => import('./funnel.ts'),
    rewind: () => import('./funnel.ts'),
    discard: () => import('./funnel.ts'),
    timeline: () => import('./past.ts'),
    ls: () => import('./past.ts'),
    cat: () => import('./past.ts'),
    preview: () => import('./past.ts'),
    restore: () => import('./past.ts'),
    promote: () => import('./roles.ts'),
    switchover: () => import('./roles.ts'),
    divergence: () => import('./roles.ts'),
    tier: () => import('./tier.ts'),
    backup: () => import('./backup.ts'),
    check: () => import('./check.ts'),
    alarms: () => import('./alarms.ts'),
    alarm: () => import('./alarms.ts'),
    notify: () => import('./notify.ts'),
  };

const HELP = `hindsight — a standby server with a time funnel

usage: hindsight COMMAND [options]

  init      create a cluster and its first node
  invite    print a one-time token for another node to join
  join      join a cluster with a token
  agent     run the node's daemon
  witness   run a node that holds no data and breaks ties for automatic failover
  volume    add or list protected directories
  status    show volumes, positions, lag and links (--json for scripts)
  events    show the event log (--follow, --json)
  verify    re-read and re-hash every stored chunk
  gc        prune history beyond its window and remove unreferenced chunks now

On a mirror (T is ISO-8601 or relative: "10 minutes ago", "-10m"):
  delay     change a volume's funnel delay        hold / resume   stop / restart applying
  rewind    move the view to T (back or forward)  discard         drop stored changes after T
  timeline  what changed when                     ls / cat        browse the volume as of T
  preview   the whole volume as of T into a dir   restore         files or folders as of T
  promote   become the volume's primary (at T)    divergence      what an old primary had alone
  switchover  hand the primary role to the mirror, losing nothing (run it again to swap back)
  tier      add or list the places backups go     backup          run, list, restore backups; export the key

Checks and notices:
  check     run the checks now (exit 0/1/2/3, as monitoring plugins), list, set, add custom ones
  alarms    the open alarms                       alarm ack ID    acknowledge one; alarm set: reminders, hook
  notify    who is told by mail or webhook, and when (always, failures, digest); notify test

Every command takes --state DIR (default $HINDSIGHT_STATE, /var/lib/hindsight as root,
else ~/.local/state/hindsight) and --help. See docs/commands.md.
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(HELP);
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`hindsight: unknown command "${name}"\n\n${HELP}`);
    return 2;
  }
  return (await load()).run(rest, name);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    // A person-facing error: what failed and what to do next, no stack trace for user errors.
    if (isHindsightError(err)) {
      process.stderr.write(`hindsight: ${err.message} [${err.code}]\n`);
      if (err.hint) process.stderr.write(`  hint: ${err.hint}\n`);
    } else {
      process.stderr.write(`hindsight: ${errorMessage(err)}\n${(err as Error)?.stack ?? ''}\n`);
    }
    process.exitCode = isHindsightError(err) && err.code === 'E_USAGE' ? 2 : 1;
  },
);

import type { InotifyLimits } from '../sys/index.ts';

/** MIN_QUEUED_EVENTS is the kernel's default queue; below it, ordinary bursts overflow it. */
const MIN_QUEUED_EVENTS = 16_384;
/** A volume may use at most this share of the user's watches: other volumes and programs need theirs. */
const WATCH_SHARE = 0.5;

/**
 * checkWatchLimits compares the kernel's inotify limits (readInotifyLimits) with what a volume of `watchedDirs`
 * directories needs, and returns the warning to raise, or undefined when they suffice.
 */
export function checkWatchLimits(
  watchedDirs: number,
  limits: InotifyLimits | undefined,
): { msg: string; data: Record<string, unknown> } | undefined {
  if (!limits) return undefined;
  const problems: string[] = [];
  if (watchedDirs > limits.maxUserWatches * WATCH_SHARE)
    problems.push(
      `${watchedDirs} directories use more than half of fs.inotify.max_user_watches (${limits.maxUserWatches})`,
    );
  if (limits.maxQueuedEvents < MIN_QUEUED_EVENTS)
    problems.push(
      `fs.inotify.max_queued_events is ${limits.maxQueuedEvents}: a burst of more changes than that makes capture rescan`,
    );
  if (problems.length === 0) return undefined;
  return {
    msg: `inotify limits are low for this volume: ${problems.join('; ')}`,
    data: {
      ...limits,
      watchedDirs,
      hint: 'install packaging/sysctl/90-hindsight.conf into /etc/sysctl.d/ and run sysctl --system',
    },
  };
}

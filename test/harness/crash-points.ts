/**
 * DATA_PATH_CRASH_POINTS are the named crash points of the data path (docs/testing.md, "Crash
 * points"), each with the node whose process reaches it in a primary `alpha` → mirror `beta`
 * scene. HINDSIGHT_CRASH_AT=<point> makes that process kill itself there.
 */
export const DATA_PATH_CRASH_POINTS: readonly [point: string, node: 'alpha' | 'beta'][] = [
  ['capture.appended', 'alpha'],
  ['link.sent', 'alpha'],
  ['outbox.acked', 'alpha'],
  ['receive.recorded', 'beta'],
  ['apply.written', 'beta'],
  ['apply.positioned', 'beta'],
];

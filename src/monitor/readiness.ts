import type {
  CheckResult,
  CheckState,
  NodeReadiness,
  Readiness,
  ReadinessComponent,
} from './monitor-types.ts';

/**
 * The DR-readiness score: one honest number, 0–100, for "could we recover right now, and how
 * well". It is computed from the latest check results only, so every point it loses is a check
 * result someone can look at. docs/monitoring.md explains it to administrators.
 *
 * Each component takes the checks listed below; its score is that of its worst result (ok 100,
 * warning 50, unknown 25, critical 0). A volume's score is the weighted mean of the components
 * that apply to it (those with at least one result), the weights scaled to add up to 1. The
 * node's score is the same over every result, and never above its worst volume's.
 */
/** ReadinessPart is one component: its weight and the checks it is scored from. */
interface ReadinessPart {
  name: string;
  weight: number;
  checks: readonly string[];
}

export const READINESS_COMPONENTS: readonly ReadinessPart[] = [
  { name: 'lag', weight: 0.25, checks: ['lag', 'link'] },
  { name: 'backup-age', weight: 0.2, checks: ['backup-age'] },
  { name: 'funnel', weight: 0.15, checks: ['funnel', 'guard'] },
  { name: 'disk', weight: 0.15, checks: ['disk-free'] },
  { name: 'tiers', weight: 0.1, checks: ['tiers'] },
  { name: 'drill', weight: 0.1, checks: ['drill'] },
  { name: 'witness', weight: 0.05, checks: ['witness'] },
];

/** NODE_COMPONENT is the node's own part of its score: memory and certificates. */
const NODE_COMPONENT: ReadinessPart = { name: 'node', weight: 0.1, checks: ['memory', 'certificates'] };

const POINTS: Record<CheckState, number> = { ok: 100, warning: 50, unknown: 25, critical: 0 };

/** readinessOf scores the node and each of `volumes` from the latest check results. */
export function readinessOf(results: readonly CheckResult[], volumes: readonly string[]): NodeReadiness {
  const perVolume = volumes.map((volume) => ({
    volume,
    // Node-wide results (the state directory's disk, the tiers) count for every volume.
    ...score(
      results.filter((r) => r.volume === volume || r.volume === null),
      READINESS_COMPONENTS,
    ),
  }));
  const node = score(results, [...READINESS_COMPONENTS, NODE_COMPONENT]);
  const worst = Math.min(node.score, ...perVolume.map((v) => v.score));
  return { score: worst, components: node.components, volumes: perVolume };
}

function score(results: readonly CheckResult[], parts: readonly ReadinessPart[]): Readiness {
  const found = parts
    .map((part) => ({ part, results: results.filter((r) => part.checks.includes(r.check)) }))
    .filter((p) => p.results.length > 0);
  if (found.length === 0) {
    return {
      score: 0,
      components: [
        { name: 'checks', score: 0, weight: 1, detail: 'no check has run yet: nothing is vouched for' },
      ],
    };
  }
  const total = found.reduce((s, p) => s + p.part.weight, 0);
  const components = found.map(({ part, results: rs }): ReadinessComponent => {
    const worst = rs.reduce((w, r) => (POINTS[r.state] < POINTS[w.state] ? r : w));
    const bad = rs.filter((r) => r.state !== 'ok');
    return {
      name: part.name,
      score: POINTS[worst.state],
      weight: Math.round((part.weight / total) * 1000) / 1000,
      detail:
        bad.length === 0
          ? `${rs.length} ${rs.length === 1 ? 'result' : 'results'} ok`
          : bad.map((r) => `${r.check} ${r.subject}: ${r.state}, ${r.message}`).join('; '),
    };
  });
  const value = components.reduce((s, c) => s + c.score * c.weight, 0);
  return { score: Math.round(value), components };
}

import { buildStatus, type NodeApi } from '../api/index.ts';
import { changeRoleSettings } from '../roles/index.ts';
import { verifyAndReport } from '../store/index.ts';
import type { NodeBase, Stages } from './stages.ts';

/**
 * bindNodeApi answers each area of the API with the stage that owns it. The answer types of
 * api/answers.ts are checked against the stages' own here: a stage that changes its shape
 * breaks the build, not a client.
 */
export function bindNodeApi(base: NodeBase, s: Stages, peerAddress: () => string): NodeApi {
  return {
    now: () => base.clock.now(),
    status: () =>
      buildStatus({
        node: base.config.name,
        startedAt: base.startedAt,
        now: base.clock.now(),
        peerAddress: peerAddress(),
        catalog: base.catalog,
        volumes: s.volumes,
        quorum: s.quorum,
        outbox: s.outbox,
        links: s.links,
        views: s.views,
        captureHealth: (volume) => s.lifecycle.captureHealth(volume),
        backups: s.backups,
        monitor: { results: () => s.monitor.checks.results(), open: () => s.monitor.alarms.open() },
      }),
    events: (since, waitMs, signal) => base.events.wait(since, waitMs, signal),
    volumes: () => s.volumes.list().map(({ nextSeq, ...v }) => ({ ...v, next_seq: nextSeq })),
    addVolume: (input) => s.lifecycle.add(input),
    setRoles: (name, input) => changeRoleSettings(s.roles, name, input),
    invite: () => s.invites.create(),
    verify: () => verifyAndReport(base.store, base.events),
    collect: () => s.gc.collect(),
    monitor: { ...s.monitor, events: base.events },
    relay: (node, method, path, body) => s.relay.relay(node, method, path, body),
    funnel: s.views,
    backups: s.backups,
    backupPlans: s.backupPlans,
    past: s.past,
    roles: {
      promote: (volume, options) => s.promotion.promote(volume, options),
      switchover: (volume, to) => s.switchover.switchover(volume, to),
      divergence: (volume) => s.divergence.list(volume),
      exportDivergence: (volume, into, origin) => s.divergence.export(volume, into, origin),
    },
  };
}

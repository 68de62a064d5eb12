/**
 * Events are the protocol of the node: every stage records what happened, with a monotonic id,
 * so the dashboard, `hindsight events` and (later) notices read one log. A new kind of happening
 * gets a new EventType here; the list is documented in docs/events.md.
 */
export type EventLevel = 'info' | 'warn' | 'error';

/** EventType names every kind of event; the prefix is the stage that emits it. */
export type EventType =
  | 'agent.started'
  | 'agent.stopping'
  | 'volume.added'
  | 'volume.refused'
  | 'volume.stopped'
  | 'volume.resumed'
  | 'volume.seeding'
  | 'volume.seeded'
  | 'capture.scan-started'
  | 'capture.scan-finished'
  | 'capture.watch-error'
  | 'capture.root-missing'
  | 'capture.root-empty'
  | 'capture.skipped'
  | 'capture.read-error'
  | 'capture.coalesced'
  | 'capture.overflow'
  | 'capture.repaired'
  | 'capture.polling'
  | 'capture.limits-low'
  | 'tier.added'
  | 'tier.offline'
  | 'tier.foreign'
  | 'tier.behind'
  | 'tier.caught-up'
  | 'backup.waiting'
  | 'backup.pruned'
  | 'backup.verified'
  | 'backup.drill'
  | 'backup.started'
  | 'backup.finished'
  | 'backup.failed'
  | 'link.connected'
  | 'link.disconnected'
  | 'link.clock-skew'
  | 'link.clock-ok'
  | 'link.refused'
  | 'link.error'
  | 'link.peer-error'
  | 'link.joined'
  | 'receive.rejected'
  | 'apply.error'
  | 'apply.rejected'
  | 'store.failed'
  | 'store.verify-failed'
  | 'store.verify-ok'
  | 'view.held'
  | 'view.resumed'
  | 'view.delay-changed'
  | 'view.rewound'
  | 'view.stuck'
  | 'guard.tripped'
  | 'timeline.discarded'
  | 'timeline.previewed'
  | 'timeline.restored'
  | 'gc.finished'
  | 'role.promoted'
  | 'role.demoted'
  | 'role.fenced'
  | 'role.unfenced'
  | 'failover.voted'
  | 'failover.no-quorum'
  | 'failover.refused'
  | 'failover.failed'
  | 'volume.changed'
  | 'role.switchover-failed'
  | 'hook.finished'
  | 'hook.failed'
  | 'address.taken'
  | 'address.released'
  | 'address.failed'
  | 'quarantine.exported'
  | 'gc.failed'
  | 'alarm.opened'
  | 'alarm.changed'
  | 'alarm.closed'
  | 'alarm.acked'
  | 'notice.sent'
  | 'notice.retrying'
  | 'notice.failed'
  | 'events.pruned';

/** HEvent is one recorded event. `id` is assigned by the event log and only grows. */
export interface HEvent {
  id: number;
  /** Wall-clock milliseconds. */
  t: number;
  level: EventLevel;
  type: EventType;
  volume?: string;
  /** The peer node it concerns, if any. */
  peer?: string;
  /** A constant, human-readable phrase; values go in `data`. */
  msg: string;
  data?: Record<string, unknown>;
}

/** EventInput is what a stage hands to the log; the log adds id and time. */
export type EventInput = Omit<HEvent, 'id' | 't'>;

/** EventSink is how a stage reports; the daemon gives every stage the same sink. */
export interface EventSink {
  emit(event: EventInput): void;
}

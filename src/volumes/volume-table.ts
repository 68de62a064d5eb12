import type { StatementSync } from 'node:sqlite';
import { DEFAULT_ROLES, type Role, type StopCause, type VolumeSpec } from '../core/index.ts';
import type { Catalog } from '../store/index.ts';

/** VolumeRow is a volume as this node holds it. */
export interface VolumeRow {
  name: string;
  spec: VolumeSpec;
  role: Role;
  path: string;
  epoch: number;
  /** The seq the next captured change gets (primary); kept when the role changes. */
  nextSeq: number;
  state: 'active' | 'stopped';
  /** Why it is stopped, for people (null while active). */
  reason: string | null;
  /** Why it is stopped, for code (null while active). */
  stopCause: StopCause | null;
}

/** SequenceState is what the outbox needs of a volume to append: its spec, role, epoch and next seq. */
export interface SequenceState {
  spec: VolumeSpec;
  role: Role;
  epoch: number;
  nextSeq: number;
  state: 'active' | 'stopped';
}

/**
 * VolumeTable is the only code that spells SQL for the `volumes` table: one row per volume this
 * node takes part in, with its role, directory, epoch, next seq (primary) and state. It holds no
 * policy; the registry (registry.ts), the outbox and the roles call it. Writes join the caller's
 * transaction when there is one.
 */
export class VolumeTable {
  readonly #all: StatementSync;
  readonly #one: StatementSync;
  readonly #sequence: StatementSync;
  readonly #setNextSeq: StatementSync;
  readonly #catalog: Catalog;

  constructor(catalog: Catalog) {
    this.#catalog = catalog;
    this.#all = catalog.prepare('SELECT * FROM volumes ORDER BY name');
    this.#one = catalog.prepare('SELECT * FROM volumes WHERE name = ?');
    this.#sequence = catalog.prepare('SELECT spec, role, epoch, next_seq, state FROM volumes WHERE name = ?');
    this.#setNextSeq = catalog.prepare('UPDATE volumes SET next_seq = ? WHERE name = ?');
  }

  /** list returns every volume of this node, by name. */
  list(): VolumeRow[] {
    return this.#all.all().map(toVolumeRow);
  }

  /** get returns one volume or undefined. */
  get(name: string): VolumeRow | undefined {
    const row = this.#one.get(name);
    return row ? toVolumeRow(row) : undefined;
  }

  /** insert records a new volume, active, at epoch 1. */
  insert(spec: VolumeSpec, role: Role, path: string): void {
    this.#catalog
      .prepare('INSERT INTO volumes (name, spec, role, path) VALUES (?, ?, ?, ?)')
      .run(spec.name, JSON.stringify(spec), role, path);
  }

  /** setSpec replaces the stored spec of a volume. */
  setSpec(name: string, spec: VolumeSpec): void {
    this.#catalog.prepare('UPDATE volumes SET spec = ? WHERE name = ?').run(JSON.stringify(spec), name);
  }

  /** stop marks a volume stopped, with its cause and a reason for people. */
  stop(name: string, cause: StopCause, reason: string): void {
    this.#catalog
      .prepare("UPDATE volumes SET state = 'stopped', stop_cause = ?, reason = ? WHERE name = ?")
      .run(cause, reason, name);
  }

  /** resume marks a volume active again. */
  resume(name: string): void {
    this.#catalog
      .prepare("UPDATE volumes SET state = 'active', stop_cause = NULL, reason = NULL WHERE name = ?")
      .run(name);
  }

  /** setEpoch records the volume's current epoch (with its history: epoch-history.ts, same transaction). */
  setEpoch(name: string, epoch: number): void {
    this.#catalog.prepare('UPDATE volumes SET epoch = ? WHERE name = ?').run(epoch, name);
  }

  /** sequence returns what appending to the volume's outbox needs, or undefined. */
  sequence(name: string): SequenceState | undefined {
    const row = this.#sequence.get(name) as
      | { spec: string; role: Role; epoch: number; next_seq: number; state: 'active' | 'stopped' }
      | undefined;
    if (!row) return undefined;
    return {
      spec: JSON.parse(row.spec) as VolumeSpec,
      role: row.role,
      epoch: row.epoch,
      nextSeq: row.next_seq,
      state: row.state,
    };
  }

  /** setNextSeq records the seq the next captured change gets; call it in the append's transaction. */
  setNextSeq(name: string, next: number): void {
    this.#setNextSeq.run(next, name);
  }

  /** becomePrimary turns a mirrored volume into this node's primary volume, active. */
  becomePrimary(name: string, to: { spec: VolumeSpec; path: string; nextSeq: number }): void {
    this.#catalog
      .prepare(
        `UPDATE volumes SET role = 'primary', spec = ?, path = ?, next_seq = ?, state = 'active',
           stop_cause = NULL, reason = NULL WHERE name = ?`,
      )
      .run(JSON.stringify(to.spec), to.path, to.nextSeq, name);
  }

  /** becomeMirror turns this node's primary volume into a mirror of another node, active. */
  becomeMirror(name: string, to: { spec: VolumeSpec; epoch: number }): void {
    this.#catalog
      .prepare(
        `UPDATE volumes SET role = 'mirror', spec = ?, epoch = ?, state = 'active',
           stop_cause = NULL, reason = NULL WHERE name = ?`,
      )
      .run(JSON.stringify(to.spec), to.epoch, name);
  }
}

function toVolumeRow(raw: Record<string, unknown>): VolumeRow {
  const r = raw as {
    name: string;
    spec: string;
    role: Role;
    path: string;
    epoch: number;
    next_seq: number;
    state: 'active' | 'stopped';
    reason: string | null;
    stop_cause: StopCause | null;
  };
  return {
    name: r.name,
    spec: withDefaults(JSON.parse(r.spec) as VolumeSpec),
    role: r.role,
    path: r.path,
    epoch: r.epoch,
    nextSeq: r.next_seq,
    state: r.state,
    reason: r.reason,
    stopCause: r.state === 'stopped' ? (r.stop_cause ?? 'operator') : null,
  };
}

/** withDefaults fills in parts of a spec stored before they existed (roles came with migration 3). */
function withDefaults(spec: VolumeSpec): VolumeSpec {
  return { ...spec, roles: spec.roles ?? { ...DEFAULT_ROLES, hooks: {} } };
}

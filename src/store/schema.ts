/**
 * The catalog schema, as an ordered list of migrations. Migration N brings the database from
 * user_version N-1 to N; a released migration is never edited, only followed by a new one.
 * docs/catalog.md describes every table.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the first schema.
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;

  -- Cluster members this node knows: where to dial them.
  CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;

  -- One-time join tokens (only the hash of the secret is kept).
  CREATE TABLE invites (
    secret_hash TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_by TEXT
  ) STRICT;

  -- Volumes this node takes part in, with its role and local directory.
  CREATE TABLE volumes (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('primary', 'mirror')),
    path TEXT NOT NULL,
    epoch INTEGER NOT NULL DEFAULT 1,
    next_seq INTEGER NOT NULL DEFAULT 1,
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'stopped')),
    reason TEXT
  ) STRICT;

  -- Primary: what capture last saw of each path, so a rescan skips unchanged files.
  CREATE TABLE files (
    volume TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    mode INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (volume, path)
  ) STRICT, WITHOUT ROWID;

  -- Primary: the outbox. Rows are trimmed once every mirror has acknowledged a newer change
  -- of the same path (or, for deletes, the delete itself), so a new mirror still finds the
  -- latest change of every live path here.
  CREATE TABLE changes (
    volume TEXT NOT NULL,
    seq INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    mode INTEGER NOT NULL,
    mtime_ms INTEGER NOT NULL,
    size INTEGER NOT NULL,
    chunks BLOB,
    target TEXT,
    captured_at INTEGER NOT NULL,
    PRIMARY KEY (volume, seq)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX changes_by_path ON changes (volume, path, seq);

  -- Primary: the position each mirror has acknowledged (durable on the mirror).
  CREATE TABLE acks (
    volume TEXT NOT NULL,
    mirror TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    acked_at INTEGER NOT NULL,
    PRIMARY KEY (volume, mirror)
  ) STRICT, WITHOUT ROWID;

  -- Mirror: the timeline. Every received change is a version of its path, valid from its
  -- seq until the seq of the next version of the same path (superseded_by), or open-ended.
  CREATE TABLE versions (
    volume TEXT NOT NULL,
    seq INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    mode INTEGER NOT NULL,
    mtime_ms INTEGER NOT NULL,
    size INTEGER NOT NULL,
    chunks BLOB,
    target TEXT,
    captured_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    superseded_by INTEGER,
    PRIMARY KEY (volume, seq)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX versions_by_path ON versions (volume, path, seq);

  -- Mirror: what the primary last sent us, per volume: the durable receive position.
  CREATE TABLE received (
    volume TEXT PRIMARY KEY,
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    from_node TEXT NOT NULL
  ) STRICT;

  -- Mirror: views of the timeline on disk. This issue has one per volume at delay 0.
  CREATE TABLE views (
    volume TEXT NOT NULL,
    name TEXT NOT NULL,
    root TEXT NOT NULL,
    delay_ms INTEGER NOT NULL DEFAULT 0,
    applied_seq INTEGER NOT NULL DEFAULT 0,
    held INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (volume, name)
  ) STRICT, WITHOUT ROWID;

  -- The chunk index: where each chunk's bytes are in the packs.
  CREATE TABLE packs (
    id INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    sealed INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  CREATE TABLE chunks (
    hash BLOB PRIMARY KEY,
    pack INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    stored_len INTEGER NOT NULL,
    raw_len INTEGER NOT NULL,
    codec INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;

  -- The event log (the "protocol" of the seed documents).
  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    t INTEGER NOT NULL,
    level TEXT NOT NULL,
    type TEXT NOT NULL,
    volume TEXT,
    peer TEXT,
    msg TEXT NOT NULL,
    data TEXT
  ) STRICT;
  `,
  // 2: the time funnel (docs/timeline.md).
  `
  -- When the version was received on this node's funnel clock (monotonic across restarts):
  -- the delay counts from here. Production time is capture time corrected by the measured
  -- clock offset and never decreasing along seq: it is the time people see and rewind to.
  ALTER TABLE versions ADD COLUMN received_mono INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE versions ADD COLUMN produced_at INTEGER NOT NULL DEFAULT 0;
  UPDATE versions SET received_mono = received_at, produced_at = captured_at;
  CREATE INDEX versions_by_time ON versions (volume, produced_at);

  -- moving_from: a rewind moves the view from this seq to applied_seq and has not finished;
  -- it is completed at start. hold_reason: why the view is held ('hold', 'rewind', 'guard').
  ALTER TABLE views ADD COLUMN moving_from INTEGER;
  ALTER TABLE views ADD COLUMN hold_reason TEXT;
  ALTER TABLE views ADD COLUMN held_since INTEGER;
  `,
  // 3: roles (docs/roles.md).
  `
  -- The epoch history of each volume: epoch N began with seq first_seq, written by node.
  -- Every node keeps it; a fork point is the seq before the first epoch two nodes disagree on.
  CREATE TABLE epochs (
    volume TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    node TEXT NOT NULL,
    at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (volume, epoch)
  ) STRICT;
  INSERT INTO epochs (volume, epoch, first_seq, node, at, reason)
    SELECT name, 1, 1, json_extract(spec, '$.primary.node'), 0, 'created' FROM volumes;

  -- Kept out of the timeline, never deleted by GC: on a promoted mirror, the changes received
  -- after the moment it was promoted at (origin 'after-promote'); on a demoted primary, the
  -- state of every path it changed after the fork point (origin 'divergence').
  CREATE TABLE quarantine (
    volume TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('after-promote', 'divergence')),
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    mode INTEGER NOT NULL,
    mtime_ms INTEGER NOT NULL,
    size INTEGER NOT NULL,
    chunks BLOB,
    target TEXT,
    captured_at INTEGER NOT NULL,
    quarantined_at INTEGER NOT NULL,
    PRIMARY KEY (volume, epoch, seq, path)
  ) STRICT;
  `,
  // 4: a typed stop cause and a typed promotion record (docs/catalog.md).
  `
  -- Why a stopped volume is stopped, for code to branch on (the reason beside it is for
  -- people). Earlier versions said it only by the first words of the reason.
  ALTER TABLE volumes ADD COLUMN stop_cause TEXT CHECK (stop_cause IN
    ('root-missing', 'root-empty', 'fenced', 'lease-lost', 'switching-over', 'operator'));
  UPDATE volumes SET stop_cause = CASE
      WHEN reason LIKE 'root-missing%' THEN 'root-missing'
      WHEN reason LIKE 'root-empty%' THEN 'root-empty'
      WHEN reason LIKE 'fenced:%' THEN 'fenced'
      WHEN reason LIKE 'quorum lost:%' THEN 'lease-lost'
      WHEN reason LIKE 'switching over to%' THEN 'switching-over'
      ELSE 'operator' END
    WHERE state = 'stopped';

  -- A promotion recorded and not yet finished: the seq it promotes at. Finished at start.
  CREATE TABLE promotions (
    volume TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
  ) STRICT;
  INSERT INTO promotions (volume, seq)
    SELECT substr(key, length('promoting:') + 1), CAST(value AS INTEGER) FROM meta WHERE key LIKE 'promoting:%';
  DELETE FROM meta WHERE key LIKE 'promoting:%';
  `,
  // 5: backup tiers and the backups written to them (docs/catalog.md, docs/backup-format.md).
  `
  -- The tiers this node writes backups to, in order (reads come from the first online one).
  CREATE TABLE tiers (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    url TEXT NOT NULL,
    tier_id TEXT NOT NULL,
    repository TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0,
    nonce TEXT NOT NULL DEFAULT '',
    pending_revision INTEGER,
    pending_nonce TEXT,
    synced INTEGER NOT NULL DEFAULT 0,
    access TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'online' CHECK (state IN ('online', 'offline', 'behind', 'syncing', 'foreign')),
    bytes INTEGER NOT NULL DEFAULT 0,
    last_success_at INTEGER,
    last_error TEXT,
    last_error_at INTEGER,
    created_at INTEGER NOT NULL
  ) STRICT;

  -- Every backup this node took, and the tiers that hold it (a JSON array of tier names).
  CREATE TABLE backups (
    volume TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    taken_at INTEGER NOT NULL,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    new_bytes INTEGER NOT NULL,
    tiers TEXT NOT NULL,
    PRIMARY KEY (volume, id)
  ) STRICT;

  -- What a volume's backups run on: when (a schedule text), what prune keeps, when to drill.
  CREATE TABLE backup_plans (
    volume TEXT PRIMARY KEY,
    schedule TEXT,
    keep TEXT,
    drill TEXT
  ) STRICT;

  -- Restore drills: a backup restored into scratch and checked, and how long it took.
  CREATE TABLE backup_drills (
    volume TEXT NOT NULL,
    at INTEGER NOT NULL,
    id TEXT NOT NULL,
    tier TEXT NOT NULL,
    ms INTEGER NOT NULL,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    problems TEXT NOT NULL,
    PRIMARY KEY (volume, at)
  ) STRICT;
  `,
  // 6: checks, alarms and notices (docs/monitoring.md, docs/catalog.md).
  `
  -- A check's settings where they differ from its built-in defaults, and every custom check.
  CREATE TABLE checks (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    settings TEXT NOT NULL,
    every_ms INTEGER NOT NULL
  ) STRICT;

  -- The last result of each check and subject, and since when it has held that state.
  CREATE TABLE check_results (
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    volume TEXT,
    state TEXT NOT NULL,
    since INTEGER NOT NULL,
    message TEXT NOT NULL,
    value REAL,
    threshold TEXT,
    ran_at INTEGER NOT NULL,
    PRIMARY KEY (name, subject)
  ) STRICT;

  -- Alarms: a check's subject that left ok, from opening until it is back (closed_at).
  CREATE TABLE alarms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    volume TEXT,
    state TEXT NOT NULL,
    message TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    reminded_at INTEGER NOT NULL,
    closed_at INTEGER,
    acked_at INTEGER,
    acked_by TEXT
  ) STRICT;
  CREATE UNIQUE INDEX alarms_open ON alarms (name, subject) WHERE closed_at IS NULL;

  -- Who is told, how (smtp, webhook), and by which policy (always, failures, digest).
  CREATE TABLE notifiers (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    policy TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;

  -- The outbox of notices: waiting, being retried, sent, or given up on.
  CREATE TABLE notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notifier TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    message TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    sent_at INTEGER,
    failed_at INTEGER,
    last_error TEXT
  ) STRICT;
  CREATE INDEX notices_due ON notices (next_at) WHERE sent_at IS NULL AND failed_at IS NULL;

  -- What a digest notifier collects until its daily message.
  CREATE TABLE digest_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notifier TEXT NOT NULL,
    at INTEGER NOT NULL,
    line TEXT NOT NULL
  ) STRICT;

  -- The event log's retention deletes by age.
  CREATE INDEX events_by_time ON events (t);
  `,
];

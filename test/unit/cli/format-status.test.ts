/** Golden file for `hindsight status` as people read it (UPDATE_GOLDEN=1 rewrites it). */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { StatusReport } from '../../../src/api/index.ts';
import { formatStatus } from '../../../src/cli/status.ts';

// Moments are shown in local time: the golden file is written in UTC.
process.env.TZ = 'UTC';

const GOLDEN = join(import.meta.dirname, 'testdata', 'status.golden.txt');

const report: StatusReport = {
  node: 'beta',
  startedAt: 0,
  now: 0,
  peerAddress: '192.0.2.2:7420',
  volumes: [
    {
      name: 'docs',
      role: 'mirror',
      path: '/srv/docs',
      state: 'active',
      reason: null,
      stopCause: null,
      epoch: 2,
      failover: { mode: 'auto', witness: 'w', primarySilentMs: 1200 },
      since: { epoch: 2, firstSeq: 100, node: 'alpha', at: 0, reason: 'switchover from beta' },
      from: 'alpha',
      receivedSeq: 120,
      appliedSeq: 118,
      link: 'connected',
      bytesReceived: 5 * 1024 * 1024,
      primarySeq: 123,
      lagChanges: 3,
    },
    {
      name: 'mail',
      role: 'primary',
      path: '/srv/mail',
      state: 'stopped',
      reason: 'root-empty: /srv/mail is empty but 40 entries were captured',
      stopCause: 'root-empty',
      epoch: 1,
      failover: { mode: 'manual', witness: null },
      since: { epoch: 1, firstSeq: 1, node: 'beta', at: 0, reason: 'created' },
      lastSeq: 40,
      capture: {
        state: 'scanning',
        why: 'overflow',
        isCertain: false,
        uncertainSince: 0,
        pendingPaths: 12,
        overflows: 1,
        watchedDirs: 310,
      },
      mirrors: [
        {
          node: 'alpha',
          ackedSeq: 38,
          lagChanges: 2,
          lagSeconds: 12.25,
          inSync: false,
          link: 'disconnected',
          refusal: null,
          bytesSent: 1536,
        },
        {
          node: 'gamma',
          ackedSeq: 40,
          lagChanges: 0,
          lagSeconds: 0,
          inSync: true,
          link: 'refused',
          refusal: 'directory /etc is or is in a system directory',
          bytesSent: 0,
        },
      ],
    },
  ],
  peers: [
    { node: 'alpha', direction: 'from-primary', link: 'connected', rttMs: 0.42, clockOffsetMs: -1.3 },
    { node: 'gamma', direction: 'to-mirror', link: 'disconnected', rttMs: null, clockOffsetMs: null },
  ],
  checks: [],
  alarms: [
    {
      id: 7,
      node: 'beta',
      check: 'funnel',
      subject: 'docs/main',
      state: 'critical',
      message: 'not moving: applies fail for 5 min: ENOSPC',
      openedAt: 7_000_000,
      updatedAt: 7_000_000,
      closedAt: null,
      ackedAt: null,
      ackedBy: null,
      volume: 'docs',
    },
  ],
  readiness: {
    score: 61,
    components: [
      { name: 'lag', score: 100, weight: 0.3, detail: '1 result ok' },
      { name: 'funnel', score: 0, weight: 0.2, detail: 'funnel docs/main: critical' },
    ],
    volumes: [],
  },
  backups: {
    running: [],
    tiers: [
      {
        name: 'local',
        position: 1,
        url: 'file:///mnt/backup',
        state: 'online',
        revision: 12,
        bytes: 1 << 30,
        lastSuccessAt: 7_200_000,
        lastError: null,
        lastErrorAt: null,
      },
      {
        name: 'office',
        position: 2,
        url: 'file:///mnt/nas',
        state: 'offline',
        revision: 11,
        bytes: 1 << 30,
        lastSuccessAt: 3_600_000,
        lastError:
          'tier file:///mnt/nas is offline: its marker .hindsight-tier is missing: is the share mounted?',
        lastErrorAt: 7_200_000,
      },
    ],
    volumes: [
      {
        volume: 'docs',
        lastBackup: {
          volume: 'docs',
          id: 'a1',
          seq: 118,
          at: 7_000_000,
          takenAt: 7_200_000,
          files: 300,
          bytes: 1 << 20,
          newBytes: 0,
          tiers: ['local'],
        },
        lastDrill: { at: 7_300_000, ms: 4200, files: 300, bytes: 1 << 20, problems: 0 },
      },
    ],
  },
};

test('status for people matches the golden file', () => {
  const text = formatStatus(report);
  if (process.env.UPDATE_GOLDEN) writeFileSync(GOLDEN, text);
  assert.equal(text, readFileSync(GOLDEN, 'utf8'));
});

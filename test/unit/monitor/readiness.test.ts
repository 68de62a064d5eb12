import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CheckResult,
  type CheckState,
  type Readiness,
  readinessOf,
} from '../../../src/monitor/index.ts';

const T = 1_800_000_000_000;

function result(check: string, subject: string, volume: string | null, state: CheckState): CheckResult {
  return {
    check,
    subject,
    volume,
    state,
    since: T,
    message: `${check} ${state}`,
    value: null,
    threshold: null,
    ranAt: T,
  };
}

/** A node with two volumes where every check is ok. */
function allOk(): CheckResult[] {
  return [
    result('lag', 'docs → beta', 'docs', 'ok'),
    result('lag', 'photos → beta', 'photos', 'ok'),
    result('backup-age', 'docs', 'docs', 'ok'),
    result('backup-age', 'photos', 'photos', 'ok'),
    result('funnel', 'docs/lag', 'docs', 'ok'),
    result('disk-free', '/var/lib/hindsight', null, 'ok'),
    result('tiers', 'nas', null, 'ok'),
    result('drill', 'docs', 'docs', 'ok'),
    result('memory', 'node', null, 'ok'),
    result('certificates', 'node', null, 'ok'),
  ];
}

function assertWeightsAddUp(r: Readiness, what: string): void {
  const sum = r.components.reduce((s, c) => s + c.weight, 0);
  assert.ok(Math.abs(sum - 1) <= 0.01, `${what}: weights add up to ${sum}`);
}

describe('readinessOf', () => {
  it('scores nothing vouched for as 0, with a checks component that says so', () => {
    const r = readinessOf([], ['docs']);
    assert.equal(r.score, 0);
    assert.deepEqual(
      r.components.map((c) => [c.name, c.score, c.weight]),
      [['checks', 0, 1]],
    );
    assert.equal(r.volumes[0].volume, 'docs');
    assert.equal(r.volumes[0].score, 0);
  });

  it('scores all ok as 100, for the node and every volume', () => {
    const r = readinessOf(allOk(), ['docs', 'photos']);
    assert.equal(r.score, 100);
    assert.deepEqual(
      r.volumes.map((v) => [v.volume, v.score]),
      [
        ['docs', 100],
        ['photos', 100],
      ],
    );
    assert.ok(
      r.components.some((c) => c.name === 'node'),
      'memory and certificates count for the node',
    );
    assert.equal(
      r.volumes[0].components.some((c) => c.name === 'node'),
      false,
      'but not for a volume',
    );
    assertWeightsAddUp(r, 'node');
    for (const v of r.volumes) assertWeightsAddUp(v, v.volume);
  });

  it('takes a volume’s lag component to 0 for its critical lag result, and the node with it', () => {
    const results = allOk().map((r) =>
      r.subject === 'docs → beta' ? { ...r, state: 'critical' as const } : r,
    );
    const r = readinessOf(results, ['docs', 'photos']);
    const docs = r.volumes.find((v) => v.volume === 'docs')!;
    const photos = r.volumes.find((v) => v.volume === 'photos')!;

    const lag = docs.components.find((c) => c.name === 'lag')!;
    assert.equal(lag.score, 0);
    assert.match(lag.detail, /lag docs → beta: critical/);
    assert.equal(photos.components.find((c) => c.name === 'lag')!.score, 100, 'photos lag is its own');
    assert.ok(docs.score < photos.score, `docs ${docs.score} < photos ${photos.score}`);
    assert.equal(photos.score, 100);
    assert.ok(r.score <= docs.score, `node ${r.score} ≤ worst volume ${docs.score}`);
    assert.ok(r.score < 100);
    assertWeightsAddUp(r, 'node');
    for (const v of r.volumes) assertWeightsAddUp(v, v.volume);
  });

  it('scores a component by its worst result: warning 50, unknown 25', () => {
    const warn = readinessOf(
      [result('tiers', 'nas', null, 'ok'), result('tiers', 's3', null, 'warning')],
      [],
    );
    assert.deepEqual(
      warn.components.map((c) => [c.name, c.score, c.weight]),
      [['tiers', 50, 1]],
    );
    assert.equal(warn.score, 50);
    const unknown = readinessOf([result('disk-free', '/srv', null, 'unknown')], []);
    assert.equal(unknown.score, 25);
  });

  it('counts node-wide results for every volume', () => {
    const results = [
      result('lag', 'docs → beta', 'docs', 'ok'),
      result('disk-free', '/var/lib/hindsight', null, 'critical'),
    ];
    const r = readinessOf(results, ['docs', 'photos']);
    const photos = r.volumes.find((v) => v.volume === 'photos')!;
    assert.deepEqual(
      photos.components.map((c) => [c.name, c.score, c.weight]),
      [['disk', 0, 1]],
    );
    const docs = r.volumes.find((v) => v.volume === 'docs')!;
    assert.deepEqual(
      docs.components.map((c) => c.name),
      ['lag', 'disk'],
    );
    assertWeightsAddUp(docs, 'docs');
    assert.equal(docs.score, Math.round(100 * (0.25 / 0.4)));
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHindsightError } from '../../../src/core/index.ts';
import { checkConfig, defaultAdvertise } from '../../../src/daemon/index.ts';

test('a listener on all interfaces advertises a dialable address (regression: 0.0.0.0 was advertised)', () => {
  const advertised = defaultAdvertise('0.0.0.0:7420');
  assert.match(advertised, /^\d+\.\d+\.\d+\.\d+:7420$/);
  assert.notEqual(advertised, '0.0.0.0:7420');
  assert.equal(defaultAdvertise('192.0.2.10:7420'), '192.0.2.10:7420');
  const c = checkConfig({ name: 'alpha', listen: '0.0.0.0:7420', api: null }, 'config.json');
  assert.notEqual(c.advertise, '0.0.0.0:7420');
  assert.equal(
    checkConfig({ name: 'a', listen: '0.0.0.0:1', api: null, advertise: 'h.example:9' }, 'f').advertise,
    'h.example:9',
  );
});

test('bad configuration names the field', () => {
  const cases: [unknown, RegExp][] = [
    [{ name: 'Alpha!', listen: '0.0.0.0:1', api: null }, /"name"/],
    [{ name: 'a', listen: 'nowhere', api: null }, /listen/],
    [{ name: 'a', listen: '0.0.0.0:1', api: 5 }, /"api"/],
    [{ name: 'a', listen: '0.0.0.0:1', api: null, advertise: '0.0.0.0:1' }, /"advertise"/],
    [{ name: 'a', listen: '0.0.0.0:1', api: null, colour: 'red' }, /"colour"/],
  ];
  for (const [raw, field] of cases) {
    assert.throws(
      () => checkConfig(raw, 'config.json'),
      (err: unknown) => isHindsightError(err, 'E_CONFIG_INVALID') && field.test((err as Error).message),
    );
  }
});

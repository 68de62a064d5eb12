import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { freePort } from '../../harness/cli-process.ts';

// Regression: CI once failed with EADDRINUSE because a port that was free a moment ago had been
// taken (as an outgoing connection's source port, or by another test file) before the agent bound it.
test('freePort hands out distinct ports below the ephemeral range', async () => {
  const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]);
  const ports = await Promise.all(Array.from({ length: 200 }, () => freePort()));
  assert.equal(new Set(ports).size, ports.length, 'a port was handed out twice');
  for (const port of ports)
    assert.ok(port >= 1024 && port < ephemeralLow, `port ${port} is in the ephemeral range`);
});

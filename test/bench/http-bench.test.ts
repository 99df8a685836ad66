/** `ralm bench http` on a tiny configuration: the real service in a child process, the bare route, the open-loop generator. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runHttpBench } from '../../bench/http.js';

describe('http benchmark harness', () => {
  it('measures the service and the bare Fastify ceiling; the JSON has every run', async () => {
    const r = await runHttpBench({ sizes: [200], durationSec: 1, connections: 4, rateFractions: [0.3], encodings: ['json', 'msgpack'], batching: ['on', 'off'] });
    assert.equal(r.kind, 'ralm-bench-http');
    assert.equal(r.cases.length, 2);
    for (const c of r.cases) assert.ok(c.requestBytes > 0 && c.responseBytes > 0);
    // per encoding: bare max, then per batching mode: max and one fixed rate
    assert.equal(r.runs.length, 2 * (1 + 2 * 2));
    for (const run of r.runs) {
      assert.equal(run.errors, 0, JSON.stringify(run));
      assert.equal(run.non2xx, 0, JSON.stringify(run));
      assert.ok(run.ok > 0 && run.latencyMs.p50 >= 0 && run.latencyMs.p99 >= run.latencyMs.p50);
    }
    assert.ok(r.runs.some((x) => x.target === 'bare-fastify'));
    assert.ok(r.runs.some((x) => x.rate !== null));
  });
});

/** `ralm bench http` on a tiny configuration: the real service in a child process, the bare route, the open-loop generator. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runHttpBench } from '../../bench/http.js';

describe('http benchmark harness', () => {
  it('measures the service, the bare Fastify ceiling and an overload; the JSON has every run', async () => {
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
    // Demand at 4× the maximum, coalescing on, per encoding: every request answered, 200 or a coded refusal.
    assert.equal(r.overload.length, 2);
    for (const o of r.overload) {
      assert.equal(o.unanswered, 0, JSON.stringify(o));
      assert.ok(o.accepted.count > 0, JSON.stringify(o));
      for (const key of Object.keys(o.answers)) assert.match(key, /^(200|429 RALM_ERR_OVERLOADED \((wait|inflight|queue)\)|503 RALM_ERR_UNDER_PRESSURE|504 RALM_ERR_DEADLINE_EXCEEDED)$/);
      assert.equal(o.healthz.failed, 0);
      assert.ok(o.healthz.count > 0);
    }
  });
});

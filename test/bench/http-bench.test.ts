/** `ralm bench http` on a tiny configuration: the real service in a child process, the bare route, the open-loop generator. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { boundLines, formatRun, onOffLines, runHttpBench, type LoadRun } from '../../bench/http.js';

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
      // Open-loop runs keep their schedule whatever the host does; on a busy shared machine the
      // admission control may refuse a few (coded 429/503, counted in non2xx and reported as such).
      if (run.rate === null) assert.equal(run.non2xx, 0, JSON.stringify(run));
      else assert.ok(run.non2xx < run.ok, JSON.stringify(run));
      assert.ok(run.refused <= run.non2xx && run.refusedPerSec >= 0 && !run.refusalsDominate, JSON.stringify(run));
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

  it('reads accepted and refused replies apart, and says when refusals dominate or a ratio cannot be read', () => {
    const run = (batching: 'on' | 'off', ok: number, refused: number, cpu: number): LoadRun => ({
      target: 'ralm', n: 10_000, encoding: 'msgpack', batching, rate: null, connections: 16, durationSec: 5,
      requestsPerSec: ok / 5, candidatesPerSec: (ok / 5) * 10_000, refusedPerSec: refused / 5, refusalsDominate: refused > 0 && refused >= ok,
      latencyMs: { p50: 1, p90: 1, p99: 1, max: 1, mean: 1 }, ok, non2xx: refused, refused, errors: 0, saturated: false, serverCpuMsPerOk: cpu,
    });
    const on = run('on', 1500, 10, 4);
    const off = run('off', 1000, 0, 6);
    assert.match(formatRun(on), /300 req\/s accepted {2}2 req\/s refused .*server cpu 4\.00 ms\/accepted/);
    assert.doesNotMatch(formatRun(on), /mostly refused/);
    assert.deepEqual(onOffLines([on, off]), ['N=10000 msgpack: batching on / off 1.50× accepted req/s, server cpu per accepted 4.00 vs 6.00 ms (1.50× less)']);
    const shed = run('on', 100, 900, 4);
    assert.match(formatRun(shed), /mostly refused/);
    assert.match(onOffLines([shed, off])[0], /not readable: refusals dominate a run/);
    // With the event loop's share, the load generator's time and the mean batch: the bound on 2 cores.
    const split = { ...on, mainCpuMsPerOk: 1.5, clientCpuMsPerOk: 1, meanBatch: 7.75, engineBusy: 0.9 };
    assert.match(formatRun(split), /server cpu 4\.00 ms\/accepted \(event loop 1\.50\) {2}load generator 1\.00 ms {2}batch 7\.8 {2}engine busy 90%/);
    assert.deepEqual(boundLines([split, off], 2), ['N=10000 msgpack, batching on: 5.00 ms of processor time per accepted request (server and load generator): at most 400 req/s on 2 cores kept busy']);
  });

  it('with admission off, a maximum run far above capacity refuses nothing, and reports the event loop, the load generator and the batches', async () => {
    const r = await runHttpBench({ sizes: [200], durationSec: 1, connections: 8, rateFractions: [], encodings: ['msgpack'], batching: ['on'], overloadFactor: 0, admission: 'off' });
    assert.equal(r.settings.admission, 'off');
    const max = r.runs.find((x) => x.target === 'ralm' && x.rate === null) ?? assert.fail('no maximum run');
    assert.equal(max.refused, 0);
    assert.ok((max.clientCpuMsPerOk ?? 0) > 0 && (max.meanBatch ?? 0) >= 1 && (max.engineBusy ?? 0) > 0, JSON.stringify(max));
    if (process.platform === 'linux') assert.ok((max.mainCpuMsPerOk ?? 0) > 0 && (max.mainCpuMsPerOk as number) <= (max.serverCpuMsPerOk as number), JSON.stringify(max));
  });
});

/**
 * The rank batcher's dispatch rule, structurally: an engine stand-in records each batch and
 * finishes it only when the test says so, and every timer wait is either far longer than the
 * test (so it never decides anything) or awaited until it fires. Nothing here measures time.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { RankBatcher, type BatcherOptions } from '../../src/server/batcher.js';
import type { PreparedRank, RalmEngine, RankRequest, RankResult } from '../../src/engine/engine.js';
import { RalmError } from '../../src/util/errors.js';

interface Call {
  tags: number[];
  finish: () => void;
  fail: (err: Error) => void;
}

/** An engine stand-in: prepareRank makes a ticket tagged with the request's k; rankPrepared waits for the test. */
function standIn(): { engine: RalmEngine; calls: Call[]; released: number[] } {
  const calls: Call[] = [];
  const released: number[] = [];
  const engine = {
    prepareRank(req: RankRequest): PreparedRank {
      if (req.k < 1) throw new RalmError('RALM_ERR_VALIDATION', `k: expected an integer >= 1, got ${req.k}`, { field: 'k' });
      return { candidates: 100, tag: req.k, release: () => released.push(req.k) } as unknown as PreparedRank;
    },
    rankPrepared(batch: readonly PreparedRank[]): Promise<RankResult[]> {
      const tags = batch.map((t) => (t as unknown as { tag: number }).tag);
      return new Promise((resolve, reject) => {
        calls.push({
          tags,
          finish: () => resolve(tags.map((k) => ({ items: [], candidates: k, backend: 'cpu', adapter: 'stand-in', modelVersion: 'v', elapsedMs: 0 }))),
          fail: reject,
        });
      });
    },
  } as unknown as RalmEngine;
  return { engine, calls, released };
}

const quiet = { batch: () => undefined, queueWait: () => undefined };
/** Turns of the event loop: a dispatch the rule makes at once has happened after this. */
const turns = async (n = 3): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};
const user = { embedding: [1] };
const far = (): number => performance.now() + 60_000;
/** maxWaitMs far beyond any test: only the batch-size target and the engine's state decide. */
const LONG_WAIT: BatcherOptions = { maxBatch: 32, maxWaitMs: 30_000, maxQueue: 100 };

describe('rank batcher: the dispatch rule', () => {
  it('with 16 requests in the service, a batch leaves once it holds half of them', async () => {
    const { engine, calls } = standIn();
    const b = new RankBatcher(engine, LONG_WAIT, quiet, () => 16);
    assert.equal(b.target, 8);
    const done = Array.from({ length: 7 }, (_, i) => b.submit({ user, k: i + 1 }, far()));
    await turns();
    assert.equal(calls.length, 0, 'seven of sixteen wait for company');
    done.push(b.submit({ user, k: 8 }, far()));
    await turns();
    assert.deepEqual(calls.map((c) => c.tags), [[1, 2, 3, 4, 5, 6, 7, 8]]);
    calls[0].finish();
    assert.deepEqual((await Promise.all(done)).map((r) => r.candidates), [1, 2, 3, 4, 5, 6, 7, 8], 'each request gets its own result, in order');
  });

  it('nothing leaves while a batch runs; when it finishes, a queue of the target size leaves at once', async () => {
    const { engine, calls } = standIn();
    const b = new RankBatcher(engine, LONG_WAIT, quiet, () => 16);
    const first = Array.from({ length: 8 }, (_, i) => b.submit({ user, k: i + 1 }, far()));
    await turns();
    const second = Array.from({ length: 12 }, (_, i) => b.submit({ user, k: 101 + i }, far()));
    await turns();
    assert.equal(calls.length, 1, 'the engine is busy: the second half waits');
    calls[0].finish();
    await Promise.all(first);
    await turns();
    // FIFO, and up to maxBatch: everything queued leaves together.
    assert.deepEqual(calls.map((c) => c.tags.length), [8, 12]);
    assert.deepEqual(calls[1].tags, Array.from({ length: 12 }, (_, i) => 101 + i));
    calls[1].finish();
    assert.deepEqual((await Promise.all(second)).map((r) => r.candidates), calls[1].tags);
  });

  it('after a batch, a queue short of the target waits for more, and leaves the moment it has them', async () => {
    const { engine, calls } = standIn();
    const b = new RankBatcher(engine, LONG_WAIT, quiet, () => 16);
    const first = Array.from({ length: 8 }, (_, i) => b.submit({ user, k: i + 1 }, far()));
    await turns();
    const second = Array.from({ length: 3 }, (_, i) => b.submit({ user, k: 11 + i }, far()));
    calls[0].finish();
    await Promise.all(first);
    await turns();
    assert.equal(calls.length, 1, 'three of a target of eight: wait (at most maxWaitMs)');
    second.push(...Array.from({ length: 5 }, (_, i) => b.submit({ user, k: 14 + i }, far())));
    await turns();
    assert.deepEqual(calls[1]?.tags, [11, 12, 13, 14, 15, 16, 17, 18]);
    calls[1].finish();
    await Promise.all(second);
  });

  it('a short queue leaves after maxWaitMs from when the engine became free', async () => {
    const { engine, calls } = standIn();
    const b = new RankBatcher(engine, { maxBatch: 32, maxWaitMs: 5, maxQueue: 100 }, quiet, () => 16);
    const first = Array.from({ length: 8 }, (_, i) => b.submit({ user, k: i + 1 }, far()));
    await turns();
    calls[0].finish();
    await Promise.all(first);
    const late = b.submit({ user, k: 9 }, far());
    for (let i = 0; i < 200 && calls.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(calls[1]?.tags, [9]);
    calls[1].finish();
    await late;
  });

  it('one request in the service leaves at once; without a demand, maxBatch is the target', async () => {
    const alone = standIn();
    const b1 = new RankBatcher(alone.engine, LONG_WAIT, quiet, () => 1);
    assert.equal(b1.target, 1);
    const r = b1.submit({ user, k: 1 }, far());
    await turns();
    assert.deepEqual(alone.calls.map((c) => c.tags), [[1]]);
    alone.calls[0].finish();
    await r;

    const blind = standIn();
    const b2 = new RankBatcher(blind.engine, { maxBatch: 4, maxWaitMs: 30_000, maxQueue: 100 }, quiet);
    assert.equal(b2.target, 4);
    const rs = Array.from({ length: 5 }, (_, i) => b2.submit({ user, k: i + 1 }, far()));
    await turns();
    assert.deepEqual(blind.calls.map((c) => c.tags), [[1, 2, 3, 4]]);
    blind.calls[0].finish();
    await turns();
    // The fifth waited through a batch but is short of the target: it waits for company (maxWaitMs).
    assert.equal(blind.calls.length, 1);
    assert.equal(b2.queued, 1);
    rs.push(...Array.from({ length: 3 }, (_, i) => b2.submit({ user, k: 6 + i }, far())));
    await turns();
    assert.deepEqual(blind.calls[1]?.tags, [5, 6, 7, 8]);
    blind.calls[1].finish();
    assert.deepEqual((await Promise.all(rs)).map((r) => r.candidates), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('the target is half the demand, at least 1 and at most maxBatch', () => {
    const { engine } = standIn();
    let demand = 0;
    const b = new RankBatcher(engine, { maxBatch: 8, maxWaitMs: 2, maxQueue: 100 }, quiet, () => demand);
    for (const [d, t] of [[0, 1], [1, 1], [2, 1], [3, 2], [16, 8], [17, 8], [100, 8]]) {
      demand = d;
      assert.equal(b.target, t, `demand ${d}`);
    }
  });

  it('every ticket is released: after its batch, after a failure, when its deadline passes in the queue', async () => {
    const { engine, calls, released } = standIn();
    const b = new RankBatcher(engine, LONG_WAIT, quiet, () => 4);
    const ok = [b.submit({ user, k: 1 }, far()), b.submit({ user, k: 2 }, far())];
    await turns();
    calls[0].finish();
    await Promise.all(ok);
    assert.deepEqual(released.sort(), [1, 2]);
    // A failed batch of two is retried one by one; the tickets are released once, after all of it.
    const failing = [b.submit({ user, k: 3 }, far()), b.submit({ user, k: 4 }, far())];
    const lost = assert.rejects(failing[0], /lost/);
    await turns();
    calls[1].fail(new Error('backend failed'));
    await turns();
    calls[2].fail(new RalmError('RALM_ERR_DEVICE_LOST', 'lost'));
    await turns();
    calls[3].finish();
    await lost;
    assert.equal((await failing[1]).candidates, 4);
    assert.deepEqual(released.sort(), [1, 2, 3, 4]);
    // Refused at submit: nothing to release (prepareRank threw).
    await assert.rejects(b.submit({ user, k: 0 }, far()), (e: RalmError) => e.code === 'RALM_ERR_VALIDATION');
    // Expired while the engine is busy.
    const busy = [b.submit({ user, k: 5 }, far()), b.submit({ user, k: 6 }, far())];
    await turns();
    const expiring = b.submit({ user, k: 7 }, performance.now() + 5);
    await assert.rejects(expiring, (e: Error & { code?: string }) => e.code === 'RALM_ERR_DEADLINE_EXCEEDED');
    assert.ok(released.includes(7));
    calls[4].finish();
    await Promise.all(busy);
    assert.deepEqual(released.sort(), [1, 2, 3, 4, 5, 6, 7]);
  });
});

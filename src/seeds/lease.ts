/**
 * One re-clusterer at a time across replicas sharing a store: a run holds the store's lease,
 * renewed while it runs (a third of its time to live), and publishes under the lease's fencing
 * token, so that a run that lost its lease (paused, partitioned) is refused where a newer one has
 * published. A store without coordination (the embedded one) serves one process: runs need no lease.
 *
 * A run asked for while another replica holds the lease goes through that holder: the asker
 * queues a request; the holder, before it gives the lease up, runs once more for the requests
 * that came during its run (so clicks sent before the request are covered) and answers each with
 * that run's report. The asker meanwhile keeps trying the lease, and runs itself if it comes free
 * (the holder died, or finished before it saw the request).
 *
 * A holder that loses its lease (a renewal refused: another took it after it lapsed; or no renewal
 * got through for the lease's whole time to live) stops its run at once: the run's signal is
 * aborted, and the run checks it before each publication, so no work is spent on batches whose
 * publication would be refused.
 */
import { RalmError, type RalmErrorCode } from '../util/errors.js';
import type { StoreCoordination } from '../store/store.js';

/** How long an answer waits for its asker, ms (an asker that gave up never reads it). */
const ANSWER_TTL_MS = 60_000;
/** How often an asker looks for its answer or a free lease, ms. */
const POLL_MS = 50;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `fn` under the lease as `holder`, then once more for each batch of requests other replicas
 * queued meanwhile (answered with that run's report). With `waitMs` = 0 (a scheduled run) it
 * gives up at once while another holds the lease (RALM_ERR_STORE_UNAVAILABLE); otherwise it asks
 * the holder and answers with the holder's run's report, or runs itself once the lease is free —
 * and RALM_ERR_LEADER_TIMEOUT when neither happens within `waitMs`.
 */
export async function underLease<T extends object>(c: StoreCoordination | undefined, holder: string, ttlMs: number, waitMs: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  if (!c) return fn(new AbortController().signal);
  let token = await c.acquireLease(holder, ttlMs);
  if (token === null && waitMs <= 0) throw new RalmError('RALM_ERR_STORE_UNAVAILABLE', 'another replica holds the re-clustering lease; its run publishes to every replica, so try again later');
  if (token === null) {
    const deadline = Date.now() + waitMs;
    const request = await c.requestRun();
    const answered = (answer: string): T => {
      const { report, error } = JSON.parse(answer) as { report?: T; error?: { code: RalmErrorCode; message: string } };
      if (error) throw new RalmError(error.code, `the re-clustering leader's run failed: ${error.message}`);
      return report as T;
    };
    while (token === null) {
      const answer = await c.takeAnswer(request);
      if (answer !== null) return answered(answer);
      if (Date.now() >= deadline) {
        await c.withdrawRequest(request).catch(() => undefined);
        throw new RalmError('RALM_ERR_LEADER_TIMEOUT', `no re-clustering leader answered within ${waitMs} ms (another replica holds the lease and has not finished its run); the run asked for may still happen there, so try again later`, { waitedMs: waitMs });
      }
      await sleep(POLL_MS);
      token = await c.acquireLease(holder, ttlMs);
    }
    await c.withdrawRequest(request);
    // The holder may have answered and let go between the last look and the taking.
    const late = await c.takeAnswer(request);
    if (late !== null) {
      await c.releaseLease(holder);
      return answered(late);
    }
  }
  const held = token;
  const lost = new AbortController();
  let renewedAt = Date.now();
  const renew = setInterval(() => {
    if (lost.signal.aborted) return;
    const askedAt = Date.now();
    void c.renewLease(holder, held, ttlMs).then((kept) => {
      if (kept) renewedAt = askedAt;
      else lost.abort(new RalmError('RALM_ERR_STALE_LEASE', `the re-clustering lease (token ${held}) was lost: another replica may hold it now; this run stopped before its next publication`, { fence: held }));
    }, () => {
      // The store did not answer: the lease lapses by itself once no renewal got through for its time to live.
      if (Date.now() - renewedAt >= ttlMs) lost.abort(new RalmError('RALM_ERR_STALE_LEASE', `the re-clustering lease (token ${held}) could not be renewed for ${ttlMs} ms and has lapsed; this run stopped before its next publication`, { fence: held }));
    });
  }, Math.max(1, Math.floor(ttlMs / 3)));
  renew.unref();
  try {
    const report = await fn(lost.signal);
    // Requests that came during the run: one more run covers them all (their clicks came before it).
    for (let asked = await c.takeRequests(); asked.length > 0; asked = await c.takeRequests()) {
      let answer: string;
      try {
        answer = JSON.stringify({ report: await fn(lost.signal) });
      } catch (err) {
        const e = err as RalmError;
        answer = JSON.stringify({ error: { code: e.code ?? 'RALM_ERR_STORE_UNAVAILABLE', message: e.message } });
      }
      await c.answer(asked, answer, ANSWER_TTL_MS);
    }
    return report;
  } finally {
    clearInterval(renew);
    await c.releaseLease(holder).catch(() => undefined);
  }
}

/**
 * Admission: a request the service cannot answer in time is refused when it arrives — before its
 * body is read or parsed — with 429 RALM_ERR_OVERLOADED and Retry-After, instead of waiting
 * unseen and timing out at the client.
 *
 * - In flight: at most `maxInflight` requests are being handled at once (health, readiness,
 *   metrics and the API documentation aside: they are cheap, and a prober must reach them).
 * - Expected wait (recommend and score): a request is admitted only while the ranking requests
 *   ahead of it, times the recent time per request while busy, fit in half of its deadline. At
 *   capacity the excess is refused in well under a millisecond, and the requests taken are served
 *   within their deadline; the queue's 504 stays as the backstop.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { performance } from 'node:perf_hooks';
import { ServiceError } from '../errors.js';

/** Routes that are never refused: probes and scrapes must get through an overload. */
export const UNBOUNDED_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);
/** Routes whose requests rank on the engine and carry a deadline. */
const RANKING_ROUTES = new Set(['/v1/recommend', '/v1/score']);
/** Share of a request's deadline the wait ahead of it may take. */
const ADMIT_SHARE = 0.5;
/** Completions per update of the time-per-request estimate. */
const WINDOW = 32;

export function unbounded(req: FastifyRequest): boolean {
  const url = req.routeOptions.url;
  return url !== undefined && (UNBOUNDED_ROUTES.has(url) || url.startsWith('/docs'));
}

/**
 * Requests of one family in flight, and the time per request while any is in flight: busy time
 * over completions, so a queue of n requests is expected to take n × that. Idle time never counts.
 */
export class WaitEstimate {
  inflight = 0;
  private last = performance.now();
  private busyMs = 0;
  private completed = 0;
  private perRequest = 0;

  start(): void {
    this.advance();
    this.inflight++;
  }

  finish(): void {
    this.advance();
    this.inflight--;
    if (++this.completed >= WINDOW) {
      const sample = this.busyMs / this.completed;
      this.perRequest = this.perRequest === 0 ? sample : 0.7 * this.perRequest + 0.3 * sample;
      this.busyMs = 0;
      this.completed = 0;
    }
  }

  /** Time per request while busy, ms; 0 until a few requests have completed. */
  get msPerRequest(): number {
    if (this.perRequest > 0) return this.perRequest;
    return this.completed >= 4 ? this.busyMs / this.completed : 0;
  }

  /** How long a request arriving now is expected to wait for those ahead of it, ms. */
  get expectedWaitMs(): number {
    return this.inflight * this.msPerRequest;
  }

  private advance(): void {
    const now = performance.now();
    if (this.inflight > 0) this.busyMs += now - this.last;
    this.last = now;
  }
}

export interface AdmissionOptions {
  maxInflight: number;
  /** The ranking routes' default deadline, ms (a request may ask for less with x-ralm-deadline-ms). */
  requestTimeoutMs: number;
}

/** Installs admission; returns the counters (for tests and metrics). */
export function admission(app: FastifyInstance, o: AdmissionOptions): { all: WaitEstimate; ranking: WaitEstimate } {
  const all = new WaitEstimate();
  const ranking = new WaitEstimate();
  app.addHook('onRequest', async (req, reply) => {
    if (unbounded(req)) return;
    if (all.inflight >= o.maxInflight) {
      throw new ServiceError('RALM_ERR_OVERLOADED', `the service is at capacity (${o.maxInflight} requests in flight); retry shortly`, { retryAfterSeconds: 1 });
    }
    const ranks = RANKING_ROUTES.has(req.routeOptions.url ?? '');
    if (ranks) {
      const asked = Number(req.headers['x-ralm-deadline-ms']);
      const deadlineMs = asked > 0 ? Math.min(asked, o.requestTimeoutMs) : o.requestTimeoutMs;
      const waitMs = ranking.expectedWaitMs;
      if (waitMs > ADMIT_SHARE * deadlineMs) {
        throw new ServiceError('RALM_ERR_OVERLOADED', `the service is at capacity: the expected wait (${waitMs.toFixed(0)} ms) leaves too little of the ${deadlineMs} ms deadline; retry shortly`, {
          retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)), expectedWaitMs: Math.round(waitMs), deadlineMs,
        });
      }
      ranking.start();
    }
    all.start();
    // 'close' comes once the response is sent or the client went away, whichever happens.
    reply.raw.once('close', () => {
      all.finish();
      if (ranks) ranking.finish();
    });
  });
  return { all, ranking };
}

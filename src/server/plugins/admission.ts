/**
 * Admission: a request the service cannot answer in time is refused when it arrives — before its
 * body is read or parsed — with 429 RALM_ERR_OVERLOADED and Retry-After, instead of waiting
 * unseen and timing out at the client.
 *
 * - In flight: at most `maxInflight` requests are being handled at once (health, readiness,
 *   metrics and the API documentation aside: they are cheap, and a prober must reach them).
 * - Expected wait (recommend and score): a request is admitted only while the ranking requests
 *   ahead of it, times the recent time per request while busy, fit in `maxQueueWaitMs` and in
 *   half of its deadline. A longer queue would not serve more (the engine is busy either way),
 *   only later, and it would hold clients' connections: at capacity the excess is refused at once,
 *   and the requests taken are served well within their deadline; the queue's 504 stays as the
 *   backstop.
 * - Event-loop lag: requests not yet read (waiting for the loop) are invisible to that estimate,
 *   and at several times the capacity the loop's time goes to reading and refusing the excess. So
 *   while requests are being refused and the loop lags beyond its target (`--admission-lag-ms`), the allowed wait is
 *   cut, and it grows back otherwise, until the admitted work leaves the loop enough time to
 *   refuse the rest. Without refusals there is no excess to make room for: a lag from the
 *   admitted requests alone (large bodies, many connections) never lowers the admission, and
 *   four requests' worth of wait is always allowed, so that the engine never starves.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { performance } from 'node:perf_hooks';
import { ServiceError } from '../errors.js';

/** Routes that are never refused: probes and scrapes must get through an overload. */
export const UNBOUNDED_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);
/** Routes whose requests rank on the engine and carry a deadline. */
const RANKING_ROUTES = new Set(['/v1/recommend', '/v1/score']);
/** Share of a request's deadline the wait ahead of it may take. */
const ADMIT_SHARE = 0.5;
/** Wall time per update of the time-per-request estimate, ms (long enough to span whole batches). */
const WINDOW_MS = 250;

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
  private windowStart = this.last;
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
    this.completed++;
    if (this.last - this.windowStart >= WINDOW_MS && this.completed >= 4) {
      const sample = this.busyMs / this.completed;
      this.perRequest = this.perRequest === 0 ? sample : 0.7 * this.perRequest + 0.3 * sample;
      this.busyMs = 0;
      this.completed = 0;
      this.windowStart = this.last;
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

/** The loop's lag the admission aims under by default, ms (`--admission-lag-ms`): above a batch's hold (25 ms) with room for reading requests. */
export const LAG_TARGET_MS = 50;
const LAG_PROBE_MS = 10;
/** Control period, ms: short, so that the onset of a flood is met within a period or two. */
const CONTROL_MS = 50;
/** The allowed wait never goes below about one batch, so that coalescing still has company. */
export const MIN_ALLOWED_MS = 20;
/** Requests ahead that are always allowed, whatever the estimates say. */
const MIN_AHEAD = 4;
/** Deepest cut in one period (lag at four times the target or more) and the mildest. */
const CUT_MIN = 0.25;
const CUT_MAX = 0.8;
/** Periods to grow back from the floor to the ceiling (two seconds). */
const GROWTH_PERIODS = 40;

/**
 * One control step: the allowed wait after a period whose worst loop lag was `lagMs` and in which
 * `refused` requests were refused for their wait. Above the target while refusing, the allowance
 * is cut in proportion to the excess (by a fifth, up to three quarters at four times the target);
 * otherwise it grows back by a fortieth of its ceiling.
 */
export function nextAllowedMs(allowedMs: number, ceilingMs: number, lagMs: number, refused: number, targetMs = LAG_TARGET_MS): number {
  if (lagMs > targetMs && refused > 0) return Math.max(Math.min(MIN_ALLOWED_MS, ceilingMs), allowedMs * Math.max(CUT_MIN, Math.min(CUT_MAX, targetMs / lagMs)));
  return Math.min(ceilingMs, allowedMs + ceilingMs / GROWTH_PERIODS);
}

/**
 * How long a ranking request may expect to wait, steered by the event loop's lag: every
 * CONTROL_MS, the worst lateness of a LAG_PROBE_MS timer goes through nextAllowedMs.
 */
export class LagGovernor {
  allowedMs: number;
  /** The worst lag of the last control period, ms. */
  lagMs = 0;
  /** Requests refused for their expected wait in this control period. */
  refused = 0;
  private last = performance.now();
  private periodStart = this.last;
  private worst = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly ceilingMs: number, readonly targetMs = LAG_TARGET_MS) {
    this.allowedMs = ceilingMs;
    this.timer = setInterval(() => this.sample(), LAG_PROBE_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    const now = performance.now();
    this.worst = Math.max(this.worst, now - this.last - LAG_PROBE_MS);
    this.last = now;
    // By the clock, not by ticks: a lagging loop delivers ticks late, and must still be steered.
    if (now - this.periodStart < CONTROL_MS) return;
    this.lagMs = this.worst;
    this.allowedMs = nextAllowedMs(this.allowedMs, this.ceilingMs, this.worst, this.refused, this.targetMs);
    this.worst = 0;
    this.refused = 0;
    this.periodStart = now;
  }
}

/**
 * A plugin whose hooks apply to the whole app rather than to its own scope (what the
 * `fastify-plugin` package marks with this symbol), registered like the external plugins so that
 * its hooks take their place in registration order.
 */
export function appWide(plugin: FastifyPluginAsync): FastifyPluginAsync {
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true });
}

export interface AdmissionOptions {
  maxInflight: number;
  /** Longest expected wait ahead of a ranking request, ms. */
  maxQueueWaitMs: number;
  /** The loop's lag steered under while refusing, ms (LAG_TARGET_MS when absent). */
  lagTargetMs?: number;
  /** The ranking routes' default deadline, ms (a request may ask for less with x-ralm-deadline-ms). */
  requestTimeoutMs: number;
}

/** Admission's counters and its lag governor. */
export interface AdmissionState {
  all: WaitEstimate;
  ranking: WaitEstimate;
  governor: LagGovernor;
}

/** Installs admission; returns the counters (for tests, metrics and benchmarks). */
export function admission(app: FastifyInstance, o: AdmissionOptions): AdmissionState {
  const all = new WaitEstimate();
  const ranking = new WaitEstimate();
  const governor = new LagGovernor(o.maxQueueWaitMs, o.lagTargetMs);
  app.addHook('onClose', async () => governor.stop());
  app.addHook('onRequest', async (req, reply) => {
    if (unbounded(req)) return;
    if (all.inflight >= o.maxInflight) {
      throw new ServiceError('RALM_ERR_OVERLOADED', `the service is at capacity (${o.maxInflight} requests in flight); retry shortly`, { reason: 'inflight', retryAfterSeconds: 1 });
    }
    const ranks = RANKING_ROUTES.has(req.routeOptions.url ?? '');
    if (ranks) {
      const asked = Number(req.headers['x-ralm-deadline-ms']);
      const deadlineMs = asked > 0 ? Math.min(asked, o.requestTimeoutMs) : o.requestTimeoutMs;
      const waitMs = ranking.expectedWaitMs;
      const limitMs = Math.max(MIN_AHEAD * ranking.msPerRequest, Math.min(governor.allowedMs, ADMIT_SHARE * deadlineMs));
      if (waitMs > limitMs) {
        governor.refused++;
        throw new ServiceError('RALM_ERR_OVERLOADED', `the service is at capacity: the expected wait is ${waitMs.toFixed(0)} ms (limit now ${limitMs.toFixed(0)} ms); retry shortly`, {
          reason: 'wait', retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)), expectedWaitMs: Math.round(waitMs), limitMs: Math.round(limitMs),
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
  return { all, ranking, governor };
}

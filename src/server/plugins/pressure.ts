/**
 * Load shedding (@fastify/under-pressure): while the event loop lags beyond its limit, requests
 * are answered 503 RALM_ERR_UNDER_PRESSURE with Retry-After, in the service's error format,
 * instead of queueing behind the lag. Health, readiness and metrics are never shed: a liveness
 * probe that got 503 because the process was busy would have it restarted.
 *
 * The limit is on the mean delay over a sample interval. Long work never holds the loop for more
 * than ~50 ms (it is sliced or runs on worker threads), so a mean of 200 ms means the loop is
 * saturated, not that one slow task ran.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import underPressure from '@fastify/under-pressure';
import type { Metrics } from '../metrics.js';
import { unbounded } from './admission.js';
import { useEncoding } from './encoding.js';

export interface PressureOptions {
  /** Event-loop delay beyond which requests get 503, ms (the service's maxEventLoopDelayMs; > 0). */
  maxEventLoopDelayMs: number;
  /**
   * How often the event loop is sampled, ms. Default 500: well above the sampler's 10 ms
   * resolution, since an interval with no sample reads as infinite delay. Tests sample faster.
   */
  sampleIntervalMs?: number;
}

export function pressure(app: FastifyInstance, metrics: Metrics, o: PressureOptions): void {
  const shed = (req: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined): unknown => {
    if (unbounded(req)) return undefined; // served as usual
    metrics.countError('RALM_ERR_UNDER_PRESSURE');
    useEncoding(req, reply);
    reply.header('retry-after', '1').status(503);
    const message = `shedding load: ${type} is ${value === undefined ? 'unknown' : value.toFixed(0)}, above its limit; retry shortly`;
    return { error: { code: 'RALM_ERR_UNDER_PRESSURE', message, details: { type, retryAfterSeconds: 1 }, requestId: req.id } };
  };
  void app.register(underPressure, {
    maxEventLoopDelay: o.maxEventLoopDelayMs,
    sampleInterval: o.sampleIntervalMs ?? 500,
    retryAfter: 1,
    exposeStatusRoute: false,
    // A value returned is sent, and the request stops there: no body parsing, no handler (the
    // plugin's handlePressure); its typing says void.
    pressureHandler: shed as (req: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined) => void,
  });
}

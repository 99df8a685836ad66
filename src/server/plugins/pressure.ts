/**
 * Load shedding (@fastify/under-pressure): while the event loop lags beyond its limit, requests
 * are answered 503 RALM_ERR_UNDER_PRESSURE with Retry-After instead of queueing behind the lag.
 */
import type { FastifyInstance } from 'fastify';
import underPressure from '@fastify/under-pressure';
import type { Metrics } from '../metrics.js';
import { jsonSerializer } from './encoding.js';

export interface PressureOptions {
  /** Event-loop delay beyond which requests get 503, ms (the service's maxEventLoopDelayMs; > 0). */
  maxEventLoopDelayMs: number;
  /**
   * How often the event loop is sampled, ms. Default 1000: well above the sampler's 10 ms
   * resolution, since an interval with no sample reads as infinite delay. Tests sample faster.
   */
  sampleIntervalMs?: number;
}

export function pressure(app: FastifyInstance, metrics: Metrics, o: PressureOptions): void {
  void app.register(underPressure, {
    maxEventLoopDelay: o.maxEventLoopDelayMs,
    sampleInterval: o.sampleIntervalMs ?? 1000,
    retryAfter: 1,
    exposeStatusRoute: false,
    pressureHandler: (_req, reply, type, value) => {
      metrics.countError('RALM_ERR_UNDER_PRESSURE');
      reply.header('retry-after', '1').status(503).type('application/json; charset=utf-8').serializer(jsonSerializer);
      void reply.send({ error: { code: 'RALM_ERR_UNDER_PRESSURE', message: `shedding load: ${type} is ${String(value)}, above its limit; retry shortly` } });
    },
  });
}

/**
 * Per-client rate limits (@fastify/rate-limit), off unless configured: at most `max` requests a
 * minute on the /v1 routes per token, or per address for requests without one; beyond it, 429
 * RALM_ERR_RATE_LIMITED with Retry-After. Probes, metrics and the documentation are not counted.
 * The limit runs after the token check (auth.ts), so a token's requests count against that
 * token wherever they come from; a request with a bad token is refused before it is counted.
 */
import type { FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { ServiceError } from '../errors.js';
import { tokenOf } from './auth.js';

export function rateLimits(app: FastifyInstance, o: { max: number }): void {
  void app.register(rateLimit, {
    max: o.max,
    timeWindow: 60_000,
    keyGenerator: (req) => tokenOf(req)?.label ?? `address:${req.ip}`,
    allowList: (req) => !(req.routeOptions.url ?? '').startsWith('/v1/'),
    errorResponseBuilder: (_req, ctx) => {
      const seconds = Math.max(1, Math.ceil(ctx.ttl / 1000));
      return new ServiceError('RALM_ERR_RATE_LIMITED', `rate limit: more than ${ctx.max} requests a minute from this client; retry in ${seconds} s`,
        { limitPerMinute: ctx.max, retryAfterSeconds: seconds }, { 'retry-after': String(seconds) });
    },
  });
}

/** Every answered request counts in the latency histogram of its route (`unmatched` for none). */
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics.js';

export function instrument(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', async (req, reply) => {
    metrics.observeRequest(req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });
}

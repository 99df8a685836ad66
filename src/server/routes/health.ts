/** /healthz (the process answers), /readyz (ready to serve, not draining) and /metrics (Prometheus). */
import type { FastifyPluginAsync } from 'fastify';
import type { ServiceContext } from '../context.js';

export const healthRoutes: FastifyPluginAsync<ServiceContext> = async (app, ctx) => {
  const { serving, state } = ctx;

  app.get('/healthz', { schema: { summary: 'The process is up' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { summary: 'Ready to serve: warmed up and not draining (503 otherwise)' } }, async (_req, reply) => {
    const { engine } = serving.now;
    const ready = state.ready && !state.draining;
    reply.status(ready ? 200 : 503);
    return {
      ready,
      modelLoaded: true,
      storeOpen: true,
      backend: engine.backendKind,
      adapter: engine.adapterName,
      modelVersion: engine.model.manifest.modelVersion,
      warmedUp: state.ready,
      draining: state.draining,
    };
  });

  app.get('/metrics', { schema: { summary: 'Prometheus text exposition' } }, async (_req, reply) => {
    const { engine, seeds, audience } = serving.now;
    const text = await ctx.metrics.render(engine, seeds, { users: audience.users.size, jobsQueued: serving.jobs.queued, jobsRunning: serving.jobs.running });
    reply.type(ctx.metrics.contentType);
    reply.serializer((p: unknown) => p as string);
    return reply.send(text);
  });
};

/** POST /v1/admin/recluster and /v1/admin/model: operator actions, behind the API token when one is set. */
import type { FastifyPluginAsync } from 'fastify';
import type { ServiceContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { requireToken } from '../plugins/auth.js';
import { error } from '../schemas.js';

const reclusterSchema = {
  summary: 'Re-cluster every item whose seeds changed, now (needs the API token when one is set)',
  security: [{ bearer: [] }],
  response: { 401: error },
};

const reloadSchema = {
  summary: 'Hot-reload the model: load, compile, re-cluster every item under it, warm up, then switch (requests in flight finish on the old one)',
  security: [{ bearer: [] }],
  body: {
    type: 'object',
    nullable: true,
    title: 'reload request object',
    properties: { dir: { type: 'string', minLength: 1, title: 'model directory path', description: 'model directory (default: the configured one)' } },
  },
  response: {
    200: { type: 'object', properties: { modelVersion: { type: 'string' }, previousModelVersion: { type: 'string' }, items: { type: 'integer' }, backend: { type: 'string' } } },
    401: error, 409: error, 500: error,
  },
};

export const adminRoutes: FastifyPluginAsync<ServiceContext> = async (app, ctx) => {
  app.addHook('preValidation', requireToken(ctx.settings.apiToken));

  app.post('/v1/admin/recluster', { schema: reclusterSchema }, async () => {
    const r = await ctx.serving.now.seeds.recluster('demand');
    return { ...r, newlyServable: r.newlyServable.slice(0, 100) };
  });

  app.post<{ Body: { dir?: string } | null }>('/v1/admin/model', { schema: reloadSchema }, async (req) => {
    if (!ctx.reloadModel) throw new ServiceError('RALM_ERR_NOT_FOUND', 'model reload is not configured on this server');
    const { next, previous } = await ctx.serving.reload(req.body?.dir, ctx.reloadModel);
    return {
      modelVersion: next.engine.model.manifest.modelVersion,
      previousModelVersion: previous.engine.model.manifest.modelVersion,
      items: next.engine.table.size,
      backend: next.engine.backendKind,
    };
  });
};

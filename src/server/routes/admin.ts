/** POST /v1/admin/recluster and /v1/admin/model: operator actions (the admin scope, plugins/auth.ts). */
import type { FastifyPluginAsync } from 'fastify';
import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';
import type { ServiceContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { modelDirUnder, modelLoadError } from '../model-dirs.js';
import { error } from '../schemas.js';

const reclusterSchema = {
  summary: 'Re-cluster every item whose seeds changed, now',
  response: { 401: error, 403: error },
};

const reloadSchema = {
  summary: 'Hot-reload the model: load, compile, re-cluster every item under it, warm up, then switch (requests in flight finish on the old one)',
  body: {
    type: 'object',
    nullable: true,
    title: 'reload request object',
    properties: { dir: { type: 'string', minLength: 1, title: 'model directory path', description: 'model directory under the models root, relative to it or absolute (default: the configured model)' } },
  },
  response: {
    200: { type: 'object', properties: { rolledOut: { type: 'boolean', description: 'announced to the other replicas of a shared store, which load the same model (by id) from under their models root' }, modelVersion: { type: 'string' }, previousModelVersion: { type: 'string' }, modelId: { type: 'string' }, previousModelId: { type: 'string' }, items: { type: 'integer' }, backend: { type: 'string' } } },
    400: error, 401: error, 403: error, 409: error, 422: error,
  },
};

/** Announces a model this replica now serves, where the store is shared and the model lies under the models root; true if announced. */
async function announceModel(ctx: ServiceContext, modelId: string, dir: string | undefined): Promise<boolean> {
  const c = ctx.store.coordination;
  const root = ctx.settings.modelsRoot;
  if (!c || root === undefined || dir === undefined) return false;
  const rel = relative(await realpath(root), await realpath(dir));
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return false;
  await c.announceModel(modelId, rel);
  return true;
}

export const adminRoutes: FastifyPluginAsync<ServiceContext> = async (app, ctx) => {
  app.post('/v1/admin/recluster', { schema: reclusterSchema }, async () => {
    const r = await ctx.serving.now.seeds.recluster('demand');
    return { ...r, newlyServable: r.newlyServable.slice(0, 100) };
  });

  app.post<{ Body: { dir?: string } | null }>('/v1/admin/model', { schema: reloadSchema }, async (req) => {
    if (!ctx.reloadModel) throw new ServiceError('RALM_ERR_NOT_FOUND', 'model reload is not configured on this server');
    const dir = req.body?.dir;
    const real = dir === undefined ? undefined : await modelDirUnder(ctx.settings.modelsRoot, dir);
    const reload = ctx.reloadModel;
    const { next, previous } = await ctx.serving.reload(real, (d) => reload(d).catch((err: unknown) => {
      throw real !== undefined && dir !== undefined ? modelLoadError(err, real, dir) : err;
    }));
    // On a shared store every replica follows: the model is announced by its id and its path under the models root.
    const announced = await announceModel(ctx, next.engine.modelId, real ?? ctx.settings.modelDir);
    return {
      rolledOut: announced,
      modelVersion: next.engine.model.manifest.modelVersion,
      previousModelVersion: previous.engine.model.manifest.modelVersion,
      modelId: next.engine.modelId,
      previousModelId: previous.engine.modelId,
      items: next.engine.table.size,
      backend: next.engine.backendKind,
    };
  });
};

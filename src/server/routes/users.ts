/** PUT and GET /v1/users/:id: a user's universal embedding (given, or from features through the user tower). */
import type { FastifyPluginAsync } from 'fastify';
import { finiteVector } from '../../engine/validate.js';
import { embedUserFeatures } from '../../model/user-tower.js';
import type { ServiceContext } from '../context.js';
import { ServiceError, unprefixed } from '../errors.js';
import { error, errors, features, idParams, unknownValues, vector } from '../schemas.js';

interface PutUser {
  Params: { id: string };
  Body: { universal?: number[] | null; features?: Record<string, unknown> };
}

const putSchema = {
  summary: 'Store a user (its look-alike embedding is computed with the current model)',
  description: "Give universal (stored as is, features kept as an opaque object), or only features: the model's user tower then computes universal from them.",
  params: idParams,
  body: {
    type: 'object',
    title: 'user object',
    properties: { universal: { ...vector('universal embedding, width m'), nullable: true }, features: { type: 'object', description: `stored with the user as given; without universal, ${features.description}` } },
  },
  response: { 200: { type: 'object', properties: { id: { type: 'string' }, stored: { type: 'boolean' }, modelVersion: { type: 'string' }, unknownValues } }, ...errors },
};

const getSchema = { summary: 'A stored user', params: idParams, response: { 404: error } };

export const usersRoutes: FastifyPluginAsync<ServiceContext> = async (app, ctx) => {
  app.put<PutUser>('/v1/users/:id', { schema: putSchema }, async (req) => {
    const { id } = req.params;
    const b = req.body;
    const { engine, seeds } = ctx.serving.now;
    const { model } = engine;
    // Given, x_u is stored as is (features stay opaque); otherwise the model's user tower computes it from the features.
    // null means "not given".
    let universal = b.universal === undefined || b.universal === null ? undefined : finiteVector(b.universal, 'universal');
    let unknownValues: Record<string, string[]> | undefined;
    if (!universal) {
      if (b.features === undefined || !model.tower) {
        throw new ServiceError('RALM_ERR_VALIDATION', `universal: required, ${model.manifest.m} numbers${model.tower ? ' (or give features for the user tower)' : ` (model ${model.manifest.modelVersion} has no user tower to compute it from features)`}`, { field: 'universal' });
      }
      ({ universal, unknownValues } = embedUserFeatures(model, b.features, 'features'));
    }
    await seeds.putUsers([{ id, universal, features: b.features }]).catch(unprefixed(/^users\[0\]\./));
    return { id, stored: true, modelVersion: model.manifest.modelVersion, ...(unknownValues ? { unknownValues } : {}) };
  });

  app.get<{ Params: { id: string } }>('/v1/users/:id', { schema: getSchema }, async (req) => {
    const { id } = req.params;
    const [u] = await ctx.store.getUsers([id]);
    if (!u) throw new ServiceError('RALM_ERR_UNKNOWN_USER', `id: unknown user ${JSON.stringify(id)}`, { field: 'id' });
    return { id, universal: u.universal, features: u.features ?? null, modelVersion: u.modelVersion, updatedAt: u.updatedAt };
  });
};

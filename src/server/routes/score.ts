/** POST /v1/score: given items' scores for a user, in input order. */
import type { FastifyPluginAsync } from 'fastify';
import { performance } from 'node:perf_hooks';
import type { ServiceContext } from '../context.js';
import { arrivalOf, checkDeadline, deadlineOf } from '../deadline.js';
import { unprefixed } from '../errors.js';
import { errors, ids, itemLevels, unknownValues, user, vector } from '../schemas.js';
import { resolveUser, type UserBody } from '../user-input.js';

interface ScoreRequest {
  Body: { user: UserBody; items: string[]; itemLevels: boolean };
}

const schema = {
  summary: 'Scores of given items for a user, in input order',
  body: { type: 'object', title: 'score request object', properties: { user, items: ids('item ids (duplicates allowed)'), itemLevels }, required: ['user', 'items'] },
  response: {
    200: {
      type: 'object',
      properties: {
        items: ids('as given'), scores: vector('scores'), cosGlobal: vector('global cosines'), cosLocal: vector('local cosines'),
        cold: { type: 'array', items: { type: 'boolean' } }, backend: { type: 'string' }, adapter: { type: 'string' }, modelVersion: { type: 'string' }, unknownValues,
      },
    },
    ...errors,
  },
};

export const scoreRoutes: FastifyPluginAsync<ServiceContext> = async (app, ctx) => {
  app.post<ScoreRequest>('/v1/score', { schema }, async (req, reply) => {
    const t0 = arrivalOf(reply);
    const { items, itemLevels: levels } = req.body;
    const deadline = deadlineOf(req, reply, ctx.settings.requestTimeoutMs);
    return ctx.serving.hold(async (g) => {
      checkDeadline(deadline, reply);
      const { user, unknownValues } = await resolveUser(req.body.user, g.engine, ctx.store);
      checkDeadline(deadline, reply);
      const [r] = await g.engine.score([{ user, items, itemLevels: levels }]).catch(unprefixed(/^requests\[0\]\./));
      return {
        items, scores: r.scores, cosGlobal: r.cosGlobal, cosLocal: r.cosLocal, cold: Array.from(r.cold, (c) => c === 1),
        backend: r.backend, adapter: r.adapter, modelVersion: r.modelVersion, ...(unknownValues ? { unknownValues } : {}),
        timing: { engineMs: r.elapsedMs, totalMs: performance.now() - t0 },
      };
    });
  });
};

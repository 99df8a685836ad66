/** POST /v1/recommend: the top k items for a user, coalesced with concurrent requests into one engine call. */
import type { FastifyPluginAsync } from 'fastify';
import { performance } from 'node:perf_hooks';
import type { ServiceContext } from '../context.js';
import { arrivalOf, checkDeadline, deadlineOf } from '../deadline.js';
import { errors, ids, itemLevels, unknownValues, user } from '../schemas.js';
import { resolveUser, type UserBody } from '../user-input.js';

interface RecommendRequest {
  Body: { user: UserBody; k: number; candidates?: string[]; exclude?: string[]; itemLevels: boolean };
  Headers: { 'x-ralm-deadline-ms'?: number };
}

const schema = {
  summary: 'Top-k items for a user',
  description: 'Concurrent requests are coalesced into one engine call. Header x-ralm-deadline-ms lowers the deadline.',
  headers: {
    type: 'object',
    properties: { 'x-ralm-deadline-ms': { type: 'number', exclusiveMinimum: 0, title: 'positive number of milliseconds', description: "this request's deadline, when below the service's" } },
  },
  body: {
    type: 'object',
    title: 'recommend request object',
    properties: { user, k: { type: 'integer', minimum: 1, default: 10 }, candidates: ids('item ids to rank (default: every servable item)'), exclude: ids('item ids never to return'), itemLevels },
    required: ['user'],
  },
  response: {
    200: {
      type: 'object',
      properties: {
        items: {
          type: 'array',
          items: { type: 'object', properties: { id: { type: 'string' }, score: { type: 'number' }, cosGlobal: { type: 'number' }, cosLocal: { type: 'number' }, cold: { type: 'boolean' } } },
        },
        candidates: { type: 'integer' }, backend: { type: 'string' }, adapter: { type: 'string' }, modelVersion: { type: 'string' }, unknownValues,
        timing: { type: 'object', properties: { engineMs: { type: 'number' }, totalMs: { type: 'number' } } },
      },
    },
    ...errors,
  },
};

export const recommendRoutes: FastifyPluginAsync<ServiceContext> = async (app, ctx) => {
  app.post<RecommendRequest>('/v1/recommend', { schema }, async (req, reply) => {
    const t0 = arrivalOf(reply);
    const b = req.body;
    const deadline = deadlineOf(req, reply, ctx.settings.requestTimeoutMs);
    return ctx.serving.hold(async (g) => {
      checkDeadline(deadline, reply);
      const { user, unknownValues } = await resolveUser(b.user, g.engine, ctx.store);
      const pending = g.batcher.submit({ user, k: b.k, candidates: b.candidates, exclude: b.exclude, itemLevels: b.itemLevels }, deadline);
      // submit() resolved the ids to table slots before returning: drop the body's lists, so that
      // a request waiting for its batch does not keep 10,000 strings alive through collections.
      b.candidates = undefined;
      b.exclude = undefined;
      const r = await pending;
      ctx.metrics.observeCandidates(r.candidates);
      return {
        items: r.items,
        candidates: r.candidates,
        backend: r.backend,
        adapter: r.adapter,
        modelVersion: r.modelVersion,
        ...(unknownValues ? { unknownValues } : {}),
        timing: { engineMs: r.elapsedMs, totalMs: performance.now() - t0 },
      };
    });
  });
};

/**
 * /v1/audiences: audience expansion. Small requests are answered at once (and cancelled when the
 * client goes away); large ones, or those asking for it, run as background jobs whose users are
 * read by page or as one NDJSON stream.
 */
import type { FastifyPluginAsync } from 'fastify';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { parseAudienceRequest, specToJson } from '../../audience/audience-service.js';
import type { ServiceContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { error, errors, idParams, ids, vector } from '../schemas.js';
import { sendRows } from '../chunked-reply.js';
import { TimeSlicer } from '../../util/time-slice.js';

/** Users read from the store per step of an NDJSON stream. */
const NDJSON_READ = 16_384;

const userIds = (description: string) => ids(description, 'user ids');

/** The request schema; `maxSize` is the service's largest audience. */
const requestSchema = (maxSize: number) => ({
  summary: 'Audience expansion: seed users in, the N most similar users out',
  description:
    'Seeds are matched against known users (unmatched ones are counted and left out), clustered into at most k centroids, and every user ' +
    '(or the pool) is scored against that seed set with the RALM score. Requests scoring more than the configured number of users, or with ' +
    '"async": true, run as jobs: 202 with the job, then GET /v1/audiences/{id}.',
  body: {
    type: 'object',
    title: 'audience request object',
    additionalProperties: false,
    properties: {
      seeds: userIds('seed user ids'),
      seedEmbeddings: { type: 'array', title: 'array of embeddings (arrays of numbers)', items: vector('a seed given as its look-alike embedding, width h') },
      size: { type: 'integer', minimum: 1, maximum: maxSize, description: 'users wanted (N); required unless threshold is given' },
      threshold: { type: 'number', description: 'keep only users scoring at least this' },
      exclude: userIds('user ids never to return'),
      excludeSeeds: { type: 'boolean', default: true, description: 'leave the matched seeds out of the result' },
      pool: userIds('score only these users (default: every user)'),
      seed: { type: 'integer', default: 1, description: 'k-means seed' },
      async: { type: 'boolean', description: 'run as a job even when small' },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        seeds: { type: 'object' }, pool: { type: ['object', 'null'] }, scored: { type: 'integer' }, excluded: { type: 'integer' },
        users: { type: 'array', items: audienceUser }, timing: { type: 'object' }, backend: { type: 'string' }, adapter: { type: 'string' }, modelVersion: { type: 'string' },
      },
    },
    202: job,
    ...errors,
  },
});

const audienceUser = { type: 'object', properties: { id: { type: 'string' }, score: { type: 'number' }, cosGlobal: { type: 'number' }, cosLocal: { type: 'number' } } };
const job = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    status: { type: 'string', enum: ['queued', 'running', 'done', 'failed', 'cancelled'] },
    progress: { type: ['object', 'null'], properties: { scored: { type: 'integer' }, total: { type: 'integer' }, fraction: { type: 'number' } } },
    createdAt: { type: 'number' }, startedAt: { type: ['number', 'null'] }, finishedAt: { type: ['number', 'null'] },
    error: { type: ['object', 'null'] }, summary: { type: ['object', 'null'] }, links: { type: 'object' },
    attempts: { type: 'integer', description: 'times a runner started the job (above 1 only when a runner died or stopped with it unfinished)' },
    runner: { type: ['string', 'null'], description: 'the process (host:pid:tag) that started it last' },
  },
};

const jobSchema = {
  summary: 'An audience job: status, progress while running, and the summary once done',
  params: idParams,
  response: { 200: job, ...errors },
};

const usersSchema = {
  summary: "A finished audience's users, best first: a page (offset, limit ≤ 100,000) or the whole list as NDJSON (format=ndjson)",
  params: idParams,
  querystring: {
    type: 'object',
    properties: {
      offset: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 },
      limit: { type: 'integer', minimum: 1, maximum: 100_000, default: 1000 },
      format: { type: 'string', enum: ['page', 'ndjson'], default: 'page' },
    },
  },
  response: { 409: error, ...errors },
};

const cancelSchema = {
  summary: 'Cancels a queued or running audience job (kept as cancelled), or deletes a finished one and its users',
  params: idParams,
  response: { ...errors },
};

function links(id: string): Record<string, string> {
  return { self: `/v1/audiences/${id}`, users: `/v1/audiences/${id}/users`, stream: `/v1/audiences/${id}/users?format=ndjson` };
}

const noJob = (id: string): ServiceError => new ServiceError('RALM_ERR_NOT_FOUND', `id: no audience job ${JSON.stringify(id)}`, { field: 'id' });

interface ById {
  Params: { id: string };
}

export const audiencesRoutes: FastifyPluginAsync<ServiceContext> = async (app, ctx) => {
  const { serving } = ctx;

  app.post<{ Body: Record<string, unknown> & { async?: boolean } }>('/v1/audiences', { schema: requestSchema(ctx.settings.audience.maxSize) }, async (req, reply) => {
    const t0 = performance.now();
    const { engine, audience } = serving.now;
    const spec = parseAudienceRequest(req.body, engine.model.manifest.h, audience.maxSize);
    await audience.load();
    if (req.body.async === true || audience.workOf(spec) > ctx.settings.audienceSyncMaxUsers) {
      if (await serving.jobs.isFull()) throw new ServiceError('RALM_ERR_OVERLOADED', 'audience jobs: the queue is full; retry later', { retryAfterSeconds: 5 });
      const job = await serving.jobs.submit(spec, specToJson(spec));
      reply.status(202).header('location', `/v1/audiences/${job.id}`);
      return { ...job, links: links(job.id) };
    }
    // Synchronous: cancelled if the client goes away.
    const abort = new AbortController();
    const onClose = (): void => {
      if (!reply.raw.writableFinished) abort.abort();
    };
    req.raw.once('close', onClose);
    try {
      const { users, ...result } = await serving.runAudience(spec, { signal: abort.signal }, 'sync');
      const { timing, backend, adapter, modelVersion, ...head } = result;
      return sendRows(reply, { head, field: 'users', count: users.length, row: (i) => users[i], tail: { timing: { ...timing, httpMs: performance.now() - t0 }, backend, adapter, modelVersion } });
    } finally {
      req.raw.off('close', onClose);
    }
  });

  app.get<ById>('/v1/audiences/:id', { schema: jobSchema }, async (req) => {
    const { id } = req.params;
    const job = await serving.jobs.get(id);
    if (!job) throw noJob(id);
    return { ...job, links: links(id) };
  });

  app.get<ById & { Querystring: { offset: number; limit: number; format: 'page' | 'ndjson' } }>('/v1/audiences/:id/users', { schema: usersSchema }, async (req, reply) => {
    const { id } = req.params;
    const { offset, limit, format } = req.query;
    const job = await serving.jobs.get(id);
    if (!job) throw noJob(id);
    if (job.status !== 'done') throw new ServiceError('RALM_ERR_CONFLICT', `audience job ${id} is ${job.status}; users are available once it is done`, { status: job.status });
    if (format === 'ndjson') {
      // The whole audience as a stream, one JSON object per line, best first, read from the store
      // one chunk at a time and encoded in time slices.
      const first = await serving.jobs.users(id, { offset: 0, limit: NDJSON_READ });
      if (!first) throw new ServiceError('RALM_ERR_NOT_FOUND', `audience job ${id} has no stored users`);
      const lines = async function* (): AsyncGenerator<string> {
        const slicer = new TimeSlicer();
        let part = first;
        for (let at = 0; ; ) {
          for (let i = 0; i < part.ids.length; ) {
            let out = '';
            for (const end = Math.min(part.ids.length, i + 1000); i < end; i++) {
              out += `${JSON.stringify({ rank: at + i + 1, id: part.ids[i], score: part.score[i], cosGlobal: part.cosGlobal[i], cosLocal: part.cosLocal[i] })}\n`;
            }
            yield out;
            await slicer.tick();
          }
          at += part.ids.length;
          const next = part.ids.length > 0 && at < part.total ? await serving.jobs.users(id, { offset: at, limit: NDJSON_READ }) : undefined;
          if (!next) return; // the end, or the job was deleted meanwhile
          part = next;
        }
      };
      reply.type('application/x-ndjson');
      return reply.send(Readable.from(lines()));
    }
    const users = await serving.jobs.users(id, { offset, limit });
    if (!users) throw new ServiceError('RALM_ERR_NOT_FOUND', `audience job ${id} has no stored users`);
    const end = offset + users.ids.length;
    return sendRows(reply, {
      head: { id, total: users.total, offset, limit }, field: 'users', count: users.ids.length,
      row: (j) => ({ id: users.ids[j], score: users.score[j], cosGlobal: users.cosGlobal[j], cosLocal: users.cosLocal[j] }),
      tail: { next: end < users.total ? `/v1/audiences/${id}/users?offset=${end}&limit=${limit}` : null },
    });
  });

  app.delete<ById>('/v1/audiences/:id', { schema: cancelSchema }, async (req) => {
    const { id } = req.params;
    const r = await serving.jobs.cancel(id);
    if (!r) throw noJob(id);
    return { id, action: r.action, status: r.job.status };
  });
};

/**
 * The RALM service as a Fastify plugin: JSON and MessagePack in and out, one coded error table,
 * health and readiness, Prometheus metrics. `server.ts` only builds its dependencies and starts it.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyError } from 'fastify';
import { Packr, Unpackr } from 'msgpackr';
import { performance } from 'node:perf_hooks';
import type { RalmEngine, UserInput as EngineUser } from '../engine/engine.js';
import type { RalmStore } from '../store/store.js';
import type { SeedService } from '../seeds/seed-service.js';
import { RalmError } from '../util/errors.js';
import { embedUserFeatures } from '../model/user-tower.js';
import { ServiceError, STATUS, type ServiceErrorCode } from './errors.js';
import { Metrics } from './metrics.js';
import { RankBatcher, type BatcherOptions } from './batcher.js';
import underPressure from '@fastify/under-pressure';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import * as schemas from './schemas.js';
import { Readable } from 'node:stream';
import { AudienceService, parseAudienceRequest, specToJson, type AudienceServiceOptions, type AudienceSpec } from '../audience/audience-service.js';
import { AudienceJobs, type AudienceJobsOptions } from '../audience/jobs.js';

export interface AppDeps {
  engine: RalmEngine;
  store: RalmStore;
  seeds: SeedService;
  apiToken: string | null;
  bodyLimit: number;
  logger?: boolean | object;
  batching?: Partial<BatcherOptions>;
  /** Default deadline of a recommend request, ms. Default 2000. */
  requestTimeoutMs?: number;
  /** Event-loop delay beyond which requests get 503, ms; 0 disables. Default 1000. */
  maxEventLoopDelayMs?: number;
  /**
   * Builds a ready engine and seed service for a model directory (default: the configured one):
   * loaded, pipelines compiled, items clustered under that model, warmed up. Enables
   * POST /v1/admin/model.
   */
  reloadModel?: (dir: string | undefined) => Promise<{ engine: RalmEngine; seeds: SeedService }>;
  /**
   * How often the event loop is sampled for load shedding, ms. Default 1000. Keep it well above
   * the sampler's 10 ms resolution: an interval with no sample reads as infinite delay.
   */
  pressureSampleIntervalMs?: number;
  audience?: AudienceServiceOptions & {
    /** Requests scoring more users than this run as jobs (202 + /v1/audiences/:id). Default 200,000. */
    syncMaxUsers?: number;
    jobs?: AudienceJobsOptions;
  };
}

export interface AppState {
  ready: boolean;
  draining: boolean;
}

const MSGPACK = 'application/msgpack';
// Typed arrays travel as msgpackr's typed-array extension; decoded copies are aligned.
const packr = new Packr({ useRecords: false, moreTypes: true });
const unpackr = new Unpackr({ useRecords: false, moreTypes: true });

/** JSON has no typed arrays: send them as number arrays. */
function jsonSerializer(payload: unknown): string {
  return JSON.stringify(payload, (_k, v: unknown) => (ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v as Float32Array) : v));
}

function wantsMsgpack(req: FastifyRequest): boolean {
  const accept = req.headers.accept ?? '';
  if (accept.includes(MSGPACK)) return true;
  return accept === '' && (req.headers['content-type'] ?? '').startsWith(MSGPACK);
}

/** Replies in MessagePack when the client asks for it (or sent it without an Accept), else JSON. */
function useEncoding(req: FastifyRequest, reply: FastifyReply): void {
  if (wantsMsgpack(req)) {
    reply.type(MSGPACK);
    // Fastify sends a Buffer from a serializer as is; its typing says string.
    reply.serializer((p: unknown) => packr.pack(p) as unknown as string);
  } else {
    reply.type('application/json; charset=utf-8');
    reply.serializer(jsonSerializer);
  }
}

function bodyObject(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ServiceError('RALM_ERR_VALIDATION', `body: expected a ${what} object`, { field: 'body' });
  return body as Record<string, unknown>;
}

/** Engine errors name fields of a batch ("requests[3].k"); a route's caller knows them unprefixed. */
function unprefixed(prefix: RegExp): (err: unknown) => never {
  return (err: unknown) => {
    if (err instanceof RalmError) err.message = err.message.replace(prefix, '');
    throw err;
  };
}

function jobLinks(id: string): Record<string, string> {
  return { self: `/v1/audiences/${id}`, users: `/v1/audiences/${id}/users`, stream: `/v1/audiences/${id}/users?format=ndjson` };
}

function idParam(req: FastifyRequest, name = 'id'): string {
  const v = (req.params as Record<string, string>)[name];
  if (!v || v.length > 256) throw new ServiceError('RALM_ERR_VALIDATION', `${name}: expected an id of 1 to 256 characters`, { field: name });
  return v;
}

/**
 * A vector field: a number array (JSON or MessagePack), a Float32Array (msgpackr's typed-array
 * extension), or raw bytes (MessagePack bin, which is how plain msgpackr.pack sends a
 * Float32Array) read as little-endian float32. Always returned as an aligned copy.
 */
function vector(v: unknown, field: string): Float32Array | undefined {
  if (v === undefined || v === null) return undefined;
  if (v instanceof Uint8Array) {
    if (v.byteLength % 4 !== 0) throw new ServiceError('RALM_ERR_VALIDATION', `${field}: binary vectors are little-endian float32, so their length must be a multiple of 4 bytes, got ${v.byteLength}`, { field });
    const out = new Float32Array(v.byteLength / 4);
    new Uint8Array(out.buffer).set(v);
    v = out;
  }
  if (Array.isArray(v) || ArrayBuffer.isView(v)) {
    const arr = v as ArrayLike<unknown>;
    const out = new Float32Array(arr.length);
    for (let i = 0; i < arr.length; i++) {
      if (typeof arr[i] !== 'number' || !Number.isFinite(arr[i])) {
        throw new ServiceError('RALM_ERR_NON_FINITE', `${field}[${i}]: expected a finite number, got ${JSON.stringify(arr[i]) ?? String(arr[i])}`, { field, index: i });
      }
      out[i] = arr[i] as number;
    }
    return out;
  }
  throw new ServiceError('RALM_ERR_VALIDATION', `${field}: expected an array of numbers`, { field });
}

function stringList(v: unknown, field: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ServiceError('RALM_ERR_VALIDATION', `${field}: expected an array of item ids (strings)`, { field });
  return v as string[];
}

export interface BuiltApp {
  app: FastifyInstance;
  metrics: Metrics;
  /** The engine and seed service serving now (they change on a model reload). */
  serving(): { engine: RalmEngine; seeds: SeedService; batcher: RankBatcher; audience: AudienceService };
  /** Background audience jobs (restore() after start, stop() before closing the store). */
  audienceJobs: AudienceJobs;
}

export function buildApp(deps: AppDeps, state: AppState = { ready: true, draining: false }): BuiltApp {
  const { store } = deps;
  const metrics = new Metrics();
  const batchOptions = { maxBatch: 32, maxWaitMs: 2, maxQueue: 1024, ...deps.batching };
  /**
   * What serves requests now. A model reload swaps it in one assignment; each request takes the
   * current one at its start and finishes on it, and an old one is closed once its last request
   * is done.
   */
  interface Serving {
    engine: RalmEngine;
    seeds: SeedService;
    batcher: RankBatcher;
    audience: AudienceService;
    inflight: number;
    idle: Array<() => void>;
  }
  const serving = (engine: RalmEngine, seeds: SeedService): Serving => {
    const audience = new AudienceService(engine, store, deps.audience);
    seeds.onUsersStored((ids, e) => audience.addUsers(ids, e));
    return { engine, seeds, batcher: new RankBatcher(engine, batchOptions, metrics), audience, inflight: 0, idle: [] };
  };
  let current = serving(deps.engine, deps.seeds);
  let reloading = false;
  const enter = (): Serving => {
    const cur = current;
    cur.inflight++;
    return cur;
  };
  const leave = (cur: Serving): void => {
    if (--cur.inflight === 0) for (const f of cur.idle.splice(0)) f();
  };
  const drained = (cur: Serving): Promise<void> => (cur.inflight === 0 ? Promise.resolve() : new Promise((r) => cur.idle.push(r)));
  const requestTimeoutMs = deps.requestTimeoutMs ?? 2000;
  const syncMaxUsers = deps.audience?.syncMaxUsers ?? 200_000;
  /** Runs an audience on what serves now, holding it (a model reload waits for the run to finish). */
  const runAudience = async (spec: AudienceSpec, options: Parameters<AudienceService['run']>[1], mode: 'sync' | 'job'): ReturnType<AudienceService['run']> => {
    const cur = enter();
    try {
      const r = await cur.audience.run(spec, options);
      metrics.audience(mode, 'done', r.timing.scanMs / 1000, r.scored);
      return r;
    } catch (err) {
      metrics.audience(mode, (err as RalmError).code === 'RALM_ERR_CANCELLED' ? 'cancelled' : 'failed');
      throw err;
    } finally {
      leave(cur);
    }
  };
  const audienceJobs = new AudienceJobs(
    store,
    (spec, options) => runAudience(spec, options, 'job'),
    (json) => parseAudienceRequest(json, current.engine.model.manifest.h, current.audience.maxSize),
    deps.audience?.jobs,
  );
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: deps.bodyLimit,
    genReqId: (() => {
      let n = 0;
      return () => `req-${(++n).toString(36)}`;
    })(),
  });

  const maxDelay = deps.maxEventLoopDelayMs ?? 1000;
  if (maxDelay > 0) {
    void app.register(underPressure, {
      maxEventLoopDelay: maxDelay,
      sampleInterval: deps.pressureSampleIntervalMs ?? 1000,
      retryAfter: 1,
      exposeStatusRoute: false,
      pressureHandler: (_req, reply, type, value) => {
        metrics.countError('RALM_ERR_UNDER_PRESSURE');
        reply.header('retry-after', '1').status(503).type('application/json; charset=utf-8').serializer(jsonSerializer);
        void reply.send({ error: { code: 'RALM_ERR_UNDER_PRESSURE', message: `shedding load: ${type} is ${String(value)}, above its limit; retry shortly` } });
      },
    });
  }

  // Handlers validate (naming the field in the service's error format); schemas document the API.
  app.setValidatorCompiler(() => () => true);
  void app.register(swagger, {
    openapi: {
      info: { title: 'ralm', description: 'RALM real-time attention-based look-alike scoring service', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  void app.register(swaggerUi, { routePrefix: '/docs' });

  app.addContentTypeParser(MSGPACK, { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, unpackr.unpack(body as Buffer));
    } catch {
      done(new ServiceError('RALM_ERR_MALFORMED_BODY', 'body: not valid MessagePack'), undefined);
    }
  });

  app.addHook('onRequest', async (req) => {
    (req as FastifyRequest & { t0: number }).t0 = performance.now();
  });
  app.addHook('preHandler', async (req, reply) => useEncoding(req, reply));
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.observeRequest(route, reply.statusCode, (performance.now() - (req as FastifyRequest & { t0: number }).t0) / 1000);
  });

  app.setErrorHandler((err: FastifyError | RalmError | ServiceError, req, reply) => {
    let code: ServiceErrorCode;
    let message = err.message;
    let details: Record<string, unknown> | undefined;
    if (err instanceof RalmError || err instanceof ServiceError) {
      code = err.code;
      details = err.details;
    } else if ((err as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      code = 'RALM_ERR_BODY_TOO_LARGE';
      message = `body: larger than the ${deps.bodyLimit}-byte limit`;
    } else if ((err as FastifyError).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      code = 'RALM_ERR_UNSUPPORTED_MEDIA_TYPE';
      message = `content-type: expected application/json or ${MSGPACK}`;
    } else if ((err as FastifyError).statusCode === 400) {
      code = 'RALM_ERR_MALFORMED_BODY';
      message = `body: ${err.message}`;
    } else {
      code = 'RALM_ERR_INTERNAL';
      req.log.error({ err }, 'unhandled error');
      message = 'internal error (see the server log for the request id)';
    }
    metrics.countError(code);
    if (code === 'RALM_ERR_OVERLOADED') reply.header('retry-after', String((details?.retryAfterSeconds as number | undefined) ?? 1));
    useEncoding(req, reply);
    reply.status(STATUS[code]).send({ error: { code, message, ...(details ? { details } : {}), requestId: req.id } });
  });
  app.setNotFoundHandler((req, reply) => {
    metrics.countError('RALM_ERR_NOT_FOUND');
    reply.type('application/json; charset=utf-8');
    reply.serializer(jsonSerializer);
    reply.status(404).send({ error: { code: 'RALM_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url}`, requestId: req.id } });
  });

  const requireToken = async (req: FastifyRequest): Promise<void> => {
    if (deps.apiToken === null) return;
    if (req.headers.authorization !== `Bearer ${deps.apiToken}`) throw new ServiceError('RALM_ERR_UNAUTHORIZED', 'authorization: expected "Bearer <api token>"');
  };

  /**
   * A request's user → engine input: by id (stored look-alike embedding), given vectors, or raw
   * features through the model's user tower (whose unknown categorical values are reported).
   */
  const resolveUser = async (raw: unknown, engine: RalmEngine): Promise<{ user: EngineUser; unknownValues?: Record<string, string[]> }> => {
    const u = bodyObject(raw, 'user');
    const given = ['id', 'embedding', 'universal', 'features'].filter((k) => u[k] !== undefined);
    if (given.length !== 1) throw new ServiceError('RALM_ERR_VALIDATION', 'user: give exactly one of "id", "embedding", "universal" or "features"', { field: 'user' });
    if (u.features !== undefined) {
      const { universal, unknownValues } = embedUserFeatures(engine.model, u.features, 'user.features');
      return { user: { universal }, unknownValues };
    }
    if (u.id !== undefined) {
      if (typeof u.id !== 'string') throw new ServiceError('RALM_ERR_VALIDATION', 'user.id: expected a string', { field: 'user.id' });
      const { h, modelVersion } = engine.model.manifest;
      const e = new Float32Array(h);
      const [found] = await store.readLookalikes([u.id], modelVersion, h, e);
      if (found) return { user: { embedding: e } };
      const [rec] = await store.getUsers([u.id]);
      if (rec) return { user: { universal: rec.universal } };
      throw new ServiceError('RALM_ERR_UNKNOWN_USER', `user.id: unknown user ${JSON.stringify(u.id)}`, { field: 'user.id' });
    }
    return { user: u.embedding !== undefined ? { embedding: vector(u.embedding, 'user.embedding') } : { universal: vector(u.universal, 'user.universal') } };
  };

  const send = (reply: FastifyReply, payload: unknown): FastifyReply => reply.send(payload);

  void app.register(async (r) => {
    r.post('/v1/recommend', { schema: schemas.recommendSchema }, async (req, reply) => {
      const b = bodyObject(req.body, 'recommend request');
      const t0 = performance.now();
      const asked = req.headers['x-ralm-deadline-ms'];
      let budget = requestTimeoutMs;
      if (asked !== undefined) {
        const v = Number(asked);
        if (!Number.isFinite(v) || v <= 0) throw new ServiceError('RALM_ERR_VALIDATION', `x-ralm-deadline-ms: expected a positive number of milliseconds, got ${JSON.stringify(asked)}`, { field: 'x-ralm-deadline-ms' });
        budget = Math.min(budget, v);
      }
      const cur = enter();
      try {
        const { user, unknownValues } = await resolveUser(b.user, cur.engine);
        const k = b.k === undefined ? 10 : b.k;
        const r = await cur.batcher.submit({ user, k: k as number, candidates: stringList(b.candidates, 'candidates'), exclude: stringList(b.exclude, 'exclude') }, t0 + budget).catch(unprefixed(/^requests\[\d+\]\./));
        metrics.observeCandidates(r.candidates);
        return send(reply, {
          items: r.items,
          candidates: r.candidates,
          backend: r.backend,
          adapter: r.adapter,
          modelVersion: r.modelVersion,
          ...(unknownValues ? { unknownValues } : {}),
          timing: { engineMs: r.elapsedMs, totalMs: performance.now() - t0 },
        });
      } finally {
        leave(cur);
      }
    });

    r.post('/v1/score', { schema: schemas.scoreSchema }, async (req, reply) => {
      const b = bodyObject(req.body, 'score request');
      const t0 = performance.now();
      const items = stringList(b.items, 'items');
      if (!items) throw new ServiceError('RALM_ERR_VALIDATION', 'items: expected an array of item ids', { field: 'items' });
      const cur = enter();
      try {
        const { user, unknownValues } = await resolveUser(b.user, cur.engine);
        const [r] = await cur.engine.score([{ user, items }]).catch(unprefixed(/^requests\[0\]\./));
        return send(reply, {
          items, scores: r.scores, cosGlobal: r.cosGlobal, cosLocal: r.cosLocal, cold: Array.from(r.cold, (c) => c === 1),
          backend: r.backend, adapter: r.adapter, modelVersion: r.modelVersion, ...(unknownValues ? { unknownValues } : {}),
          timing: { engineMs: r.elapsedMs, totalMs: performance.now() - t0 },
        });
      } finally {
        leave(cur);
      }
    });

    r.post('/v1/events', { schema: schemas.eventsSchema }, async (req, reply) => {
      const b = req.body;
      const events = Array.isArray(b) ? b : bodyObject(b, 'events').events;
      if (!Array.isArray(events)) throw new ServiceError('RALM_ERR_VALIDATION', 'events: expected an array of {user, item, ts, id?}', { field: 'events' });
      return send(reply, await current.seeds.ingest(events));
    });

    r.put('/v1/users/:id', { schema: schemas.putUserSchema }, async (req, reply) => {
      const id = idParam(req);
      const b = bodyObject(req.body, 'user');
      const cur = current;
      if (b.features !== undefined && (typeof b.features !== 'object' || b.features === null || Array.isArray(b.features))) {
        throw new ServiceError('RALM_ERR_VALIDATION', 'features: expected an object', { field: 'features' });
      }
      // Given, x_u is stored as is (features stay opaque); otherwise the model's user tower computes it from the features.
      let universal = vector(b.universal, 'universal');
      let unknownValues: Record<string, string[]> | undefined;
      if (!universal) {
        if (b.features === undefined || !cur.engine.model.tower) {
          throw new ServiceError('RALM_ERR_VALIDATION', `universal: required, ${cur.engine.model.manifest.m} numbers${cur.engine.model.tower ? ' (or give features for the user tower)' : ` (model ${cur.engine.model.manifest.modelVersion} has no user tower to compute it from features)`}`, { field: 'universal' });
        }
        ({ universal, unknownValues } = embedUserFeatures(cur.engine.model, b.features, 'features'));
      }
      await cur.seeds.putUsers([{ id, universal, features: b.features as Record<string, unknown> | undefined }]).catch(unprefixed(/^users\[0\]\./));
      return send(reply, { id, stored: true, modelVersion: cur.engine.model.manifest.modelVersion, ...(unknownValues ? { unknownValues } : {}) });
    });

    r.get('/v1/users/:id', { schema: schemas.getUserSchema }, async (req, reply) => {
      const id = idParam(req);
      const [u] = await store.getUsers([id]);
      if (!u) throw new ServiceError('RALM_ERR_UNKNOWN_USER', `id: unknown user ${JSON.stringify(id)}`, { field: 'id' });
      return send(reply, { id, universal: u.universal, features: u.features ?? null, modelVersion: u.modelVersion, updatedAt: u.updatedAt });
    });

    r.put('/v1/items/:id', { schema: schemas.putItemSchema }, async (req, reply) => {
      const id = idParam(req);
      const b = bodyObject(req.body, 'item');
      if (b.metadata !== undefined && b.metadata !== null && (typeof b.metadata !== 'object' || Array.isArray(b.metadata))) {
        throw new ServiceError('RALM_ERR_VALIDATION', 'metadata: expected an object or null', { field: 'metadata' });
      }
      const info = await store.putItemInfo(id, {
        metadata: b.metadata as Record<string, unknown> | null | undefined,
        content: b.content === undefined ? undefined : b.content === null ? null : vector(b.content, 'content'),
      });
      return send(reply, { id, metadata: info.metadata, seedCount: info.seedCount });
    });

    r.get('/v1/items/:id', { schema: schemas.getItemSchema }, async (req, reply) => {
      const id = idParam(req);
      const item = await store.getItem(id);
      if (!item) throw new ServiceError('RALM_ERR_UNKNOWN_ITEM', `id: unknown item ${JSON.stringify(id)}`, { field: 'id' });
      const c = item.clusters;
      const state = !c ? 'waiting-for-seeds' : c.cold ? 'cold' : 'servable';
      return send(reply, {
        id,
        metadata: item.info.metadata,
        content: item.info.content,
        seedCount: item.info.seedCount,
        clicks: item.info.clicks,
        firstSeedAt: item.info.firstSeedAt,
        lastSeedAt: item.info.lastSeedAt,
        state,
        served: current.engine.table.has(id),
        clusters: c ? { centroids: c.count, seeds: c.seeds, cold: c.cold, clusteredAt: c.clusteredAt, modelVersion: c.modelVersion, firstServableAt: c.firstServableAt } : null,
      });
    });

    r.post('/v1/admin/recluster', { preHandler: requireToken, schema: schemas.reclusterSchema }, async (_req, reply) => {
      const r = await current.seeds.recluster('demand');
      return send(reply, { ...r, newlyServable: r.newlyServable.slice(0, 100) });
    });

    r.post('/v1/admin/model', { preHandler: requireToken, schema: schemas.reloadSchema }, async (req, reply) => {
      if (!deps.reloadModel) throw new ServiceError('RALM_ERR_NOT_FOUND', 'model reload is not configured on this server');
      const b = req.body === undefined || req.body === null ? {} : bodyObject(req.body, 'reload request');
      if (b.dir !== undefined && (typeof b.dir !== 'string' || b.dir.length === 0)) throw new ServiceError('RALM_ERR_VALIDATION', 'dir: expected a model directory path', { field: 'dir' });
      if (reloading) throw new ServiceError('RALM_ERR_CONFLICT', 'a model reload is already in progress');
      reloading = true;
      const old = current;
      try {
        // No scheduled run may publish clusters of the old model while the new one is prepared.
        await old.seeds.stop();
        let next;
        try {
          next = await deps.reloadModel(b.dir as string | undefined);
        } catch (err) {
          old.seeds.start();
          throw err;
        }
        const fresh = serving(next.engine, next.seeds);
        try {
          // The new model's user table (users re-embedded under it where needed), before switching.
          await fresh.audience.load();
        } catch (err) {
          await next.engine.close();
          old.seeds.start();
          throw err;
        }
        current = fresh;
        next.seeds.start();
        // Requests that started on the old model finish there; then it is released.
        void drained(old).then(() => old.engine.close());
        return send(reply, {
          modelVersion: next.engine.model.manifest.modelVersion,
          previousModelVersion: old.engine.model.manifest.modelVersion,
          items: next.engine.table.size,
          backend: next.engine.backendKind,
        });
      } finally {
        reloading = false;
      }
    });

    r.post('/v1/audiences', { schema: schemas.audienceSchema }, async (req, reply) => {
      const t0 = performance.now();
      const cur = current;
      const b = bodyObject(req.body, 'audience request');
      const spec = parseAudienceRequest(b, cur.engine.model.manifest.h, cur.audience.maxSize);
      if (b.async !== undefined && typeof b.async !== 'boolean') throw new ServiceError('RALM_ERR_VALIDATION', 'async: expected a boolean', { field: 'async' });
      await cur.audience.load();
      if (b.async === true || cur.audience.workOf(spec) > syncMaxUsers) {
        if (audienceJobs.full) throw new ServiceError('RALM_ERR_OVERLOADED', 'audience jobs: the queue is full; retry later', { retryAfterSeconds: 5 });
        const job = await audienceJobs.submit(spec, specToJson(spec));
        reply.status(202).header('location', `/v1/audiences/${job.id}`);
        return send(reply, { ...job, links: jobLinks(job.id) });
      }
      // Synchronous: cancelled if the client goes away.
      const abort = new AbortController();
      const onClose = (): void => {
        if (!reply.raw.writableFinished) abort.abort();
      };
      req.raw.once('close', onClose);
      try {
        const result = await runAudience(spec, { signal: abort.signal }, 'sync');
        return send(reply, { ...result, timing: { ...result.timing, httpMs: performance.now() - t0 } });
      } finally {
        req.raw.off('close', onClose);
      }
    });

    r.get('/v1/audiences/:id', { schema: schemas.audienceJobSchema }, async (req, reply) => {
      const id = idParam(req);
      const job = await audienceJobs.get(id);
      if (!job) throw new ServiceError('RALM_ERR_NOT_FOUND', `id: no audience job ${JSON.stringify(id)}`, { field: 'id' });
      return send(reply, { ...job, links: jobLinks(id) });
    });

    r.get('/v1/audiences/:id/users', { schema: schemas.audienceUsersSchema }, async (req, reply) => {
      const id = idParam(req);
      const q = (req.query ?? {}) as Record<string, string | undefined>;
      const int = (name: string, dflt: number, min: number, max: number): number => {
        const raw = q[name];
        if (raw === undefined) return dflt;
        const v = Number(raw);
        if (!Number.isSafeInteger(v) || v < min || v > max) throw new ServiceError('RALM_ERR_VALIDATION', `${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`, { field: name });
        return v;
      };
      const job = await audienceJobs.get(id);
      if (!job) throw new ServiceError('RALM_ERR_NOT_FOUND', `id: no audience job ${JSON.stringify(id)}`, { field: 'id' });
      if (job.status !== 'done') throw new ServiceError('RALM_ERR_CONFLICT', `audience job ${id} is ${job.status}; users are available once it is done`, { status: job.status });
      const users = await audienceJobs.users(id);
      if (!users) throw new ServiceError('RALM_ERR_NOT_FOUND', `audience job ${id} has no stored users`);
      if (q.format !== undefined && q.format !== 'ndjson' && q.format !== 'page') {
        throw new ServiceError('RALM_ERR_VALIDATION', `format: expected "page" or "ndjson", got ${JSON.stringify(q.format)}`, { field: 'format' });
      }
      if (q.format === 'ndjson') {
        // The whole audience as a stream, one JSON object per line, best first.
        const lines = function* (): Generator<string> {
          const CHUNK = 1000;
          for (let i = 0; i < users.ids.length; i += CHUNK) {
            let out = '';
            for (let j = i; j < Math.min(users.ids.length, i + CHUNK); j++) {
              out += `${JSON.stringify({ rank: j + 1, id: users.ids[j], score: users.score[j], cosGlobal: users.cosGlobal[j], cosLocal: users.cosLocal[j] })}\n`;
            }
            yield out;
          }
        };
        reply.type('application/x-ndjson');
        reply.serializer((p: unknown) => p as string);
        return reply.send(Readable.from(lines()));
      }
      const offset = int('offset', 0, 0, Number.MAX_SAFE_INTEGER);
      const limit = int('limit', 1000, 1, 100_000);
      const end = Math.min(users.ids.length, offset + limit);
      const page = [];
      for (let j = offset; j < end; j++) page.push({ id: users.ids[j], score: users.score[j], cosGlobal: users.cosGlobal[j], cosLocal: users.cosLocal[j] });
      return send(reply, {
        id, total: users.ids.length, offset, limit, users: page,
        next: end < users.ids.length ? `/v1/audiences/${id}/users?offset=${end}&limit=${limit}` : null,
      });
    });

    r.delete('/v1/audiences/:id', { schema: schemas.audienceCancelSchema }, async (req, reply) => {
      const id = idParam(req);
      const r = await audienceJobs.cancel(id);
      if (!r) throw new ServiceError('RALM_ERR_NOT_FOUND', `id: no audience job ${JSON.stringify(id)}`, { field: 'id' });
      return send(reply, { id, action: r.action, status: r.job.status });
    });

    r.get('/healthz', async (_req, reply) => send(reply, { status: 'ok' }));

    r.get('/readyz', async (_req, reply) => {
      const checks = {
        modelLoaded: true,
        storeOpen: true,
        backend: current.engine.backendKind,
        adapter: current.engine.adapterName,
        modelVersion: current.engine.model.manifest.modelVersion,
        warmedUp: state.ready,
        draining: state.draining,
      };
      const ready = state.ready && !state.draining;
      reply.status(ready ? 200 : 503);
      return send(reply, { ready, ...checks });
    });

    r.get('/metrics', async (_req, reply) => {
      reply.type('text/plain; version=0.0.4');
      reply.serializer((p: unknown) => p as string);
      return reply.send(metrics.render(current.engine, current.seeds, { users: current.audience.users.size, jobsQueued: audienceJobs.queued, jobsRunning: audienceJobs.running }));
    });
  });

  return {
    app, metrics, audienceJobs,
    serving: () => ({ engine: current.engine, seeds: current.seeds, batcher: current.batcher, audience: current.audience }),
  };
}

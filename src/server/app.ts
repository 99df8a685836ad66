/**
 * The RALM service as a Fastify app, composed: the bounds on load first (connection limits and
 * timeouts, shutdown draining), then cross-cutting plugins (validation, errors, request ids,
 * metrics, tokens, rate limits, load shedding, admission, the OpenAPI document), then the API —
 * its encoding and one plugin per route family, each given the same context — in a context of
 * its own, so the API's encoding never touches the documentation page. `server.ts` builds the
 * dependencies and starts it.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { RalmEngine } from '../engine/engine.js';
import type { SeedService } from '../seeds/seed-service.js';
import type { AudienceService } from '../audience/audience-service.js';
import type { AudienceJobs } from '../audience/jobs.js';
import type { RankBatcher } from './batcher.js';
import { appSettings, type AppDeps, type ServiceContext } from './context.js';
import { Metrics } from './metrics.js';
import { MAX_PARAM_LENGTH } from './schemas.js';
import { admission, appWide, type AdmissionState, type WaitEstimate } from './plugins/admission.js';
import { auth } from './plugins/auth.js';
import { clientErrorHandler, protocolEdges } from './plugins/client-errors.js';
import { docs } from './plugins/docs.js';
import { drain, type Drain } from './plugins/drain.js';
import { encoding } from './plugins/encoding.js';
import { errorHandlers, frameworkErrors } from './plugins/error-handler.js';
import { instrument } from './plugins/instrument.js';
import { pressure } from './plugins/pressure.js';
import { rateLimits } from './plugins/rate-limit.js';
import { RequestLog, requestId, requestIds } from './plugins/request-log.js';
import { Serving, type AppState } from './plugins/serving.js';
import { validation } from './plugins/validation.js';
import { adminRoutes } from './routes/admin.js';
import { audiencesRoutes } from './routes/audiences.js';
import { eventsRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { itemsRoutes } from './routes/items.js';
import { recommendRoutes } from './routes/recommend.js';
import { scoreRoutes } from './routes/score.js';
import { usersRoutes } from './routes/users.js';

export type { AppDeps } from './context.js';
export type { AppState } from './plugins/serving.js';

export interface BuiltApp {
  app: FastifyInstance;
  metrics: Metrics;
  /** The engine and seed service serving now (they change on a model reload). */
  serving(): { engine: RalmEngine; seeds: SeedService; batcher: RankBatcher; audience: AudienceService };
  /** Background audience jobs (restore() after start, stop() before closing the store). */
  audienceJobs: AudienceJobs;
  /** Shutdown without dropping a request: stop accepting, finish what is in flight, close (see plugins/drain.ts). */
  drain: Drain;
  /** Switches to another model (see Serving.reload): a model another replica rolled out. */
  reload: Serving['reload'];
  /** Admission's counters and lag governor, once the app is ready (undefined before). */
  admission(): AdmissionState | undefined;
}

const ROUTES = [recommendRoutes, scoreRoutes, eventsRoutes, usersRoutes, itemsRoutes, adminRoutes, audiencesRoutes, healthRoutes];

export function buildApp(deps: AppDeps, state: AppState = { ready: true, draining: false }): BuiltApp {
  const settings = appSettings(deps);
  const metrics = new Metrics();
  // Admission counts the ranking requests in the service; the batcher's dispatch rule reads them.
  let ranking: WaitEstimate | undefined;
  let admitted: AdmissionState | undefined;
  const demand = (): number => ranking?.inflight ?? 0;
  const serving = new Serving({ store: deps.store, metrics, batching: settings.batching, audience: settings.audience, jobs: settings.jobs, demand }, deps.engine, deps.seeds);
  const { limits } = settings;
  const app = Fastify({
    logger: deps.logger ?? false,
    logController: new RequestLog(),
    bodyLimit: settings.bodyLimit,
    genReqId: requestId,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: frameworkErrors(metrics),
    requestTimeout: limits.httpRequestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node enforces both timeouts when it checks connections, every 30 s by default: every second here.
    // Node's own Host check answers with an empty body: plugins/client-errors.ts checks it, coded.
    http: { headersTimeout: Math.min(limits.headersTimeoutMs, limits.httpRequestTimeoutMs), requestTimeout: limits.httpRequestTimeoutMs, connectionsCheckingInterval: 1000, requireHostHeader: false },
    // Shutdown is drain.ts's: coded 503s, and no idle connection closed under a request.
    return503OnClosing: false,
    forceCloseConnections: false,
    clientErrorHandler: clientErrorHandler(limits),
  });
  app.server.maxConnections = limits.maxConnections;

  const drained = drain(app, state);
  validation(app);
  errorHandlers(app, { metrics, bodyLimit: settings.bodyLimit });
  requestIds(app);
  protocolEdges(app);
  instrument(app, metrics);
  auth(app, settings.tokens);
  if (settings.rateLimit > 0) rateLimits(app, { max: settings.rateLimit });
  if (settings.maxEventLoopDelayMs > 0) pressure(app, metrics, { maxEventLoopDelayMs: settings.maxEventLoopDelayMs, sampleIntervalMs: deps.pressureSampleIntervalMs });
  // After load shedding (a registered plugin, so its hook comes when plugins load): a request shed
  // there must not count as admitted work.
  void app.register(appWide(async (instance) => {
    admitted = admission(instance, { maxInflight: limits.maxInflight, maxQueueWaitMs: limits.maxQueueWaitMs, lagTargetMs: limits.admissionLagMs, requestTimeoutMs: settings.requestTimeoutMs });
    ranking = admitted.ranking;
  }));
  docs(app);
  const ctx: ServiceContext = { serving, store: deps.store, metrics, state, settings, reloadModel: deps.reloadModel };
  void app.register(async (api) => {
    encoding(api);
    for (const routes of ROUTES) void api.register(routes, ctx);
  });

  return { app, metrics, audienceJobs: serving.jobs, serving: () => serving.now, drain: drained, reload: (dir, load) => serving.reload(dir, load), admission: () => admitted };
}

/**
 * What the service is built from (`AppDeps`), the settings it runs with, and the context every
 * route family receives. A setting left out of `AppDeps` takes the service default from
 * config.ts — the one home of those defaults.
 */
import type { RalmEngine } from '../engine/engine.js';
import type { RalmStore } from '../store/store.js';
import type { SeedService } from '../seeds/seed-service.js';
import type { AudienceServiceOptions } from '../audience/audience-service.js';
import type { AudienceJobsOptions } from '../audience/jobs.js';
import type { BatcherOptions } from './batcher.js';
import { defaultConfig } from './config.js';
import { allTokens, type ApiToken } from './tokens.js';
import type { Metrics } from './metrics.js';
import type { AppState, ReloadModel, Serving } from './plugins/serving.js';

export interface AppDeps {
  engine: RalmEngine;
  store: RalmStore;
  seeds: SeedService;
  /** A bearer token with every scope; with no token at all (this and apiTokens) the API is open. */
  apiToken: string | null;
  /** Bearer tokens with their scopes (tokens.ts). */
  apiTokens?: readonly ApiToken[];
  bodyLimit: number;
  /** Fastify's logger: false (the default here), or pino options such as `{ level, stream }`. */
  logger?: boolean | object;
  /** POST /v1/admin/model loads a `dir` only from under this directory; without one it reloads only the configured model. */
  modelsRoot?: string;
  /** The configured model directory: on a shared store, a reload of it is announced by its path under the models root. */
  modelDir?: string;
  /** Requests per minute per client on the /v1 routes; 0 or left out: no limit. */
  rateLimit?: number;
  /** Request coalescing; each option left out takes the service default. */
  batching?: Partial<BatcherOptions>;
  /** Default deadline of a recommend request, ms (service default when left out). */
  requestTimeoutMs?: number;
  /** Event-loop delay beyond which requests get 503, ms; 0 disables (service default when left out). */
  maxEventLoopDelayMs?: number;
  /**
   * Builds a ready engine and seed service for a model directory (default: the configured one):
   * loaded, pipelines compiled, items clustered under that model, warmed up. Enables
   * POST /v1/admin/model.
   */
  reloadModel?: ReloadModel;
  /** How often the event loop is sampled for load shedding, ms (see plugins/pressure.ts). */
  pressureSampleIntervalMs?: number;
  /** Connections, timeouts and requests in flight; each left out takes the service default. */
  limits?: Partial<LoadLimits>;
  audience?: AudienceServiceOptions & {
    /** Requests scoring more users than this run as jobs (202 + /v1/audiences/:id). */
    syncMaxUsers?: number;
    jobs?: AudienceJobsOptions;
  };
}

/** What bounds the load one process takes (see plugins/admission.ts and app.ts). */
export interface LoadLimits {
  maxInflight: number;
  maxQueueWaitMs: number;
  /** The event-loop lag admission steers under while refusing, ms. */
  admissionLagMs: number;
  maxConnections: number;
  httpRequestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/** The settings the service runs with: AppDeps over the service defaults. */
export interface AppSettings {
  tokens: ApiToken[];
  modelsRoot: string | undefined;
  modelDir: string | undefined;
  rateLimit: number;
  limits: LoadLimits;
  bodyLimit: number;
  requestTimeoutMs: number;
  maxEventLoopDelayMs: number;
  batching: BatcherOptions;
  audience: AudienceServiceOptions & { maxSize: number; maxClusterSeeds: number };
  audienceSyncMaxUsers: number;
  jobs: AudienceJobsOptions & { maxQueued: number; retentionMs: number; staleMs: number };
}

export function appSettings(deps: AppDeps): AppSettings {
  const d = defaultConfig();
  const { syncMaxUsers, jobs, ...audience } = deps.audience ?? {};
  return {
    tokens: allTokens(deps.apiToken, deps.apiTokens ?? []),
    modelsRoot: deps.modelsRoot,
    modelDir: deps.modelDir,
    rateLimit: deps.rateLimit ?? 0,
    bodyLimit: deps.bodyLimit,
    requestTimeoutMs: deps.requestTimeoutMs ?? d.requestTimeoutMs,
    maxEventLoopDelayMs: deps.maxEventLoopDelayMs ?? d.maxEventLoopDelayMs,
    batching: { maxBatch: d.maxBatch, maxWaitMs: d.maxWaitMs, maxQueue: d.maxQueue, maxHoldMs: d.maxBatchHoldMs, ...deps.batching },
    limits: {
      maxInflight: d.maxInflight, maxQueueWaitMs: d.maxQueueWaitMs, admissionLagMs: d.admissionLagMs, maxConnections: d.maxConnections, httpRequestTimeoutMs: d.httpRequestTimeoutMs,
      headersTimeoutMs: d.headersTimeoutMs, keepAliveTimeoutMs: d.keepAliveTimeoutMs, ...deps.limits,
    },
    audience: { ...audience, maxSize: audience.maxSize ?? d.audienceMaxSize, maxClusterSeeds: audience.maxClusterSeeds ?? d.audienceMaxClusterSeeds },
    audienceSyncMaxUsers: syncMaxUsers ?? d.audienceSyncMaxUsers,
    jobs: { ...jobs, maxQueued: jobs?.maxQueued ?? d.audienceMaxQueuedJobs, retentionMs: jobs?.retentionMs ?? d.audienceRetentionMs, staleMs: jobs?.staleMs ?? d.audienceJobTimeoutMs },
  };
}

/** What every route family is registered with. */
export interface ServiceContext {
  serving: Serving;
  store: RalmStore;
  metrics: Metrics;
  state: AppState;
  settings: AppSettings;
  reloadModel?: ReloadModel;
}

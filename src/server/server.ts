/**
 * Starts the service: loads the model, opens the store and the engine, restores published
 * clusters (or loads the demo world into an empty store), warms up, listens, and shuts down
 * cleanly (readiness off, no new connections, in-flight requests finish, new ones on open
 * connections get a coded 503, background work stops, store flushed, device released).
 */
import { dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { StartupError, systemReason } from '../util/errors.js';
import { loadModel } from '../model/model.js';
import { RalmEngine } from '../engine/engine.js';
import type { EngineOptions } from '../engine/options.js';
import { openStore } from '../store/open-store.js';
import { SeedService } from '../seeds/seed-service.js';
import { buildApp, type AppState } from './app.js';
import { loadDemoWorld } from './demo.js';
import { followStore } from './replication.js';
import { modelDirUnder } from './model-dirs.js';
import { modelId } from '../model/identity.js';
import type { ServiceConfig } from './config.js';
import { allTokens, exposureCheck } from './tokens.js';

export interface RunningService {
  app: FastifyInstance;
  url: string;
  state: AppState;
  close(): Promise<void>;
  /** A demo user's raw features, for the start-up example (when the model has a user tower). */
  exampleFeatures?: Record<string, unknown>;
  /** Where the store is (a directory, or a Valkey/Redis address and its durability rule). */
  storeWhere: string;
}

export async function startService(config: ServiceConfig, log: (line: string) => void = () => undefined): Promise<RunningService> {
  const apiTokens = allTokens(null, config.apiTokens, config.apiTokensFile);
  const exposure = exposureCheck(config.host, allTokens(config.apiToken, apiTokens), config.insecure);
  if (exposure) log(exposure);
  const model = await loadModel(config.modelDir);
  const opened = await openStore(config.store ?? `lmdb:${config.dataDir}`, { durability: config.storeDurability, replicas: config.storeReplicas, lmdbMapSize: config.lmdbMapSize, eventIdRetentionMs: config.eventIdRetentionMs });
  const store = opened.store;
  if (opened.warning) log(`warning: ${opened.warning}`);
  const engineOptions: EngineOptions = {
    backend: config.backend, storage: config.storage, maxPageBytes: config.maxPageBytes, cpuOffload: config.cpuOffload, cpuWorkerNice: config.cpuWorkerNice,
    ...(config.adapter !== null ? { adapter: config.adapter } : {}),
    ...(config.cpuThreads !== null ? { cpuThreads: config.cpuThreads } : {}),
    ...(config.popularityPrior !== null ? { popularityPrior: config.popularityPrior } : {}),
    onEvent: (ev) => log(`engine: ${JSON.stringify(ev)}`),
  };
  const engine = await RalmEngine.create(model, engineOptions).catch(async (err: unknown) => {
    // A shared store's connection would keep the failed process alive.
    await store.close().catch(() => undefined);
    throw err;
  });
  if (engine.isSoftwareAdapter) log(`warning: WebGPU adapter "${engine.adapterName}" is a software rasteriser: correct, but slower than the CPU backend`);
  const seedOptions = {
    intervalMs: config.reclusterIntervalMs, minSeeds: config.minSeeds, leaseMs: config.reclusterLeaseMs, itemLevels: config.itemLevels ? {} : false as const,
    onError: (err: Error) => log(`re-clustering run failed: ${err.message}`),
  };
  const seeds = new SeedService(store, engine, seedOptions);
  const state: AppState = { ready: false, draining: false };
  const reloadModel = async (dir: string | undefined): Promise<{ engine: RalmEngine; seeds: SeedService }> => {
    const next = await loadModel(dir ?? config.modelDir);
    const e = await RalmEngine.create(next, engineOptions);
    try {
      const s = new SeedService(store, e, seedOptions);
      await prepareServing(e, s);
      log(`reloaded model ${next.manifest.modelVersion}: ${e.table.size} items`);
      return { engine: e, seeds: s };
    } catch (err) {
      await e.close();
      throw err;
    }
  };
  const { app, serving, audienceJobs, drain, reload } = buildApp({
    engine, store, seeds, apiToken: config.apiToken, apiTokens, bodyLimit: config.bodyLimit,
    logger: { level: config.logLevel }, modelsRoot: config.modelsRoot ?? dirname(config.modelDir), modelDir: config.modelDir, rateLimit: config.rateLimit,
    batching: { maxBatch: config.maxBatch, maxWaitMs: config.maxWaitMs, maxQueue: config.maxQueue, maxHoldMs: config.maxBatchHoldMs },
    requestTimeoutMs: config.requestTimeoutMs, maxEventLoopDelayMs: config.maxEventLoopDelayMs, reloadModel,
    limits: {
      maxInflight: config.maxInflight, maxQueueWaitMs: config.maxQueueWaitMs, admissionLagMs: config.admissionLagMs, maxConnections: config.maxConnections, httpRequestTimeoutMs: config.httpRequestTimeoutMs,
      headersTimeoutMs: config.headersTimeoutMs, keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    },
    audience: {
      syncMaxUsers: config.audienceSyncMaxUsers, maxSize: config.audienceMaxSize, maxClusterSeeds: config.audienceMaxClusterSeeds, storage: config.audienceStorage, scan: config.audienceScan, candidateFactor: config.audienceCandidateFactor,
      jobs: { maxQueued: config.audienceMaxQueuedJobs, retentionMs: config.audienceRetentionMs, staleMs: config.audienceJobTimeoutMs },
    },
  }, state);

  // The change offset before the snapshot: what other replicas publish from here on is applied after it.
  const offset = await store.coordination?.changesOffset();
  const restored = await seeds.restore();
  log(`model ${engine.modelId} (${model.manifest.provenance.kind}); backend ${engine.adapterName}; restored ${restored.loaded} items`);
  for (const x of restored.skipped) log(`item ${JSON.stringify(x.id)}: stored clusters refused (${x.error}); queued for re-clustering`);
  // The user table first: users stored from here on (the demo world's too) join it as they are stored.
  const users = await serving().audience.load();
  log(`audience: ${users.users} users in the user table${users.reembedded > 0 ? ` (${users.reembedded} re-embedded under this model)` : ''}`);
  // A shared store gets the demo world once, from the one replica that claims it.
  if ((await store.stats()).items === 0 && config.demo && (await store.coordination?.claimOnce('demo-world') ?? true)) {
    const demo = await loadDemoWorld(seeds);
    log(`empty store: loaded the demo world (${demo.users} users, ${demo.items} items, ${demo.events} clicks)`);
  }
  const rollOut = (id: string, dir: string): Promise<void> => followModel(config, id, dir, serving().engine.modelId, (real) => reload(real, reloadModel), log);
  // A replica that starts after a rollout serves the rolled-out model too (from its own models root, by id), before it is ready.
  const rolled = await store.coordination?.rolledOutModel();
  if (rolled) await rollOut(rolled.id, rolled.dir);
  const follower = offset === undefined ? undefined : followStore(store, offset, () => serving(), log, rollOut);
  // With a user tower, a demo user's stored features make the start-up example of `{features}`.
  let exampleFeatures: Record<string, unknown> | undefined;
  if (model.tower) {
    const [u] = await store.getUsers(['demo-science-7']);
    const names = new Set(model.manifest.userFields.map((f) => f.name));
    if (u?.features && Object.keys(u.features).every((k) => names.has(k))) exampleFeatures = u.features;
  }
  const jobs = await audienceJobs.restore();
  if (jobs.requeued > 0) log(`audience: ${jobs.requeued} unfinished job(s) queued again`);
  await warmUp(engine);
  seeds.start();
  // Ready only once every change published before this replica started is applied here.
  await follower?.caughtUp;
  const url = await app.listen({ host: config.host, port: config.port }).catch(async (err: unknown) => {
    await app.close();
    await follower?.stop();
    await audienceJobs.stop();
    await seeds.stop();
    await engine.close();
    await store.close();
    throw new StartupError('RALM_ERR_LISTEN', `cannot listen on ${config.host}:${config.port}: ${systemReason(err)}`);
  });
  state.ready = true;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      state.draining = true;
      // Background work stops now, beside the drain: a running audience job stays queued in the
      // store and re-runs after a restart; a re-clustering run in progress finishes.
      const background = Promise.all([audienceJobs.stop(), serving().seeds.stop()]);
      await drain.close(); // stops accepting, answers what is in flight, closes every connection
      await background;
      await follower?.stop();
      const now = serving(); // after a model reload, not the engine this function started with
      await now.seeds.stop();
      await now.engine.close();
      await engine.close();
      await store.close();
    })();
    return closing;
  };
  return { app, url, state, close, exampleFeatures, storeWhere: opened.where };
}

/**
 * Loads the model another replica rolled out: the directory it names under this replica's models
 * root, only if its weights are the announced model's (its id: name and weights checksum) — a
 * different model at that path is refused, and this replica keeps serving the one it has. The
 * switch is the same as an admin reload's: prepared aside, then one assignment.
 */
async function followModel(config: ServiceConfig, id: string, dir: string, current: string, reload: (real: string) => Promise<unknown>, log: (line: string) => void): Promise<void> {
  if (id === current) return;
  const root = config.modelsRoot ?? dirname(config.modelDir);
  try {
    const real = await modelDirUnder(root, dir);
    const found = modelId(await loadModel(real));
    if (found !== id) {
      log(`model rollout refused: ${JSON.stringify(dir)} under the models root holds ${found}, not the announced ${id}; still serving ${current}`);
      return;
    }
    await reload(real);
    log(`model rolled out by another replica: now serving ${id}`);
  } catch (err) {
    log(`model rollout to ${id} (${JSON.stringify(dir)}) refused: ${(err as Error).message}; still serving ${current}`);
  }
}

/** One real dispatch before serving (pipelines compiled and every path exercised). */
async function warmUp(engine: RalmEngine): Promise<void> {
  if (engine.table.size > 0) await engine.rank([{ user: { embedding: new Float32Array(engine.model.manifest.h).fill(0.1) }, k: 1 }]);
}

/**
 * Makes a fresh engine serve the store under its own model: clusters stored for that model
 * version are republished; the rest (all of them after a model change, since centroids live in
 * the transformed space) are re-clustered now; then a warm-up dispatch.
 */
export async function prepareServing(engine: RalmEngine, seeds: SeedService): Promise<void> {
  const restored = await seeds.restore();
  if (restored.stale > 0 || restored.skipped.length > 0) await seeds.recluster('demand');
  await warmUp(engine);
}

/** Example requests printed at start-up. */
export function exampleRequests(url: string, features?: Record<string, unknown>): string {
  return [
    `try:`,
    `  curl -s ${url}/v1/recommend -H 'content-type: application/json' -d '{"user":{"id":"demo-science-7"},"k":5}'`,
    ...(features ? [`  curl -s ${url}/v1/recommend -H 'content-type: application/json' -d '${JSON.stringify({ user: { features }, k: 5 })}'`] : []),
    `  curl -s ${url}/v1/score -H 'content-type: application/json' -d '{"user":{"id":"demo-music-3"},"items":["demo-music-article-0","demo-sports-article-0"]}'`,
    `  curl -s ${url}/v1/events -H 'content-type: application/json' -d '{"events":[{"user":"demo-food-1","item":"demo-food-new","ts":${Date.now()}}]}'`,
    `  curl -s ${url}/v1/audiences -H 'content-type: application/json' -d '{"seeds":["demo-music-1","demo-music-2","demo-music-3"],"size":5}'`,
    `  curl -s -X POST ${url}/v1/admin/recluster`,
    `  curl -s ${url}/v1/items/demo-science-breaking-news`,
    `  curl -s ${url}/metrics`,
  ].join('\n');
}

/**
 * The public library API of the `ralm` package: `import { … } from 'ralm'`.
 *
 * Only what has a stable, typed signature is exported here; everything else under `dist/` is an
 * implementation detail that the package's `exports` map does not expose. Kept as a flat list of
 * re-exports so that moving a file changes one line. docs/library.md describes each entry point.
 */

// Errors: one coded error type; `code` is stable (see docs/http-api.md for the HTTP statuses).
export { RalmError, StartupError } from './util/errors.js';
export type { RalmErrorCode, StartupErrorCode } from './util/errors.js';

// The model format: load, save, and the seeded-random model used by tests and benchmarks.
export { loadModel, saveModel } from './model/model.js';
export type { RalmModel, ModelManifest, ModelWeights, Provenance, FieldKind, UserFieldSchema, UserTower, UserTowerSpec, UserTowerLayer, UserTowerWeights, UserTowerToSave } from './model/model.js';
export { randomModel } from './model/random.js';
export type { RandomModelOptions, RandomTowerOptions } from './model/random.js';
export { defaultModelDir } from './util/paths.js';

// The engine: ranking and scoring on WebGPU or the CPU.
export { RalmEngine, ENGINE_DEFAULTS } from './engine/engine.js';
export type { BackendChoice, EngineOptions, EngineEvent, EngineStats, UserInput, RankRequest, RankedItem, RankResult, ScoreRequest, ScoreResult, ResultInfo, ItemCentroids } from './engine/engine.js';
export type { BackendKind } from './core/backend.js';
export type { CentroidStorage } from './core/item-table.js';
export type { CpuKernel } from './cpu/cpu-backend.js';

// The store: the interface, its records, the embedded LMDB implementation and the shared Valkey/Redis one.
export type { RalmStore, ClickEvent, IngestResult, UserInput as StoreUserInput, UserRecord, ItemInfo, ItemClusters, SeedRecord, AudienceRecord, AudienceUsers, StoreStats, StoreCoordination, StoreChange } from './store/store.js';
export { LmdbStore } from './store/lmdb-store.js';
export type { LmdbStoreOptions } from './store/lmdb-store.js';
export { RedisStore } from './store/redis-store.js';
export type { RedisStoreOptions } from './store/redis-store.js';
export { REDIS_DEFAULTS } from './store/defaults.js';
export { openStore } from './store/open-store.js';

// Real-time seeds: durable click ingestion and re-clustering.
export { SeedService } from './seeds/seed-service.js';
export type { SeedServiceOptions, RunReport, SeedMetrics } from './seeds/seed-service.js';

// Audience expansion: seed users in, the N most similar users out.
export { AudienceService } from './audience/audience-service.js';
export type { AudienceServiceOptions, AudienceSpec, AudienceUser, AudienceResult, RunOptions as AudienceRunOptions } from './audience/audience-service.js';

// The HTTP service: the Fastify app, the whole service, and its configuration.
export { buildApp } from './server/app.js';
export type { AppDeps, AppState, BuiltApp } from './server/app.js';
export { startService } from './server/server.js';
export type { RunningService } from './server/server.js';
export { loadConfig, defaultConfig } from './server/config.js';
export type { ServiceConfig } from './server/config.js';
export { parseTokenList } from './server/tokens.js';
export type { ApiToken, Scope } from './server/tokens.js';

// Data, training and evaluation.
export { openDataset } from './data/open.js';
export type { OpenOptions, DatasetKind } from './data/open.js';
export type { Dataset } from './data/dataset.js';
export type { ClickLog } from './data/dataset.js';
export { openClickLog } from './data/open.js';
export { trainModel } from './train/pipeline.js';
export type { TrainOptions, TrainReport } from './train/pipeline.js';
export { evalRecommend } from './eval/recommend-eval.js';
export type { RecommendEvalOptions, RecommendEvalResult } from './eval/recommend-eval.js';
export { evalAudience } from './eval/audience-eval.js';
export type { AudienceEvalOptions, AudienceEvalResult } from './eval/audience-eval.js';
export { tune } from './eval/tune.js';
export type { TuneGrid, TuneOptions, TuneResult } from './eval/tune.js';

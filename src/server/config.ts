/**
 * Service configuration: environment variables, overridden by `ralm serve` flags, validated at
 * start with errors that name the setting and what was expected.
 */
import { resolve } from 'node:path';
import { AUDIENCE_DEFAULTS, AUDIENCE_JOB_DEFAULTS } from '../audience/defaults.js';
import { TWO_PASS_DEFAULTS } from '../core/two-pass.js';
import { ENGINE_DEFAULTS } from '../engine/options.js';
import { ITEM_LEVEL_DEFAULTS } from '../engine/item-levels.js';
import { SEED_DEFAULTS } from '../seeds/defaults.js';
import { isRedisSpec, LMDB_DEFAULTS, REDIS_DEFAULTS, type Durability } from '../store/defaults.js';
import { RalmError } from '../util/errors.js';
import { defaultModelDir } from '../util/paths.js';
import { bool, int, num, oneOf, settingsFrom, str, type OptionTable } from '../util/options.js';
import { MAX_PRIOR_WEIGHT } from '../model/prior.js';
import { apiToken, parseTokenList, readTokenFile, SCOPES, type ApiToken } from './tokens.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ServiceConfig {
  host: string;
  port: number;
  dataDir: string;
  /** The store: null for the embedded one in dataDir, else `lmdb:DIR` or a Valkey/Redis address. */
  store: string | null;
  /** Valkey/Redis durability rule (auto, fsync, waitaof, none). */
  storeDurability: Durability;
  /** Valkey/Redis replicas that must also fsync each write under waitaof. */
  storeReplicas: number;
  modelDir: string;
  backend: 'auto' | 'webgpu' | 'cpu';
  /** Centroid storage in the item table. */
  storage: 'f32' | 'f16' | 'int8';
  /** Substring of the WebGPU adapter name to use (null: the first the platform offers). */
  adapter: string | null;
  /** Upper bound on one item-table page's centroid bytes. */
  maxPageBytes: number;
  /** CPU worker threads (null: one per core). */
  cpuThreads: number | null;
  cpuOffload: boolean;
  /** Nice steps the CPU worker threads run below the event loop (Linux). */
  cpuWorkerNice: number;
  /** λ of the popularity prior added to every score (null: the model's manifest value, 0 when it has none). */
  popularityPrior: number | null;
  /** The LMDB map's initial size in bytes (it grows as the store does). */
  lmdbMapSize: number;
  /** How long event ids are remembered for de-duplication, ms (either store). */
  eventIdRetentionMs: number;
  reclusterIntervalMs: number;
  /** Shared store: the re-clustering lease's time to live, ms (renewed every third of it while a run lasts). */
  reclusterLeaseMs: number;
  minSeeds: number;
  /** Publish each re-clustered item with its level offset (engine/item-levels.ts). */
  itemLevels: boolean;
  /** A bearer token with every scope (see tokens.ts). */
  apiToken: string | null;
  /** Bearer tokens with their scopes, from the list setting. */
  apiTokens: ApiToken[];
  /** Bearer tokens with their scopes, from the token file. */
  apiTokensFile: ApiToken[];
  /** Serve a non-loopback host without any token. */
  insecure: boolean;
  /** POST /v1/admin/model loads only from under this directory (null: the one holding modelDir). */
  modelsRoot: string | null;
  /** Requests per minute per client on the /v1 routes (0: no limit). */
  rateLimit: number;
  /** Level of the JSON log on stdout. */
  logLevel: LogLevel;
  /** Largest request body in bytes. */
  bodyLimit: number;
  /** Load a small deterministic demo world when the store is empty. */
  demo: boolean;
  /** Most recommend requests coalesced into one engine call. */
  maxBatch: number;
  /** Longest a recommend request waits for others to batch with, ms. */
  maxWaitMs: number;
  /** Recommend requests waiting beyond which the service answers 429. */
  maxQueue: number;
  /** Default deadline of a recommend request, ms (a request may ask for less with x-ralm-deadline-ms). */
  requestTimeoutMs: number;
  /** Event-loop delay beyond which requests are shed with 503, ms (0 disables). */
  maxEventLoopDelayMs: number;
  /** Longest expected wait ahead of a recommend or score request at arrival (and at most half its deadline), ms; beyond it: 429. */
  maxQueueWaitMs: number;
  /** Event-loop lag above which, while refusing, admission lowers the wait it allows ahead of a ranking request, ms. */
  admissionLagMs: number;
  /** Requests being handled at once (health and metrics aside) beyond which the answer is 429. */
  maxInflight: number;
  /** Open connections beyond which new ones are closed at once. */
  maxConnections: number;
  /** Longest one coalesced batch may hold the event loop, ms (estimated from recent batches). */
  maxBatchHoldMs: number;
  /** Longest a client may take to send a whole request, ms (then 408 and the connection closes). */
  httpRequestTimeoutMs: number;
  /** Longest a client may take to send the request headers, ms (at most httpRequestTimeoutMs). */
  headersTimeoutMs: number;
  /** How long an idle kept-alive connection stays open, ms. */
  keepAliveTimeoutMs: number;
  /** After SIGTERM/SIGINT, how long in-flight work may take before the process exits anyway, ms. */
  shutdownGraceMs: number;
  /** Drain and exit when the parent process exits (`auto`: when started by npm). */
  exitWithParent: 'auto' | 'true' | 'false';
  /** Audience requests scoring more users than this run as background jobs. */
  audienceSyncMaxUsers: number;
  /** Largest audience size N a request may ask for. */
  audienceMaxSize: number;
  /** Most seeds clustered per audience (larger seed sets are sampled). */
  audienceMaxClusterSeeds: number;
  /** Audience user-table storage. */
  audienceStorage: 'f32' | 'int8';
  /** Audience scan: every user exactly, or a first pass choosing candidates for the exact score. */
  audienceScan: 'exact' | 'two-pass';
  /** Two-pass scan: candidates per audience, as a multiple of its N. */
  audienceCandidateFactor: number;
  /** Audience jobs waiting beyond the running one; more are refused with 429. */
  audienceMaxQueuedJobs: number;
  /** How long finished audience jobs and their users are kept, ms. */
  audienceRetentionMs: number;
  /** Shared store: an audience job whose runner has not heart-beaten for this long is run by another replica, ms. */
  audienceJobTimeoutMs: number;
}

/** Each setting: environment variable, flag, default and parser — the only home of the service's defaults. */
export const SERVICE_OPTIONS = {
  host: { flag: 'host', env: 'RALM_HOST', arg: 'H', default: '127.0.0.1', help: 'address to listen on', parse: str() },
  port: { flag: 'port', env: 'RALM_PORT', arg: 'N', default: '8080', help: 'port to listen on (0: any free port)', parse: int(0, 65535) },
  dataDir: { flag: 'data-dir', env: 'RALM_DATA_DIR', arg: 'DIR', default: 'data', help: 'the embedded store (LMDB) directory', parse: (v: string) => resolve(str()(v)) },
  store: { flag: 'store', env: 'RALM_STORE', arg: 'SPEC', default: '', defaultText: 'lmdb:<data-dir>', help: 'the store: lmdb:DIR (embedded), redis://HOST:PORT[/DB] or redis-cluster://HOST:PORT,… (shared by replicas)', parse: parseStoreSpec },
  storeDurability: { flag: 'store-durability', env: 'RALM_STORE_DURABILITY', arg: 'auto|fsync|waitaof|none', default: REDIS_DEFAULTS.durability, help: 'Valkey/Redis: when a write is acknowledged (fsync: the server runs appendfsync always; waitaof: WAITAOF after each write; none: in memory only; auto: fsync, else waitaof)', parse: oneOf(['auto', 'fsync', 'waitaof', 'none'] as const) },
  storeReplicas: { flag: 'store-replicas', env: 'RALM_STORE_REPLICAS', arg: 'N', default: String(REDIS_DEFAULTS.replicas), help: 'Valkey/Redis with waitaof: replicas that must also fsync each write before it is acknowledged', parse: int(0, 100) },
  modelDir: { flag: 'model-dir', env: 'RALM_MODEL_DIR', arg: 'DIR', default: defaultModelDir, defaultText: 'the shipped weights/default', help: 'model directory to serve', parse: (v: string) => resolve(str()(v)) },
  backend: { flag: 'backend', env: 'RALM_BACKEND', arg: 'auto|webgpu|cpu', default: ENGINE_DEFAULTS.backend, help: 'compute backend (auto: WebGPU on a hardware adapter, else CPU)', parse: oneOf(['auto', 'webgpu', 'cpu'] as const) },
  // int8: the fastest storage whose top-10 lists stay ≥ 0.99 the same as f32 on real clusters (docs/benchmarks.md#quantized-storage).
  storage: { flag: 'storage', env: 'RALM_STORAGE', arg: 'f32|f16|int8', default: 'int8', help: 'centroid storage in the item table (f16 halves its memory and bandwidth; int8: the CPU kernel reads a quarter of the bytes, integer dot products; f32: exact)', parse: oneOf(['f32', 'f16', 'int8'] as const) },
  adapter: { flag: 'adapter', env: 'RALM_ADAPTER', arg: 'NAME', default: '', defaultText: 'the first adapter', help: 'use the WebGPU adapter whose name contains NAME', parse: (v: string) => (v === '' ? null : v) },
  maxPageBytes: { flag: 'max-page-bytes', env: 'RALM_MAX_PAGE_BYTES', arg: 'BYTES', default: String(ENGINE_DEFAULTS.maxPageBytes), help: 'upper bound on one item-table page of centroids (the device binding limit also applies)', parse: int(1 << 20, 2 ** 40) },
  cpuThreads: { flag: 'cpu-threads', env: 'RALM_CPU_THREADS', arg: 'auto|N', default: 'auto', defaultText: 'auto: one per core', help: 'CPU worker threads for scoring and audience scans', parse: (v: string) => (v === 'auto' ? null : int(1, 256)(v)) },
  cpuOffload: { flag: 'cpu-offload', env: 'RALM_CPU_OFFLOAD', arg: 'true|false', default: 'true', help: 'rank on the CPU worker threads, keeping the event loop free for other requests (false: half of each request on the event loop, lowest latency when idle)', parse: bool },
  cpuWorkerNice: { flag: 'cpu-worker-nice', env: 'RALM_CPU_WORKER_NICE', arg: 'N', default: '4', help: 'how many nice steps below the event loop the CPU worker threads run (Linux; 0 to 19), so that reading, refusing and answering requests gets a core ahead of a batch being scored', parse: int(0, 19) },
  popularityPrior: { flag: 'popularity-prior', env: 'RALM_POPULARITY_PRIOR', arg: 'model|X', default: 'model', help: `λ of the popularity prior λ·ln(1 + clickers) added to every item's score (model: the model's own, chosen when it was trained; a number within ±${MAX_PRIOR_WEIGHT} overrides it; 0: the look-alike score alone)`, parse: (v: string) => (v === 'model' ? null : num(-MAX_PRIOR_WEIGHT, MAX_PRIOR_WEIGHT)(v)) },
  lmdbMapSize: { flag: 'lmdb-map-size', env: 'RALM_LMDB_MAP_SIZE', arg: 'BYTES', default: String(LMDB_DEFAULTS.mapSize), help: 'initial size of the store\'s memory map (address space, not disk; LMDB grows it as the store grows)', parse: int(1 << 20, 2 ** 50) },
  eventIdRetentionMs: { flag: 'event-id-retention-ms', env: 'RALM_EVENT_ID_RETENTION_MS', arg: 'N', default: String(LMDB_DEFAULTS.eventIdRetentionMs), help: 'how long event ids are remembered, so that a re-sent event (same id, same item) is a duplicate, ms (a shared store keeps them in memory: shorter at high event rates)', parse: int(0, 365 * 86_400_000) },
  reclusterIntervalMs: { flag: 'recluster-interval-ms', env: 'RALM_RECLUSTER_INTERVAL_MS', arg: 'N', default: String(SEED_DEFAULTS.intervalMs), help: 'how often items with new seeds are re-clustered, ms', parse: int(1000, 86_400_000) },
  reclusterLeaseMs: { flag: 'recluster-lease-ms', env: 'RALM_RECLUSTER_LEASE_MS', arg: 'N', default: String(SEED_DEFAULTS.leaseMs), help: 'shared store: the re-clustering lease\'s time to live, ms (its holder renews it every third of it; a replica that stops renewing loses it after this long)', parse: int(300, 3_600_000) },
  minSeeds: { flag: 'min-seeds', env: 'RALM_MIN_SEEDS', arg: 'N', default: String(SEED_DEFAULTS.minSeeds), help: 'seeds below which an item is served as cold', parse: int(1, 1e9) },
  itemLevels: { flag: 'item-levels', env: 'RALM_ITEM_LEVELS', arg: 'on|off', default: ITEM_LEVEL_DEFAULTS.enabled ? 'on' : 'off', help: `publish each item with fewer than ${ITEM_LEVEL_DEFAULTS.levelBelow} clickers with a level offset that puts its scores on the established items' level (off: offset 0; levels are still measured and stored)`, parse: (v: string) => oneOf(['on', 'off'] as const)(v) === 'on' },
  apiToken: { flag: 'api-token', env: 'RALM_API_TOKEN', arg: 'T', default: '', help: 'a bearer token with every scope (empty: none)', parse: (v: string) => (v === '' ? null : apiToken(v, SCOPES).token) },
  apiTokens: { flag: 'api-tokens', env: 'RALM_API_TOKENS', arg: 'LIST', default: '', help: 'bearer tokens and their scopes: scope[+scope]:token,… with scopes read, write, admin', parse: parseTokenList },
  apiTokensFile: { flag: 'api-tokens-file', env: 'RALM_API_TOKENS_FILE', arg: 'FILE', default: '', help: 'a file of scope[+scope]:token lines (keeps tokens out of process listings)', parse: (v: string) => (v === '' ? [] : readTokenFile(resolve(v))) },
  insecure: { flag: 'insecure', env: 'RALM_INSECURE', boolean: true, default: 'false', help: 'serve a host other than loopback without any token', parse: bool },
  modelsRoot: { flag: 'models-root', env: 'RALM_MODELS_ROOT', arg: 'DIR', default: '', defaultText: 'the directory holding --model-dir', help: 'POST /v1/admin/model loads models only from under this directory', parse: (v: string) => (v === '' ? null : resolve(v)) },
  rateLimit: { flag: 'rate-limit', env: 'RALM_RATE_LIMIT', arg: 'N', default: '0', help: 'requests per minute per token (per address without one) on the /v1 routes (0: no limit)', parse: int(0, 1e9) },
  logLevel: { flag: 'log-level', env: 'RALM_LOG_LEVEL', arg: 'LEVEL', default: 'info', help: `JSON log lines on stdout at this level and above (${LOG_LEVELS.join(', ')})`, parse: oneOf(LOG_LEVELS) },
  bodyLimit: { flag: 'body-limit', env: 'RALM_BODY_LIMIT', arg: 'BYTES', default: String(8 * 1024 * 1024), help: 'largest request body', parse: int(1024, 1 << 30) },
  demo: { flag: 'demo', env: 'RALM_DEMO', arg: 'true|false', default: 'true', help: 'load a small deterministic demo world into an empty store', parse: bool },
  maxBatch: { flag: 'max-batch', env: 'RALM_MAX_BATCH', arg: 'N', default: '32', help: 'most recommend requests coalesced into one engine call', parse: int(1, 1024) },
  maxWaitMs: { flag: 'max-wait-ms', env: 'RALM_MAX_WAIT_MS', arg: 'N', default: '2', help: 'longest a recommend request waits for others to batch with, ms', parse: int(0, 1000) },
  maxQueue: { flag: 'max-queue', env: 'RALM_MAX_QUEUE', arg: 'N', default: '1024', help: 'recommend requests waiting beyond which the service answers 429', parse: int(1, 1_000_000) },
  requestTimeoutMs: { flag: 'request-timeout-ms', env: 'RALM_REQUEST_TIMEOUT_MS', arg: 'N', default: '2000', help: 'default deadline of a recommend request, ms (x-ralm-deadline-ms may ask for less)', parse: int(1, 600_000) },
  maxEventLoopDelayMs: { flag: 'max-event-loop-delay-ms', env: 'RALM_MAX_EVENT_LOOP_DELAY_MS', arg: 'N', default: '500', help: 'mean event-loop delay (over half a second) beyond which requests are shed with 503, ms (0 disables)', parse: int(0, 600_000) },
  maxQueueWaitMs: { flag: 'max-queue-wait-ms', env: 'RALM_MAX_QUEUE_WAIT_MS', arg: 'N', default: '250', help: 'longest expected wait ahead of a recommend or score request (and at most half its deadline) beyond which it is refused with 429 on arrival, ms', parse: int(1, 600_000) },
  admissionLagMs: { flag: 'admission-lag-ms', env: 'RALM_ADMISSION_LAG_MS', arg: 'N', default: '50', help: 'event-loop lag above which, while refusing requests, admission lowers the wait it allows ahead of a recommend or score request, ms (lower: faster refusals under overload, fewer requests accepted)', parse: int(5, 10_000) },
  maxInflight: { flag: 'max-inflight', env: 'RALM_MAX_INFLIGHT', arg: 'N', default: '512', help: 'requests being handled at once (health and metrics aside) beyond which the answer is 429', parse: int(1, 1_000_000) },
  maxConnections: { flag: 'max-connections', env: 'RALM_MAX_CONNECTIONS', arg: 'N', default: '4096', help: 'open connections beyond which new ones are closed at once', parse: int(1, 1_000_000) },
  maxBatchHoldMs: { flag: 'max-batch-hold-ms', env: 'RALM_MAX_BATCH_HOLD_MS', arg: 'N', default: '25', help: 'longest one coalesced batch may hold the event loop, ms (estimated from recent batches)', parse: int(1, 10_000) },
  httpRequestTimeoutMs: { flag: 'http-request-timeout-ms', env: 'RALM_HTTP_REQUEST_TIMEOUT_MS', arg: 'N', default: '30000', help: 'longest a client may take to send a whole request, ms (then 408)', parse: int(1000, 3_600_000) },
  headersTimeoutMs: { flag: 'headers-timeout-ms', env: 'RALM_HEADERS_TIMEOUT_MS', arg: 'N', default: '10000', help: 'longest a client may take to send the request headers, ms (then 408)', parse: int(1000, 3_600_000) },
  keepAliveTimeoutMs: { flag: 'keep-alive-timeout-ms', env: 'RALM_KEEP_ALIVE_TIMEOUT_MS', arg: 'N', default: '72000', help: 'how long an idle kept-alive connection stays open, ms', parse: int(1000, 3_600_000) },
  shutdownGraceMs: { flag: 'shutdown-grace-ms', env: 'RALM_SHUTDOWN_GRACE_MS', arg: 'N', default: '25000', help: 'after SIGTERM/SIGINT, how long in-flight work may take before the process exits anyway (code 1), ms', parse: int(100, 3_600_000) },
  exitWithParent: { flag: 'exit-with-parent', env: 'RALM_EXIT_WITH_PARENT', arg: 'auto|true|false', default: 'auto', help: 'drain and exit when the parent process exits (auto: when started by npm)', parse: oneOf(['auto', 'true', 'false'] as const) },
  audienceSyncMaxUsers: { flag: 'audience-sync-max-users', env: 'RALM_AUDIENCE_SYNC_MAX_USERS', arg: 'N', default: '200000', help: 'audience requests scoring more users than this run as background jobs', parse: int(0, 1e9) },
  audienceMaxSize: { flag: 'audience-max-size', env: 'RALM_AUDIENCE_MAX_SIZE', arg: 'N', default: String(AUDIENCE_DEFAULTS.maxSize), help: 'largest audience size N a request may ask for', parse: int(1, 1e8) },
  audienceMaxClusterSeeds: { flag: 'audience-max-cluster-seeds', env: 'RALM_AUDIENCE_MAX_CLUSTER_SEEDS', arg: 'N', default: String(AUDIENCE_DEFAULTS.maxClusterSeeds), help: 'most seeds clustered per audience (larger seed sets are sampled)', parse: int(1, 1e7) },
  // int8: faster, recall@1000 against f32 ≥ 0.99 (docs/benchmarks.md#quantized-storage); AUDIENCE_DEFAULTS.storage (f32) is the library's.
  audienceStorage: { flag: 'audience-storage', env: 'RALM_AUDIENCE_STORAGE', arg: 'f32|int8', default: 'int8', help: 'audience user-table storage (int8: the CPU scan reads int8 codes, a quarter of the bytes, with integer dot products)', parse: oneOf(['f32', 'int8'] as const) },
  // two-pass: recall@1000 against exact ≥ 0.99 measured (docs/benchmarks.md#audience-two-pass-scan); AUDIENCE_DEFAULTS.scan (exact) is the library's.
  audienceScan: { flag: 'audience-scan', env: 'RALM_AUDIENCE_SCAN', arg: 'exact|two-pass', default: 'two-pass', help: 'audience scan (two-pass: a cheap first pass over every user keeps candidates, the exact score ranks them)', parse: oneOf(['exact', 'two-pass'] as const) },
  audienceCandidateFactor: { flag: 'audience-candidate-factor', env: 'RALM_AUDIENCE_CANDIDATE_FACTOR', arg: 'N', default: String(TWO_PASS_DEFAULTS.factor), help: 'two-pass audience scan: candidates kept per audience, as a multiple of its size N', parse: int(1, 10_000) },
  audienceMaxQueuedJobs: { flag: 'audience-max-queued-jobs', env: 'RALM_AUDIENCE_MAX_QUEUED_JOBS', arg: 'N', default: String(AUDIENCE_JOB_DEFAULTS.maxQueued), help: 'audience jobs waiting beyond the running one; more are refused with 429', parse: int(0, 10_000) },
  audienceRetentionMs: { flag: 'audience-retention-ms', env: 'RALM_AUDIENCE_RETENTION_MS', arg: 'N', default: String(AUDIENCE_JOB_DEFAULTS.retentionMs), help: 'how long finished audience jobs and their users are kept, ms', parse: int(1000, 365 * 86_400_000) },
  audienceJobTimeoutMs: { flag: 'audience-job-timeout-ms', env: 'RALM_AUDIENCE_JOB_TIMEOUT_MS', arg: 'N', default: String(AUDIENCE_JOB_DEFAULTS.staleMs), help: 'shared store: an audience job whose runner has not heart-beaten for this long (it beats every third of it) is run again by another replica, ms', parse: int(300, 86_400_000) },
} as const satisfies OptionTable;

/** `--store`: empty (the embedded store in --data-dir), lmdb:DIR, or a Valkey/Redis address. */
function parseStoreSpec(v: string): string | null {
  if (v === '') return null;
  if (isRedisSpec(v)) return v;
  if (v.startsWith('lmdb:') && v.length > 5) return `lmdb:${resolve(v.slice(5))}`;
  throw new RalmError('RALM_ERR_VALIDATION', `expected lmdb:DIR, redis://HOST:PORT[/DB] or redis-cluster://HOST:PORT[,HOST:PORT…], got ${JSON.stringify(v)}`, { field: 'store' });
}

/** The configuration from the environment, overridden by flags (keyed by flag name), validated. */
export function loadConfig(env: NodeJS.ProcessEnv, flags: Readonly<Record<string, unknown>> = {}): ServiceConfig {
  return settingsFrom(SERVICE_OPTIONS, env, flags);
}

/** The configuration with nothing set: every default. */
export function defaultConfig(): ServiceConfig {
  return loadConfig({});
}

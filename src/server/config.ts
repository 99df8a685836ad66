/**
 * Service configuration: environment variables, overridden by `ralm serve` flags, validated at
 * start with errors that name the setting and what was expected.
 */
import { resolve } from 'node:path';
import { defaultModelDir } from '../util/paths.js';
import { RalmError } from '../util/errors.js';

export interface ServiceConfig {
  host: string;
  port: number;
  dataDir: string;
  modelDir: string;
  backend: 'auto' | 'webgpu' | 'cpu';
  reclusterIntervalMs: number;
  minSeeds: number;
  /** When set, admin routes need `Authorization: Bearer <token>`. */
  apiToken: string | null;
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
  /** Audience requests scoring more users than this run as background jobs. */
  audienceSyncMaxUsers: number;
  /** Largest audience size N a request may ask for. */
  audienceMaxSize: number;
  /** Most seeds clustered per audience (larger seed sets are sampled). */
  audienceMaxClusterSeeds: number;
  /** Audience jobs waiting beyond the running one; more are refused with 429. */
  audienceMaxQueuedJobs: number;
  /** How long finished audience jobs and their users are kept, ms. */
  audienceRetentionMs: number;
}

/** Each setting: environment variable, flag, default, and its parser. */
const SETTINGS = {
  host: { env: 'RALM_HOST', flag: 'host', dflt: '127.0.0.1', parse: (v: string) => v },
  port: { env: 'RALM_PORT', flag: 'port', dflt: '8080', parse: (v: string) => int(v, 'port', 0, 65535) },
  dataDir: { env: 'RALM_DATA_DIR', flag: 'data-dir', dflt: 'data', parse: (v: string) => resolve(v) },
  modelDir: { env: 'RALM_MODEL_DIR', flag: 'model-dir', dflt: defaultModelDir, parse: (v: string) => resolve(v) },
  backend: { env: 'RALM_BACKEND', flag: 'backend', dflt: 'auto', parse: (v: string) => oneOf(v, 'backend', ['auto', 'webgpu', 'cpu'] as const) },
  reclusterIntervalMs: { env: 'RALM_RECLUSTER_INTERVAL_MS', flag: 'recluster-interval-ms', dflt: '300000', parse: (v: string) => int(v, 'recluster-interval-ms', 1000, 86_400_000) },
  minSeeds: { env: 'RALM_MIN_SEEDS', flag: 'min-seeds', dflt: '100', parse: (v: string) => int(v, 'min-seeds', 1, 1e9) },
  apiToken: { env: 'RALM_API_TOKEN', flag: 'api-token', dflt: '', parse: (v: string) => (v === '' ? null : v) },
  bodyLimit: { env: 'RALM_BODY_LIMIT', flag: 'body-limit', dflt: String(8 * 1024 * 1024), parse: (v: string) => int(v, 'body-limit', 1024, 1 << 30) },
  demo: { env: 'RALM_DEMO', flag: 'demo', dflt: 'true', parse: (v: string) => oneOf(v, 'demo', ['true', 'false'] as const) === 'true' },
  maxBatch: { env: 'RALM_MAX_BATCH', flag: 'max-batch', dflt: '32', parse: (v: string) => int(v, 'max-batch', 1, 1024) },
  maxWaitMs: { env: 'RALM_MAX_WAIT_MS', flag: 'max-wait-ms', dflt: '2', parse: (v: string) => int(v, 'max-wait-ms', 0, 1000) },
  maxQueue: { env: 'RALM_MAX_QUEUE', flag: 'max-queue', dflt: '1024', parse: (v: string) => int(v, 'max-queue', 1, 1_000_000) },
  requestTimeoutMs: { env: 'RALM_REQUEST_TIMEOUT_MS', flag: 'request-timeout-ms', dflt: '2000', parse: (v: string) => int(v, 'request-timeout-ms', 1, 600_000) },
  maxEventLoopDelayMs: { env: 'RALM_MAX_EVENT_LOOP_DELAY_MS', flag: 'max-event-loop-delay-ms', dflt: '1000', parse: (v: string) => int(v, 'max-event-loop-delay-ms', 0, 600_000) },
  audienceSyncMaxUsers: { env: 'RALM_AUDIENCE_SYNC_MAX_USERS', flag: 'audience-sync-max-users', dflt: '200000', parse: (v: string) => int(v, 'audience-sync-max-users', 0, 1e9) },
  audienceMaxSize: { env: 'RALM_AUDIENCE_MAX_SIZE', flag: 'audience-max-size', dflt: '1000000', parse: (v: string) => int(v, 'audience-max-size', 1, 1e8) },
  audienceMaxClusterSeeds: { env: 'RALM_AUDIENCE_MAX_CLUSTER_SEEDS', flag: 'audience-max-cluster-seeds', dflt: '20000', parse: (v: string) => int(v, 'audience-max-cluster-seeds', 1, 1e7) },
  audienceMaxQueuedJobs: { env: 'RALM_AUDIENCE_MAX_QUEUED_JOBS', flag: 'audience-max-queued-jobs', dflt: '16', parse: (v: string) => int(v, 'audience-max-queued-jobs', 0, 10_000) },
  audienceRetentionMs: { env: 'RALM_AUDIENCE_RETENTION_MS', flag: 'audience-retention-ms', dflt: '86400000', parse: (v: string) => int(v, 'audience-retention-ms', 1000, 365 * 86_400_000) },
} as const;

function int(v: string, name: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new RalmError('RALM_ERR_VALIDATION', `${name}: expected an integer in [${min}, ${max}], got ${JSON.stringify(v)}`, { field: name });
  }
  return n;
}

function oneOf<T extends string>(v: string, name: string, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) throw new RalmError('RALM_ERR_VALIDATION', `${name}: expected one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`, { field: name });
  return v as T;
}

/** The flags `ralm serve` accepts (for parseArgs). */
export const SERVE_FLAGS = Object.fromEntries(Object.values(SETTINGS).map((s) => [s.flag, { type: 'string' as const }]));

export function loadConfig(env: NodeJS.ProcessEnv, flags: Record<string, unknown> = {}): ServiceConfig {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(SETTINGS)) {
    const raw = flags[s.flag] ?? env[s.env] ?? s.dflt;
    try {
      out[key] = s.parse(String(raw));
    } catch (err) {
      const from = flags[s.flag] !== undefined ? `--${s.flag}` : env[s.env] !== undefined ? s.env : 'default';
      throw new RalmError('RALM_ERR_VALIDATION', `configuration ${from}: ${(err as Error).message}`, { field: s.flag });
    }
  }
  return out as unknown as ServiceConfig;
}

/**
 * Connecting to Valkey/Redis (one node, or a Cluster) through `ioredis`, and the durability rule
 * a write must meet before the store acknowledges it.
 *
 * Durability settings (https://valkey.io/topics/persistence/, https://valkey.io/commands/waitaof/):
 * - `fsync`: the server runs AOF with `appendfsync always`, so it fsyncs every write before it
 *   replies; a reply is a durable write on the primary's disk.
 * - `waitaof`: the server runs AOF (any fsync policy); after each write the store sends
 *   `WAITAOF 1 <replicas>` and acknowledges only when the primary (and that many replicas) have
 *   fsynced it. Needs Valkey ≥ 7.2-compatible servers (Valkey 8, Redis ≥ 7.2).
 * - `none`: acknowledged once the primary holds the write in memory; a crash of the server may
 *   lose recent writes. Only on request, with a warning at start.
 * - `auto` (default): `fsync` where the server is configured so, else `waitaof` where AOF is on;
 *   a server with AOF off is refused.
 */
import { Redis, Cluster, type RedisOptions } from 'ioredis';
import { RalmError, StartupError } from '../util/errors.js';
import { REDIS_DEFAULTS, type Durability } from './defaults.js';

export type RedisClient = Redis | Cluster;

export interface RedisTarget {
  cluster: boolean;
  nodes: Array<{ host: string; port: number }>;
  db: number;
  /** The address as given, without credentials, for logs. */
  display: string;
  username?: string;
  password?: string;
}

/**
 * Parses `redis://[user:pass@]HOST:PORT[/DB]` (one node) or
 * `redis-cluster://HOST:PORT[,HOST:PORT…]` (seed nodes of a Cluster; no DB there).
 */
export function parseRedisUrl(spec: string): RedisTarget {
  const bad = (why: string): RalmError => new RalmError('RALM_ERR_VALIDATION', `store: expected redis://HOST:PORT[/DB] or redis-cluster://HOST:PORT[,HOST:PORT…], got ${JSON.stringify(spec)} (${why})`, { field: 'store' });
  const m = /^(redis|valkey|redis-cluster|valkey-cluster):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/]+?)(?:\/(\d+))?\/?$/.exec(spec);
  if (!m) throw bad('not a Valkey/Redis address');
  const cluster = m[1].endsWith('-cluster');
  const nodes = m[4].split(',').map((hp) => {
    const at = /^\[?([^\]]+?)\]?:(\d+)$/.exec(hp) ?? /^([^:]+)$/.exec(hp);
    if (!at) throw bad(`node ${JSON.stringify(hp)} is not HOST:PORT`);
    const port = at[2] === undefined ? 6379 : Number(at[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(`port ${at[2]} is out of range`);
    return { host: at[1], port };
  });
  if (!cluster && nodes.length > 1) throw bad('several nodes need redis-cluster://');
  const db = m[5] === undefined ? 0 : Number(m[5]);
  if (cluster && db !== 0) throw bad('a Cluster has database 0 only');
  const display = `${m[1]}://${m[4]}${m[5] !== undefined ? `/${m[5]}` : ''}`;
  return { cluster, nodes, db, display, username: m[2] ? decodeURIComponent(m[2]) : undefined, password: m[3] !== undefined ? decodeURIComponent(m[3]) : undefined };
}

/**
 * A client that fails fast while the server is away (no offline queue: a write then gets a coded
 * 503 at once rather than hanging) and reconnects in the background; auto-pipelining sends the
 * commands issued in one turn of the event loop together (per node in a Cluster).
 */
export async function connectRedis(target: RedisTarget, connectTimeoutMs: number = REDIS_DEFAULTS.connectTimeoutMs): Promise<RedisClient> {
  const base: RedisOptions = {
    lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: connectTimeoutMs,
    username: target.username, password: target.password,
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
  };
  const client: RedisClient = target.cluster
    ? new Cluster(target.nodes, { lazyConnect: true, enableOfflineQueue: false, enableAutoPipelining: true, autoPipeliningIgnoredCommands: ['ralmIngestItem'], redisOptions: base, clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000) })
    : new Redis({ ...base, host: target.nodes[0].host, port: target.nodes[0].port, db: target.db, enableAutoPipelining: true });
  // Connection errors surface on the commands that fail; without a listener ioredis would print them.
  client.on('error', () => undefined);
  try {
    await withTimeout(client.connect(), connectTimeoutMs + 1000, 'connect');
  } catch (err) {
    client.disconnect();
    throw new StartupError('RALM_ERR_STORE', `store ${target.display}: cannot connect (${(err as Error).message})`);
  }
  return client;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms); });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** The primaries a durability check or WAITAOF must reach. */
export function primaries(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

async function configOf(node: Redis): Promise<Map<string, string> | undefined> {
  try {
    const flat = (await node.call('CONFIG', 'GET', 'appendonly', 'appendfsync')) as string[];
    const out = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i], flat[i + 1]);
    return out;
  } catch {
    return undefined; // CONFIG renamed away, as managed services do: WAITAOF decides
  }
}

/**
 * Decides the durability rule from the setting and the servers' configuration, or refuses to
 * start with the reason and the server setting that would allow it.
 */
export async function resolveDurability(client: RedisClient, wanted: Durability, display: string): Promise<{ mode: 'fsync' | 'waitaof' | 'none'; warning?: string }> {
  if (wanted === 'none') return { mode: 'none', warning: `store ${display}: durability none — writes are acknowledged before they are on disk; a crash of the server may lose recent events` };
  const nodes = primaries(client);
  const configs = await Promise.all(nodes.map(configOf));
  const allFsync = configs.every((c) => c?.get('appendonly') === 'yes' && c.get('appendfsync') === 'always');
  if (wanted === 'fsync' || (wanted === 'auto' && allFsync)) {
    if (!allFsync) throw new StartupError('RALM_ERR_STORE', `store ${display}: durability fsync needs every primary to run with appendonly yes and appendfsync always (found ${configs.map((c) => (c ? `appendonly ${c.get('appendonly')}, appendfsync ${c.get('appendfsync')}` : 'CONFIG unavailable')).join('; ')}); set them, or choose durability waitaof`);
    return { mode: 'fsync' };
  }
  // waitaof: the command itself says whether AOF is on (it refuses numlocal 1 without it).
  for (const node of nodes) {
    try {
      await node.call('WAITAOF', 1, 0, 1000);
    } catch (err) {
      throw new StartupError('RALM_ERR_STORE', `store ${display}: durability ${wanted} needs AOF (appendonly yes) and WAITAOF (Valkey 8, Redis ≥ 7.2): ${(err as Error).message}`);
    }
  }
  return { mode: 'waitaof' };
}

/** WAITAOF on every primary: resolves once each has fsynced (and `replicas` of its replicas hold) what this client wrote. */
export async function waitAof(client: RedisClient, replicas: number): Promise<void> {
  await Promise.all(primaries(client).map(async (node) => {
    const [local, copies] = (await node.call('WAITAOF', 1, replicas, REDIS_DEFAULTS.waitTimeoutMs)) as [number, number];
    if (local < 1 || copies < replicas) throw new RalmError('RALM_ERR_STORE_UNAVAILABLE', `the store did not confirm the write durable within ${REDIS_DEFAULTS.waitTimeoutMs} ms (fsynced locally: ${local}, replicas: ${copies} of ${replicas})`);
  }));
}

/** A failed store command as a coded error (the service answers 503, or 507 when the server is out of memory). */
export function redisError(err: unknown): RalmError {
  if (err instanceof RalmError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  if (/^OOM\b/.test(reason)) return new RalmError('RALM_ERR_STORAGE_FULL', `the store could not write (${reason}): the Valkey/Redis server is out of memory`, { cause: reason });
  return new RalmError('RALM_ERR_STORE_UNAVAILABLE', `the store is unavailable (${reason}); nothing of this request is acknowledged`, { cause: reason });
}

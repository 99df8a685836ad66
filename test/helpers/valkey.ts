/**
 * A private `valkey-server` (or `redis-server`) for tests: a free loopback port, a temporary
 * directory, AOF with `appendfsync always` (the durability setting the store requires), never a
 * system service. Where neither binary is installed the Valkey tests skip and say why;
 * RALM_REQUIRE_VALKEY=1 (set by .ci/run) makes that a failure.
 */
import { spawnSync } from 'node:child_process';
import { startValkey as startLocalValkey, startValkeyCluster as startLocalValkeyCluster, type Valkey, type ValkeyCluster } from '../../bench/local-valkey.js';

export const REQUIRE_VALKEY = process.env.RALM_REQUIRE_VALKEY === '1';

function which(bin: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** The server binary, if one is installed. */
export const VALKEY_SERVER = which('valkey-server') ?? which('redis-server');
export const VALKEY_CLI = which('valkey-cli') ?? which('redis-cli');

const MISSING = 'RALM_REQUIRE_VALKEY=1 but neither valkey-server nor redis-server is installed (Debian: apt-get install -t bookworm-backports valkey-server valkey-tools)';

/**
 * The `skip` option of a Valkey test: false when a server is present, and false when one is
 * required (the test then fails in startValkey, saying what is missing); else the reason.
 */
export function valkeySkip(): string | false {
  if (VALKEY_SERVER || REQUIRE_VALKEY) return false;
  return 'neither valkey-server nor redis-server is installed (Debian: apt-get install -t bookworm-backports valkey-server); RALM_REQUIRE_VALKEY=1 makes this a failure';
}

export { freePort, type Valkey } from '../../bench/local-valkey.js';

/** Starts a private server (see bench/local-valkey.ts). `extra` are further `--name value` settings (e.g. cluster mode). */
export async function startValkey(extra: string[] = [], port?: number, dir?: string): Promise<Valkey> {
  if (!VALKEY_SERVER) throw new Error(MISSING);
  return startLocalValkey(VALKEY_SERVER, extra, port, dir);
}

export type { ValkeyCluster } from '../../bench/local-valkey.js';

/** Three primaries in cluster mode (no replicas), slots spread by `valkey-cli --cluster create`. */
export async function startValkeyCluster(): Promise<ValkeyCluster> {
  if (!VALKEY_SERVER) throw new Error(MISSING);
  if (!VALKEY_CLI) throw new Error(MISSING.replace('valkey-server nor redis-server', 'valkey-cli nor redis-cli'));
  return startLocalValkeyCluster(VALKEY_SERVER, VALKEY_CLI);
}

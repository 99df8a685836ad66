/**
 * A private `valkey-server` (or `redis-server`) on a free loopback port with its own directory and
 * AOF under `appendfsync always` (the durability the store requires), never a system service —
 * or three of them as a Cluster: what `ralm bench cluster` starts when no `--store` is given, and
 * what the tests start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface Valkey {
  port: number;
  url: string;
  dir: string;
  child: ChildProcess;
  /** kill -9 the server (its AOF stays in `dir`). */
  kill(): Promise<void>;
  /** Starts the server again on the same port and directory (after kill). */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

async function waitReady(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`valkey-server exited with ${child.exitCode}:\n${log()}`);
    if (/Ready to accept connections/.test(log())) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`valkey-server on port ${port} did not become ready:\n${log()}`);
}

/** Starts a private server from the binary `server`. `extra` are further `--name value` settings (e.g. cluster mode). */
export async function startValkey(server: string, extra: string[] = [], port?: number, dir?: string): Promise<Valkey> {
  const theDir = dir ?? await mkdtemp(join(tmpdir(), 'ralm-valkey-'));
  const thePort = port ?? await freePort();
  let child!: ChildProcess;
  const launch = async (): Promise<void> => {
    let log = '';
    child = spawn(server, [
      '--port', String(thePort), '--bind', '127.0.0.1', '--dir', theDir, '--save', '',
      '--appendonly', 'yes', '--appendfsync', 'always', '--daemonize', 'no', '--protected-mode', 'no', ...extra,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (c: Buffer) => { log += c.toString(); });
    child.stderr?.on('data', (c: Buffer) => { log += c.toString(); });
    const started = new Promise<never>((_, reject) => child.once('error', (e) => reject(new Error(`${server} could not start (${e.message})`))));
    await Promise.race([started, waitReady(thePort, child, () => log)]);
  };
  await launch();
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  };
  return {
    port: thePort,
    url: `redis://127.0.0.1:${thePort}`,
    dir: theDir,
    get child() { return child; },
    kill,
    restart: launch,
    async stop() {
      await kill();
      if (!dir) await rm(theDir, { recursive: true, force: true });
    },
  };
}


export interface ValkeyCluster {
  url: string;
  nodes: Valkey[];
  stop(): Promise<void>;
}

/**
 * Three primaries in cluster mode (no replicas), slots spread by `<cli> --cluster create`; `extra`
 * as for startValkey.
 */
export async function startValkeyCluster(server: string, cli: string, extra: string[] = []): Promise<ValkeyCluster> {
  const nodes: Valkey[] = [];
  try {
    for (let i = 0; i < 3; i++) nodes.push(await startValkey(server, ['--cluster-enabled', 'yes', '--cluster-node-timeout', '5000', ...extra]));
    const r = spawnSync(cli, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`cluster create failed:\n${r.stdout}\n${r.stderr}`);
    const deadline = Date.now() + 15_000;
    for (const n of nodes) {
      for (;;) {
        const info = spawnSync(cli, ['-p', String(n.port), 'cluster', 'info'], { encoding: 'utf8' }).stdout;
        if (/cluster_state:ok/.test(info)) break;
        if (Date.now() > deadline) throw new Error(`cluster on port ${n.port} not ok:\n${info}`);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  return {
    url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    nodes,
    stop: async () => { await Promise.all(nodes.map((n) => n.stop())); },
  };
}

/**
 * A full data volume with a real server process: `ralm serve` on a small tmpfs (mounted in a
 * user and mount namespace of its own, so no root and no host mount is needed). Writes that no
 * longer fit get a coded 507 and store nothing; reads keep serving; the process stays up (an
 * unhandled rejection would kill it); writes succeed again once space returns.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/paths.js';
import { listening, request } from '../helpers/serve.js';

/** Why the test cannot run here, or undefined. */
function unavailable(): string | undefined {
  const r = spawnSync('unshare', ['-rmpf', '--kill-child', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs "$1"', 'sh', tmpdir()], { encoding: 'utf8' });
  if (r.error) return `unshare is not installed (util-linux): ${r.error.message}`;
  if (r.status !== 0) return `this host does not allow user, mount and pid namespaces for an unprivileged tmpfs (unshare -rmpf: ${(r.stderr || '').trim()})`;
  return undefined;
}

const skip = unavailable();

describe('a full data volume', { skip }, () => {
  it('writes get a coded 507 and store nothing, reads keep serving, the process stays up and recovers when space returns', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-full-'));
    const mnt = join(dir, 'volume');
    const release = join(dir, 'release');
    const stop = join(dir, 'stop');
    const script = [
      'set -e',
      `mkdir -p '${mnt}'`,
      `mount -t tmpfs -o size=24m tmpfs '${mnt}'`,
      // Leave a few MiB for the store: it fills within a few thousand events.
      `dd if=/dev/zero of='${mnt}/filler' bs=1M count=17 2>/dev/null`,
      `'${process.execPath}' '${join(packageRoot, 'bin', 'ralm.js')}' serve --port 0 --backend cpu --demo false --log-level warn --max-event-loop-delay-ms 0 --data-dir '${mnt}/data' &`,
      'server=$!',
      // Space returns when the test says so.
      `while [ ! -e '${release}' ]; do sleep 0.05; if ! kill -0 $server 2>/dev/null; then break; fi; done`,
      `rm -f '${mnt}/filler'`,
      // The test ends the run through a file too: unshare does not pass signals on to the shell.
      `while [ ! -e '${stop}' ] && kill -0 $server 2>/dev/null; do sleep 0.05; done`,
      'kill -TERM $server 2>/dev/null || true',
      'wait $server',
    ].join('\n');
    // A pid namespace of its own (`-pf --kill-child`): when the shell goes, by any signal, the
    // kernel ends the server with it, so no server outlives the test and holds its stderr pipe
    // (which would keep this test's process alive after it passed).
    const child = spawn('unshare', ['-rmpf', '--kill-child', 'sh', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RALM_API_TOKEN: '' } });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    let log = (): string => '';
    try {
      const started = await listening(child);
      log = started.log;
      const url = started.url;
      const agent = new http.Agent({ keepAlive: true });
      const now = Date.now();
      const batch = (b: number): unknown => ({ events: Array.from({ length: 2000 }, (_, i) => ({ user: `u${i % 300}`, item: `item-${b}-${i % 97}`, ts: now + i, id: `b${b}-${i}` })) });
      let full = -1;
      for (let b = 0; b < 400 && full < 0; b++) {
        const o = await request(url, agent, 'POST', '/v1/events', batch(b));
        if (o.status === 507) {
          assert.equal(o.code, 'RALM_ERR_STORAGE_FULL');
          full = b;
        } else assert.equal(o.status, 200, `batch ${b}: ${JSON.stringify(o)}\n${log()}`);
      }
      assert.ok(full > 0, `the volume never filled\n${log()}`);
      // Reads keep serving, and the refused batch stored nothing of its first items.
      assert.equal((await request(url, agent, 'GET', '/healthz')).status, 200);
      assert.equal((await request(url, agent, 'GET', '/v1/items/item-0-1')).status, 200);
      assert.equal((await request(url, agent, 'GET', `/v1/items/item-${full}-96`)).status, 404, 'a refused write is not stored');
      // Still full: refused again, coded, and the process is still there.
      assert.equal((await request(url, agent, 'POST', '/v1/events', batch(full))).status, 507);
      // Space returns: the same batch is accepted.
      await writeFile(release, '');
      let accepted = false;
      for (let t = 0; t < 100 && !accepted; t++) {
        await new Promise((r) => setTimeout(r, 50));
        accepted = (await request(url, agent, 'POST', '/v1/events', batch(full))).status === 200;
      }
      assert.ok(accepted, `writes did not recover once space returned\n${log()}`);
      assert.equal((await request(url, agent, 'GET', `/v1/items/item-${full}-96`)).status, 200);
      agent.destroy();
      await writeFile(stop, '');
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise((r) => (timer = setTimeout(() => r('still running'), 30_000)))]);
      clearTimeout(timer);
      assert.notEqual(code, 'still running', `the server did not stop within 30 s of SIGTERM\n${log()}`);
      assert.doesNotMatch(log(), /unhandled|UnhandledPromiseRejection/i);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await rm(dir, { recursive: true, force: true });
    }
  });
});

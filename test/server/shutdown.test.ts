/**
 * Shutdown with real processes: SIGTERM under load drops no request, a server started through a
 * shell (as `npm start` does) goes away with its parent, and the grace period bounds a drain.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, serve, type Outcome } from '../helpers/serve.js';

async function withDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ralm-shutdown-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms).unref())]);

describe('shutdown', () => {
  it('SIGTERM under load: every request is answered (200 or coded 503, Connection: close), none reset; exit 0 within the grace period', () => withDir(async (dir) => {
    const srv = await serve(['--data-dir', dir, '--shutdown-grace-ms', '10000']);
    const outcomes: Outcome[] = [];
    const lasts: Outcome[] = [];
    // 32 clients, each on its own kept-alive connection, sending the next request as soon as an answer comes.
    const loops = Array.from({ length: 32 }, async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      for (;;) {
        const o = await request(srv.url, agent, 'POST', '/v1/recommend', { user: { id: 'demo-music-5' }, k: 10 });
        outcomes.push(o);
        if (o.error !== undefined || o.status !== 200 || o.connection === 'close') {
          lasts.push(o);
          break;
        }
      }
      agent.destroy();
    });
    await new Promise((r) => setTimeout(r, 1000));
    const sentAt = performance.now();
    srv.child.kill('SIGTERM');
    await within(Promise.all(loops), 15_000, 'clients finishing');
    const { code, at } = await srv.exited;
    const errors = outcomes.filter((o) => o.error !== undefined);
    assert.deepEqual(errors, [], `requests without an answer: ${JSON.stringify(errors.slice(0, 5))}`);
    for (const o of outcomes) {
      if (o.status === 200) continue;
      assert.equal(o.status, 503, JSON.stringify(o));
      assert.equal(o.code, 'RALM_ERR_CLOSED');
      assert.equal(o.retryAfter, '1');
    }
    assert.ok(outcomes.filter((o) => o.status === 200).length > 100, `only ${outcomes.length} requests before and during the drain`);
    assert.equal(lasts.length, 32);
    assert.ok(lasts.every((o) => o.connection === 'close'), 'a connection ended without the server saying so');
    assert.equal(code, 0, srv.log());
    assert.ok(at - sentAt < 10_000, `exit ${(at - sentAt).toFixed(0)} ms after SIGTERM`);
    assert.match(srv.log(), /SIGTERM: draining/);
    assert.match(srv.log(), /stopped/);
  }));

  it('started through a shell, as npm start does: when the shell dies the server drains and exits; with RALM_EXIT_WITH_PARENT=false it stays', () => withDir(async (dir) => {
    // npm sets npm_lifecycle_event for its scripts: `auto` watches the parent then.
    const srv = await serve(['--data-dir', dir, '--demo', 'false'], { npm_lifecycle_event: 'start' }, true);
    const agent = new http.Agent({ keepAlive: false });
    assert.equal((await request(srv.url, agent, 'GET', '/healthz')).status, 200);
    srv.child.kill('SIGTERM'); // the shell: npm's signal reaches it, not the server
    await srv.exited;
    await within(srv.gone, 10_000, 'the server leaving with its shell');
    assert.match(srv.log(), /parent process \d+ exited: draining/);
    assert.match(srv.log(), /stopped/);
    assert.equal((await request(srv.url, agent, 'GET', '/healthz')).error, 'ECONNREFUSED');

    const kept = await serve(['--data-dir', dir, '--demo', 'false'], { npm_lifecycle_event: 'start', RALM_EXIT_WITH_PARENT: 'false' }, true);
    const pid = Number(/pid (\d+)/.exec(kept.log())?.[1]);
    kept.child.kill('SIGTERM');
    await kept.exited;
    try {
      await new Promise((r) => setTimeout(r, 600)); // longer than the parent check's period
      assert.equal((await request(kept.url, agent, 'GET', '/healthz')).status, 200, 'the server left with its parent though told not to');
    } finally {
      process.kill(pid, 'SIGTERM');
      await within(kept.gone, 10_000, 'the kept server stopping on SIGTERM');
    }
  }));

  it('a drain longer than the grace period is cut: exit code 1', () => withDir(async (dir) => {
    const srv = await serve(['--data-dir', dir, '--demo', 'false', '--shutdown-grace-ms', '500']);
    // A request whose body never finishes stays in flight (until the 30 s request timeout).
    const socket = net.connect(Number(srv.url.port), srv.url.hostname);
    await new Promise((r) => socket.once('connect', r));
    socket.write('POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"events":');
    socket.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 200));
    const sentAt = performance.now();
    srv.child.kill('SIGTERM');
    const { code, at } = await within(srv.exited, 10_000, 'the forced exit');
    socket.destroy();
    assert.equal(code, 1, srv.log());
    assert.ok(at - sentAt >= 450, `exited ${(at - sentAt).toFixed(0)} ms after SIGTERM, before the grace period`);
    assert.match(srv.log(), /shutdown took longer than 500 ms: exiting now/);
  }));
});

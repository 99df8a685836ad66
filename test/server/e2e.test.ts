/** The real server (`npm start`'s command) on loopback: start, ready, recommend, events, re-cluster, SIGTERM. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/paths.js';
import { listening } from '../helpers/serve.js';

/** Starts `ralm serve` on a free port over dataDir; resolves with its URL once listening. */
async function start(dataDir: string): Promise<{ url: string; child: ReturnType<typeof spawn>; log: () => string }> {
  const child = spawn(process.execPath, [join(packageRoot, 'bin', 'ralm.js'), 'serve', '--port', '0', '--data-dir', dataDir, '--backend', 'cpu'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, RALM_API_TOKEN: '' },
  });
  const { url, log } = await listening(child);
  return { url: url.origin, child, log };
}

describe('end to end', () => {
  it('serves the demo world, takes events, re-clusters, and shuts down cleanly on SIGTERM', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ralm-e2e-'));
    const { url, child, log: logOf } = await start(dataDir);
    const post = async (path: string, body?: unknown): Promise<Record<string, unknown>> => {
      const res = await fetch(url + path, { method: 'POST', headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
      assert.equal(res.status, 200, `${path}: ${res.status}`);
      return (await res.json()) as Record<string, unknown>;
    };
    const ready = await fetch(url + '/readyz');
    assert.equal(ready.status, 200);
    const rec = await post('/v1/recommend', { user: { id: 'demo-sports-2' }, k: 3 });
    assert.ok((rec.items as Array<{ id: string }>).every((i) => i.id.startsWith('demo-sports-')));
    await post('/v1/events', { events: Array.from({ length: 8 }, (_, i) => ({ user: `demo-sports-${i}`, item: 'brand-new-match', ts: Date.now(), id: `m${i}` })) });
    await post('/v1/admin/recluster');
    const again = await post('/v1/recommend', { user: { id: 'demo-sports-2' }, candidates: ['brand-new-match', 'demo-food-article-3'], k: 1 });
    assert.equal((again.items as Array<{ id: string }>)[0].id, 'brand-new-match');
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, logOf());
    assert.match(logOf(), /SIGTERM: draining/);
    assert.match(logOf(), /stopped/);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('an accepted audience job is not lost when the server is killed: it runs after the restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ralm-e2e-jobs-'));
    try {
      let srv = await start(dataDir);
      const ids: string[] = [];
      for (const topic of ['music', 'food', 'travel']) {
        const res = await fetch(srv.url + '/v1/audiences', {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ seeds: [`demo-${topic}-1`, `demo-${topic}-2`], size: 25, async: true }),
        });
        assert.equal(res.status, 202);
        ids.push(((await res.json()) as { id: string }).id);
      }
      // No drain, no flush: the process dies at once, whatever the jobs were doing.
      const killed = new Promise((r) => srv.child.on('exit', r));
      srv.child.kill('SIGKILL');
      await killed;
      srv = await start(dataDir);
      for (const [i, id] of ids.entries()) {
        let job: { status: string } = { status: 'queued' };
        for (let t = 0; t < 300 && (job.status === 'queued' || job.status === 'running'); t++) {
          job = (await (await fetch(`${srv.url}/v1/audiences/${id}`)).json()) as { status: string };
          if (job.status === 'queued' || job.status === 'running') await new Promise((r) => setTimeout(r, 20));
        }
        assert.equal(job.status, 'done', srv.log());
        const page = (await (await fetch(`${srv.url}/v1/audiences/${id}/users?limit=100`)).json()) as { total: number; users: Array<{ id: string }> };
        assert.equal(page.total, 25);
        const topic = ['music', 'food', 'travel'][i];
        assert.ok(page.users.filter((u) => u.id.startsWith(`demo-${topic}-`)).length >= 20);
      }
      const exited = new Promise((r) => srv.child.on('exit', r));
      srv.child.kill('SIGTERM');
      await exited;
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

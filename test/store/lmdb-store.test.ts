import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { packageRoot } from '../../src/util/paths.js';

const dirs: string[] = [];
async function fresh(options = {}): Promise<LmdbStore> {
  const dir = await mkdtemp(join(tmpdir(), 'ralm-store-'));
  dirs.push(dir);
  return LmdbStore.open(dir, options);
}
afterEach(async () => {
  while (dirs.length) await rm(dirs.pop() as string, { recursive: true, force: true });
});

const user = (id: string) => ({ id, universal: Float32Array.of(1, 2), lookalike: Float32Array.of(3), modelVersion: 'v1' });

describe('LMDB store', () => {
  it('ingests clicks as seeds, counts per item and marks items dirty', async () => {
    const s = await fresh();
    await s.putUsers([user('u1'), user('u2')]);
    const r = await s.ingest([{ user: 'u1', item: 'a', ts: 1 }, { user: 'u2', item: 'a', ts: 2 }, { user: 'u1', item: 'b', ts: 3 }]);
    assert.deepEqual(r, { accepted: 3, duplicates: 0, unknownUserEvents: 0, unknownUsers: [] });
    const a = await s.getItem('a');
    assert.equal(a?.info.seedCount, 2);
    assert.equal(a?.info.seedVersion, 2);
    assert.ok((a?.info.firstSeedAt ?? 0) > 0);
    assert.deepEqual((await s.seedsOf('a')).map((x) => [x.user, x.ts]), [['u1', 1], ['u2', 2]]);
    assert.deepEqual((await s.dirtyItems()).map((d) => d.id).sort(), ['a', 'b']);
    await s.close();
  });

  it('re-sent events with the same id are not counted twice, across calls and within a batch', async () => {
    const s = await fresh();
    const ev = { user: 'u', item: 'a', ts: 1, id: 'e1' };
    assert.equal((await s.ingest([ev, ev])).duplicates, 1);
    assert.deepEqual(await s.ingest([ev, { ...ev, id: 'e2' }]), { accepted: 1, duplicates: 1, unknownUserEvents: 1, unknownUsers: ['u'] });
    assert.equal((await s.getItem('a'))?.info.seedCount, 2);
    assert.equal((await s.stats()).eventsDuplicate, 2);
    await s.close();
  });

  it('remembers event ids for the retention window only', async () => {
    const s = await fresh({ eventIdRetentionMs: 50 });
    const ev = { user: 'u', item: 'a', ts: 1, id: 'e1' };
    assert.equal((await s.ingest([ev])).accepted, 1);
    assert.equal((await s.ingest([ev])).duplicates, 1);
    await new Promise((r) => setTimeout(r, 80));
    // The next call first forgets expired ids, so the re-send counts again.
    assert.equal((await s.ingest([ev])).accepted, 1);
    assert.equal((await s.getItem('a'))?.info.seedCount, 2);
    await s.close();
  });

  it('keeps and reports events of unknown users', async () => {
    const s = await fresh();
    const r = await s.ingest([{ user: 'ghost', item: 'a', ts: 1 }, { user: 'ghost', item: 'b', ts: 2 }]);
    assert.equal(r.unknownUserEvents, 2);
    assert.deepEqual(r.unknownUsers, ['ghost']);
    assert.equal((await s.seedsOf('a')).length, 1);
    await s.close();
  });

  it('bounds seed lists to the latest N per item and drops seeds outside a time window', async () => {
    const s = await fresh({ maxSeedsPerItem: 3 });
    for (let i = 0; i < 7; i++) await s.ingest([{ user: `u${i}`, item: 'a', ts: i }]);
    const seeds = await s.seedsOf('a');
    assert.deepEqual(seeds.map((x) => x.user), ['u4', 'u5', 'u6']);
    assert.equal((await s.getItem('a'))?.info.seedCount, 3);
    assert.equal((await s.getItem('a'))?.info.clicks, 7);
    assert.equal((await s.seedsOf('a', Date.now() + 1000)).length, 0);
    await s.close();
  });

  it('rejects bad events naming the field, and stores nothing from that batch', async () => {
    const s = await fresh();
    await assert.rejects(s.ingest([{ user: 'u', item: 'a', ts: 1 }, { user: 'u', item: '', ts: 1 }]), /events\[1\]\.item: expected an item id/);
    await assert.rejects(s.ingest([{ user: 'u', item: 'a', ts: NaN }]), /events\[0\]\.ts: expected a timestamp/);
    await assert.rejects(s.ingest([{ user: 'u', item: 'a', ts: 1, id: 5 as never }]), /events\[0\]\.id/);
    assert.equal((await s.stats()).eventsAccepted, 0);
    await s.close();
  });

  it('saved clusters survive reopening; clustering an old version leaves the item dirty', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-store-'));
    dirs.push(dir);
    let s = LmdbStore.open(dir);
    await s.ingest([{ user: 'u', item: 'a', ts: 1 }, { user: 'v', item: 'a', ts: 2 }]);
    await s.saveClusters([{ id: 'a', seedVersion: 1, modelVersion: 'm', clusteredAt: 5, count: 1, centroids: Float32Array.of(1, 2), global: Float32Array.of(1, 2), seeds: 1, cold: true, firstServableAt: 5 }]);
    assert.deepEqual((await s.dirtyItems()).map((d) => d.id), ['a']);
    await s.saveClusters([{ id: 'a', seedVersion: 2, modelVersion: 'm', clusteredAt: 9, count: 1, centroids: Float32Array.of(3, 4), global: Float32Array.of(3, 4), seeds: 2, cold: true, firstServableAt: 9 }]);
    assert.equal((await s.dirtyItems()).length, 0);
    await s.close();
    s = LmdbStore.open(dir);
    const all = [];
    for await (const c of s.allClusters()) all.push(c);
    assert.equal(all.length, 1);
    assert.deepEqual(Array.from(all[0].centroids), [3, 4]);
    assert.equal(all[0].firstServableAt, 5);
    assert.equal(await s.markAllDirty(), 1);
    await s.close();
  });

  it('a kill -9 right after ingest reports success loses no event', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-store-'));
    dirs.push(dir);
    const script = `
      import { LmdbStore } from ${JSON.stringify(join(packageRoot, 'dist', 'src', 'store', 'lmdb-store.js'))};
      const s = LmdbStore.open(${JSON.stringify(dir)});
      for (let b = 0; b < 20; b++) {
        const events = Array.from({ length: 500 }, (_, i) => ({ user: 'u' + i, item: 'item' + (i % 7), ts: b * 1000 + i, id: b + '-' + i }));
        await s.ingest(events);
        process.stdout.write('acked ' + (b + 1) * 500 + '\\n');
      }
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let acked = 0;
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const m = [...chunk.toString().matchAll(/acked (\d+)/g)];
        if (m.length) acked = Number(m[m.length - 1][1]);
        if (acked >= 5000) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
    });
    await new Promise((r) => child.once('exit', r).listenerCount('exit') && setTimeout(r, 2000));
    assert.ok(acked >= 5000, `child acknowledged only ${acked} events`);
    const s = LmdbStore.open(dir);
    const stats = await s.stats();
    assert.ok(stats.eventsAccepted >= acked, `${stats.eventsAccepted} stored < ${acked} acknowledged`);
    let seeds = 0;
    for (let i = 0; i < 7; i++) seeds += (await s.seedsOf('item' + i)).length;
    assert.equal(seeds, stats.eventsAccepted);
    // Re-sending everything after the crash adds nothing.
    const again = await s.ingest(Array.from({ length: 500 }, (_, i) => ({ user: 'u' + i, item: 'item' + (i % 7), ts: i, id: '0-' + i })));
    assert.equal(again.accepted, 0);
    await s.close();
  });
});

import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { packageRoot } from '../../src/util/paths.js';

const dirs: string[] = [];
afterEach(async () => {
  while (dirs.length) await rm(dirs.pop() as string, { recursive: true, force: true });
});

/** What only the embedded store shows: durability across a crash of the writing process (the shared contract: contract.test.ts). */
describe('LMDB store', () => {
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

/**
 * `ralm users import`, `ralm events import` and `ralm audience` on a shared Valkey store
 * (`--store`, opened by the same factory as `ralm serve`): what they write is in the store the
 * replicas share, and `audience` reads its users from there; a bad combination or an unreachable
 * store is a clear coded failure.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'msgpackr';
import { saveModel } from '../../src/model/model.js';
import { randomModel } from '../../src/model/random.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { Rng } from '../../src/util/rng.js';
import { ralm } from '../helpers/cli.js';
import { startValkey, valkeySkip } from '../helpers/valkey.js';

describe('--store on the commands that write or read a store', { skip: valkeySkip() }, () => {
  it('users import, events import and audience work on a shared Valkey store', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-cli-store-'));
    const v = await startValkey();
    const probe = (await RedisStore.open(v.url)).store;
    try {
      const modelDir = join(dir, 'model');
      const m = randomModel({ seed: 9, h: 16, m: 8, k: 3 });
      const { format: _f, formatVersion: _v, weightsSha256: _s, ...manifest } = m.manifest;
      await saveModel(modelDir, manifest, m.weights);
      const n = 40;
      const ids = Array.from({ length: n }, (_, i) => `u${i}`);
      const x = new Rng(1).normals(n * 8, 1);
      await writeFile(join(dir, 'users.msgpack'), pack({ format: 'ralm-users', modelVersion: 'file', m: 8, ids, universal: new Uint8Array(x.buffer) }));
      await writeFile(join(dir, 'clicks.csv'), ['user,item,ts', ...ids.slice(0, 10).map((u, i) => `${u},a,${1000 + i}`)].join('\n') + '\n');
      await writeFile(join(dir, 'seeds.txt'), 'u1\nu2\nu3\n');

      const users = await ralm('users', 'import', join(dir, 'users.msgpack'), '--store', v.url, '--model-dir', modelDir, '--json');
      assert.equal(users.code, 0, users.stderr);
      assert.equal(JSON.parse(users.stdout).users, n);
      assert.equal((await probe.stats()).users, n);

      const events = await ralm('events', 'import', join(dir, 'clicks.csv'), '--store', v.url, '--json');
      assert.equal(events.code, 0, events.stderr);
      assert.equal(JSON.parse(events.stdout).accepted, 10);
      assert.equal(JSON.parse(events.stdout).target, v.url);
      assert.equal((await probe.getItem('a'))?.info.clicks, 10);
      assert.deepEqual(await probe.dirtyItems(), [{ id: 'a', seedVersion: 10 }]);

      const audience = await ralm('audience', '--seeds', join(dir, 'seeds.txt'), '--size', '5', '--store', v.url, '--model-dir', modelDir, '--backend', 'cpu', '--json');
      assert.equal(audience.code, 0, audience.stderr);
      const first = JSON.parse(audience.stdout) as { users: Array<{ id: string }> };
      assert.equal(first.users.length, 5);
      assert.ok(first.users.every((u) => ids.includes(u.id) && !['u1', 'u2', 'u3'].includes(u.id)));

      // Both at once, or a store that is not there: coded failures that say so.
      const both = await ralm('users', 'import', join(dir, 'users.msgpack'), '--store', v.url, '--data-dir', join(dir, 'data'));
      assert.equal(both.code, 2);
      assert.match(both.stderr, /users import: give --data-dir or --store, not both/);
      const away = await ralm('events', 'import', join(dir, 'clicks.csv'), '--store', 'redis://127.0.0.1:1');
      assert.equal(away.code, 1);
      assert.match(away.stderr, /RALM_ERR_STORE: store redis:\/\/127\.0\.0\.1:1: cannot connect/);
      const bad = await ralm('audience', '--seeds', join(dir, 'seeds.txt'), '--size', '5', '--store', 'postgres://x');
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /--store: expected lmdb:DIR, redis:\/\/HOST:PORT/);
    } finally {
      await probe.close();
      await v.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

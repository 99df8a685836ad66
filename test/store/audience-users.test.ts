/** An audience's users are stored in chunks and read by range: every range equals the same slice of what was stored. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import type { AudienceRecord, AudienceUsers } from '../../src/store/store.js';

const record = (id: string): AudienceRecord => ({ id, status: 'done', spec: {}, createdAt: 1, startedAt: 2, finishedAt: 3, error: null, summary: { size: 1 } });

function users(n: number): AudienceUsers {
  return {
    ids: Array.from({ length: n }, (_, i) => `user-${i}`),
    score: Float32Array.from({ length: n }, (_, i) => 1 - i / n),
    cosGlobal: Float32Array.from({ length: n }, (_, i) => i / 7),
    cosLocal: Float32Array.from({ length: n }, (_, i) => -i / 3),
  };
}

function slice(u: AudienceUsers, from: number, to: number): AudienceUsers {
  return { ids: u.ids.slice(from, to), score: u.score.slice(from, to), cosGlobal: u.cosGlobal.slice(from, to), cosLocal: u.cosLocal.slice(from, to) };
}

describe('audience users in the LMDB store', () => {
  it('reads any range across chunk boundaries, the whole list, and nothing past the end; deletion removes every chunk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-audience-users-'));
    try {
      const s = LmdbStore.open(dir);
      const all = users(40_000); // three chunks of 16,384
      await s.putAudience(record('a'), all);
      const whole = await s.getAudienceUsers('a');
      assert.ok(whole);
      assert.equal(whole.total, 40_000);
      assert.deepEqual({ ...slice(whole, 0, 40_000) }, slice(all, 0, 40_000));
      for (const [offset, limit] of [[0, 10], [16_380, 10], [16_384, 16_384], [30_000, 20_000], [39_999, 5], [40_000, 10], [50_000, 1]]) {
        const got = await s.getAudienceUsers('a', { offset, limit });
        assert.ok(got);
        assert.equal(got.total, 40_000);
        const want = slice(all, offset, Math.min(40_000, offset + limit));
        assert.deepEqual({ ids: got.ids, score: got.score, cosGlobal: got.cosGlobal, cosLocal: got.cosLocal }, want, `offset ${offset} limit ${limit}`);
      }
      // A re-run that keeps fewer users: only its own count is read.
      await s.putAudience(record('a'), users(10));
      assert.equal((await s.getAudienceUsers('a'))?.ids.length, 10);
      assert.equal(await s.deleteAudience('a'), true);
      assert.equal(await s.getAudienceUsers('a'), undefined);
      await s.close();
      const raw = open({ path: join(dir, 'ralm.mdb'), compression: false });
      const left = [...raw.openDB({ name: 'audience-users' }).getKeys({})];
      assert.deepEqual(left, [], 'chunks left after deletion');
      await raw.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('still reads users stored whole, as one record, by stores written before chunks', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-audience-users-'));
    try {
      const raw = open({ path: join(dir, 'ralm.mdb'), compression: false });
      const u = users(30);
      const bytes = (v: Float32Array): Uint8Array => new Uint8Array(v.buffer.slice(0));
      await raw.openDB({ name: 'audiences' }).put('old', record('old'));
      await raw.openDB({ name: 'audience-users' }).put('old', { ids: u.ids, score: bytes(u.score), cosGlobal: bytes(u.cosGlobal), cosLocal: bytes(u.cosLocal) });
      await raw.close();
      const s = LmdbStore.open(dir);
      const got = await s.getAudienceUsers('old', { offset: 10, limit: 5 });
      assert.ok(got);
      assert.equal(got.total, 30);
      assert.deepEqual({ ids: got.ids, score: got.score, cosGlobal: got.cosGlobal, cosLocal: got.cosLocal }, slice(u, 10, 15));
      assert.equal(await s.deleteAudience('old'), true);
      assert.equal(await s.getAudienceUsers('old'), undefined);
      await s.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Large replies sent in slices are byte-for-byte what one-shot encoding gives, in JSON and MessagePack. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { pack, unpack } from 'msgpackr';
import { encoding } from '../../src/server/plugins/encoding.js';
import { sendRows, STREAM_ROWS_FROM } from '../../src/server/chunked-reply.js';

describe('chunked replies', () => {
  for (const count of [3, STREAM_ROWS_FROM + 7, 70_000]) {
    it(`${count} rows: the same document as encoding it at once`, async () => {
      const app = Fastify();
      encoding(app);
      const rows = Array.from({ length: count }, (_, i) => ({ id: `u-${i}`, score: Math.fround(1 / (i + 1)), cosGlobal: -i - 0.5, cosLocal: i / 3 }));
      const head = { seeds: { given: 2 }, pool: null, scored: 9 };
      const tail = { timing: { totalMs: 1.5 }, next: null };
      app.get('/rows', async (_req, reply) => sendRows(reply, { head, field: 'users', count, row: (i) => rows[i], tail }));
      const whole = { ...head, users: rows, ...tail };
      const json = await app.inject({ url: '/rows' });
      assert.equal(json.statusCode, 200);
      assert.match(String(json.headers['content-type']), /^application\/json/);
      assert.equal(json.body, JSON.stringify(whole));
      const mp = await app.inject({ url: '/rows', headers: { accept: 'application/msgpack' } });
      assert.match(String(mp.headers['content-type']), /^application\/msgpack/);
      assert.deepEqual(unpack(mp.rawPayload), whole);
      assert.ok(mp.rawPayload.equals(pack(whole)) || count >= STREAM_ROWS_FROM, 'small replies take the one-shot path');
      await app.close();
    });
  }
});

/**
 * Request bodies of OWN_TURN_FROM_BYTES and more are parsed in turns of the event loop of their
 * own (TurnQueue): in order, with the I/O that became ready meanwhile handled between two of them,
 * and with the same values and coded errors as bodies parsed at once.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { Packr } from 'msgpackr';
import { TurnQueue } from '../../src/util/time-slice.js';
import { encoding, MSGPACK, OWN_TURN_FROM_BYTES } from '../../src/server/plugins/encoding.js';
import { errorHandlers } from '../../src/server/plugins/error-handler.js';
import { Metrics } from '../../src/server/metrics.js';

describe('TurnQueue', () => {
  it('runs jobs in order, one a turn, with ready I/O handled between two jobs', async () => {
    const log: string[] = [];
    const server = net.createServer((s) => s.on('data', () => log.push('io')));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    // The server has accepted the connection before the jobs start.
    const accepted = new Promise((r) => server.once('connection', r));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await Promise.all([accepted, new Promise<void>((r) => client.once('connect', r))]);
    const turns = new TurnQueue();
    const finished = new Promise<void>((resolve) => {
      turns.run(() => {
        log.push('a');
        client.write('x'); // on loopback the byte is readable at once: the next poll sees it
      });
      turns.run(() => log.push('b'));
      turns.run(() => {
        log.push('c');
        resolve();
      });
    });
    assert.equal(turns.waiting, 3);
    await finished;
    client.destroy();
    await new Promise((r) => server.close(r));
    assert.deepEqual(log, ['a', 'io', 'b', 'c'], 'the server read the byte between the first two jobs');
    assert.equal(turns.waiting, 0);
  });
});

describe('bodies parsed in turns of their own', () => {
  let app: FastifyInstance;
  const packr = new Packr({ useRecords: false });
  const ids = Array.from({ length: 5000 }, (_, i) => `item-${i}`);

  before(async () => {
    app = Fastify();
    errorHandlers(app, { metrics: new Metrics(), bodyLimit: 1 << 20 });
    await app.register(async (api) => {
      encoding(api);
      api.post('/echo', async (req) => ({ n: (req.body as { ids: string[] }).ids.length, last: (req.body as { ids: string[] }).ids.at(-1) }));
    });
    await app.ready();
  });
  after(async () => app.close());

  it('parse JSON and MessagePack above the threshold to the same values, concurrently and in order', async () => {
    const json = JSON.stringify({ ids });
    const mp = packr.pack({ ids });
    assert.ok(json.length >= OWN_TURN_FROM_BYTES && mp.length >= OWN_TURN_FROM_BYTES);
    const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => app.inject({
      method: 'POST', url: '/echo', payload: i % 2 === 0 ? json : mp, headers: { 'content-type': i % 2 === 0 ? 'application/json' : MSGPACK, accept: 'application/json' },
    })));
    for (const r of replies) {
      assert.equal(r.statusCode, 200);
      assert.deepEqual(r.json(), { n: 5000, last: 'item-4999' });
    }
  });

  it('refuse malformed bodies above the threshold with the same coded error', async () => {
    const badJson = `{"ids": [${JSON.stringify(ids).slice(1, -1)}`; // unterminated
    const badMp = Buffer.concat([Buffer.from(packr.pack({ ids })), Buffer.from([0xc1])]); // 0xc1 is never used in MessagePack
    for (const [payload, type] of [[badJson, 'application/json'], [badMp, MSGPACK]] as const) {
      assert.ok(payload.length >= OWN_TURN_FROM_BYTES);
      const r = await app.inject({ method: 'POST', url: '/echo', payload, headers: { 'content-type': type, accept: 'application/json' } });
      assert.equal(r.statusCode, 400, type);
      assert.equal((r.json() as { error: { code: string } }).error.code, 'RALM_ERR_MALFORMED_BODY', type);
    }
  });
});

/**
 * `ralm events import`: a click log into the embedded store or a running service, in batches,
 * idempotent by event id, with bad rows counted by line and unusable arguments refused.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { loadModel } from '../../src/model/model.js';
import { buildApp } from '../../src/server/app.js';
import { defaultModelDir } from '../../src/util/paths.js';
import { ralm } from '../helpers/cli.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ralm-events-'));
  // A plain CSV: ids on some rows; line 4 has an empty item, line 6 a bad time; line 7 repeats line 2's id on the same item.
  await writeFile(join(dir, 'clicks.csv'), 'user,item,ts,id\nu1,a,1700000001000,e1\nu2,a,1700000002000,\nu3,,1700000002500,\nu3,b,1700000003000,\nu4,b,soon,\nu5,a,1700000004000,e1\n');
  // The generic format: a gzipped TSV with labels (rating ≥ 4 is a click), seconds, Latin-1.
  await writeFile(join(dir, 'log.tsv.gz'), gzipSync(Buffer.concat([Buffer.from('who\twhat\twhen\trating\nzo'), Buffer.from([0xe9]), Buffer.from('\tx\t10\t5\nbob\tx\t20\t2\nbob\ty\t30\t4\n')])));
  await writeFile(join(dir, 'schema.json'), JSON.stringify({
    encoding: 'latin1',
    clicks: { path: 'log.tsv.gz', columns: { user: 'who', item: 'what', timestamp: 'when', label: 'rating' }, timestamp: 's', positiveLabel: 4 },
  }));
});
after(() => rm(dir, { recursive: true, force: true }));

interface ImportDoc { events: number; accepted: number; duplicates: number; unknownUserEvents: number; nonClicks: number; batches: number; report: { badRows: number; bad: Record<string, { first: string[] }> } }

describe('ralm events import', () => {
  it('loads a plain CSV into the store in batches; a second import stores nothing twice', async () => {
    const store = join(dir, 'store');
    const r = await ralm('events', 'import', join(dir, 'clicks.csv'), '--data-dir', store, '--batch', '2', '--max-bad-share', '0.5', '--json');
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as ImportDoc;
    assert.deepEqual([doc.events, doc.accepted, doc.duplicates, doc.batches], [4, 3, 1, 2], 'u5\'s row repeats event id e1');
    assert.equal(doc.unknownUserEvents, 3);
    assert.deepEqual(doc.report.bad['empty item id'].first, ['clicks.csv:4']);
    assert.deepEqual(doc.report.bad['bad timestamp (expected epoch milliseconds, not before 1970)'].first, ['clicks.csv:6']);
    const again = JSON.parse((await ralm('events', 'import', join(dir, 'clicks.csv'), '--data-dir', store, '--max-bad-share', '0.5', '--json')).stdout) as ImportDoc;
    assert.deepEqual([again.accepted, again.duplicates], [0, 4], 'rows without an id get the same derived id each time');
    const s = LmdbStore.open(store);
    try {
      const clicks = await Promise.all(['a', 'b', 'c'].map(async (id) => (await s.getItem(id))?.info.clicks));
      assert.deepEqual(clicks, [2, 1, undefined]);
    } finally {
      await s.close();
    }
  });

  it('fails on too many bad rows by default, saying what was stored', async () => {
    const r = await ralm('events', 'import', join(dir, 'clicks.csv'), '--data-dir', join(dir, 'strict'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /RALM_ERR_VALIDATION: 2 of 6 rows are bad .*clicks\.csv:4.*; 3 events were stored before this \(rerunning after the fix is safe/);
  });

  it('reads the click log a schema names: its columns, labels, time unit and encoding', async () => {
    const r = await ralm('events', 'import', join(dir, 'schema.json'), '--data-dir', join(dir, 'schema-store'), '--json');
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as ImportDoc;
    assert.deepEqual([doc.events, doc.accepted, doc.nonClicks], [2, 2, 1]);
    const s = LmdbStore.open(join(dir, 'schema-store'));
    try {
      assert.equal((await s.getItem('x'))?.info.clicks, 1);
      const seeds = await s.seedsOf('x');
      assert.deepEqual(seeds.map((e) => [e.user, e.ts]), [['zoé', 10_000]]);
    } finally {
      await s.close();
    }
  });

  it('refuses arguments it cannot use', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[join(dir, 'clicks.csv'), '--url', 'http://127.0.0.1:1', '--data-dir', 'x'], /give --data-dir or --url, not both/],
      [[join(dir, 'clicks.csv'), '--token', 't'], /--token applies with --url/],
      [[join(dir, 'schema.json'), '--timestamp', 's'], /--timestamp applies to a plain CSV/],
      [[join(dir, 'clicks.csv'), '--url', 'ftp://host'], /--url: expected an http:\/\/ or https:\/\/ URL/],
      [[], /give one click file/],
    ];
    for (const [args, re] of cases) {
      const r = await ralm('events', 'import', ...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, re);
    }
  });
});

describe('ralm events import --url', () => {
  it('sends batches to a running service, which stores them once', async () => {
    const data = join(dir, 'served');
    const store = LmdbStore.open(data);
    const engine = await RalmEngine.create(await loadModel(defaultModelDir), { backend: 'cpu' });
    const { app } = buildApp({ engine, store, seeds: new SeedService(store, engine, {}), apiToken: null, bodyLimit: 1 << 20, maxEventLoopDelayMs: 0 });
    try {
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      const args = ['events', 'import', join(dir, 'clicks.csv'), '--url', url, '--batch', '3', '--max-bad-share', '0.5', '--json'];
      const first = JSON.parse((await ralm(...args)).stdout) as ImportDoc;
      assert.deepEqual([first.accepted, first.duplicates, first.batches], [3, 1, 2]);
      const second = JSON.parse((await ralm(...args)).stdout) as ImportDoc;
      assert.deepEqual([second.accepted, second.duplicates], [0, 4]);
      assert.equal((await store.getItem('a'))?.info.clicks, 2);
    } finally {
      await app.close();
      await engine.close();
      await store.close();
    }
  });

  it('retries a busy service, sends the token, and reports a refusal with the service\'s code', async () => {
    const seen: Array<{ auth: string | undefined; events: number }> = [];
    let busy = 1;
    const server: Server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (req.headers.authorization === 'Bearer wrong') {
          res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'RALM_ERR_UNAUTHORIZED', message: 'authorization: expected "Bearer <api token>"' } }));
          return;
        }
        if (busy-- > 0) {
          res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' }).end('{"error":{"code":"RALM_ERR_UNDER_PRESSURE","message":"busy"}}');
          return;
        }
        const events = (JSON.parse(body) as { events: unknown[] }).events.length;
        seen.push({ auth: req.headers.authorization, events });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: events, duplicates: 0, unknownUserEvents: 0, unknownUsers: [] }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    try {
      await writeFile(join(dir, 'token.txt'), 'sesame\n');
      const ok = await ralm('events', 'import', join(dir, 'clicks.csv'), '--url', url, '--token-file', join(dir, 'token.txt'), '--max-bad-share', '0.5', '--json');
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual(seen, [{ auth: 'Bearer sesame', events: 4 }], 'one 503, retried; the trailing slash of the URL is fine');
      const refused = await ralm('events', 'import', join(dir, 'clicks.csv'), '--url', url, '--token', 'wrong', '--max-bad-share', '0.5');
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /RALM_ERR_VALIDATION: POST http:\/\/127\.0\.0\.1:\d+\/v1\/events: 401 RALM_ERR_UNAUTHORIZED: authorization: expected "Bearer <api token>" \(give --token or --token-file\)/);
    } finally {
      await new Promise((r) => server.close(r));
    }
    const down = await ralm('events', 'import', join(dir, 'clicks.csv'), '--url', url, '--retries', '2', '--max-bad-share', '0.5');
    assert.equal(down.code, 1);
    assert.match(down.stderr, /RALM_ERR_CLOSED: POST .*: cannot reach the service \(ECONNREFUSED\) after 2 tries/);
  });
});

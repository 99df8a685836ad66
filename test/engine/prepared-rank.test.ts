/** Rank requests prepared ahead of their batch (engine.prepareRank / rankPrepared): same answers as rank(), the table as it was, coded errors. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RalmEngine, type RankRequest } from '../../src/engine/engine.js';
import { RalmError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { randomItems, smallModel } from '../helpers/fixtures.js';

const coded = (code: string, field: string) => (err: unknown): boolean => {
  assert.ok(err instanceof RalmError, String(err));
  assert.equal(err.code, code);
  assert.equal(err.details?.field, field);
  assert.ok(err.message.startsWith(`${field}: `), err.message);
  return true;
};

for (const backend of [{ cpuKernel: 'scalar' as const }, { cpuThreads: 2, cpuOffload: true }]) {
  describe(`prepared rank requests (cpu ${JSON.stringify(backend)})`, () => {
    it('rank the same as rank(), each in its place, with any candidate list', async () => {
      const model = smallModel({ seed: 301 });
      const engine = await RalmEngine.create(model, { backend: 'cpu', ...backend });
      const items = randomItems(model, 700, 302);
      await engine.upsertItems(items);
      const rng = new Rng(303);
      const ids = items.map((it) => it.id);
      const reqs: RankRequest[] = [
        { user: { embedding: rng.normals(model.manifest.h) }, k: 5 },
        { user: { embedding: rng.normals(model.manifest.h) }, k: 7, candidates: ids.slice(0, 600) },
        { user: { embedding: rng.normals(model.manifest.h) }, k: 3, candidates: ids.slice(0, 600), exclude: [ids[1], ids[2]] },
        { user: { embedding: rng.normals(model.manifest.h) }, k: 4, candidates: [ids[9], ids[9], ids[3]] },
        { user: { embedding: rng.normals(model.manifest.h) }, k: 2, candidates: ids.slice(0, 600) },
      ];
      const want = await engine.rank(reqs);
      const tickets = reqs.map((r) => engine.prepareRank(r));
      assert.deepEqual(tickets.map((t) => t.candidates), [700, 600, 598, 2, 600]);
      const got = await engine.rankPrepared(tickets);
      for (const t of tickets) t.release();
      assert.deepEqual(got.map((r) => r.items), want.map((r) => r.items));
      assert.deepEqual(got.map((r) => r.candidates), want.map((r) => r.candidates));
      await engine.close();
    });

    it('keep the table as it was when prepared: a replaced item scores whole and old, a removed one still ranks; release frees the slots', async () => {
      const model = smallModel({ seed: 311 });
      const engine = await RalmEngine.create(model, { backend: 'cpu', ...backend });
      const items = randomItems(model, 600, 312);
      await engine.upsertItems(items);
      const req: RankRequest = { user: { embedding: new Rng(313).normals(model.manifest.h) }, k: 600, candidates: items.map((it) => it.id) };
      const before = (await engine.rank([req]))[0].items;
      const ticket = engine.prepareRank(req);
      // Replace the first item with other centroids and remove the second, after preparing.
      await engine.upsertItems([{ ...randomItems(model, 1, 314)[0], id: items[0].id }]);
      await engine.removeItems([items[1].id]);
      assert.equal(engine.table.pendingReclaim, 2, 'the prepared request pins the two old slots');
      const [got] = await engine.rankPrepared([ticket]);
      assert.deepEqual(got.items, before);
      ticket.release();
      ticket.release();
      assert.equal(engine.table.pendingReclaim, 0);
      const after = (await engine.rank([{ ...req, candidates: req.candidates?.slice(2) }]))[0].items;
      assert.equal(after.length, 598);
      await engine.close();
    });
  });
}

describe('rank(): requests of one batch that pass the same candidate array', () => {
  it('rank as if each had its own copy, exclusions apart; an array edited between calls is read afresh; score() likewise', async () => {
    const model = smallModel({ seed: 331 });
    const engine = await RalmEngine.create(model, { backend: 'cpu', cpuKernel: 'scalar' });
    const items = randomItems(model, 300, 332);
    await engine.upsertItems(items);
    const rng = new Rng(333);
    const list = items.slice(0, 250).map((it) => it.id);
    const users = Array.from({ length: 4 }, () => rng.normals(model.manifest.h));
    const exclude = [list[0], list[1]];
    const shared: RankRequest[] = [
      { user: { embedding: users[0] }, k: 250, candidates: list },
      { user: { embedding: users[1] }, k: 5, candidates: list, exclude },
      { user: { embedding: users[2] }, k: 5, candidates: list, exclude: [] },
      { user: { embedding: users[3] }, k: 5, candidates: list, exclude },
    ];
    const copies = shared.map((r) => ({ ...r, candidates: [...list], exclude: r.exclude ? [...r.exclude] : undefined }));
    const got = await engine.rank(shared);
    const want = await engine.rank(copies);
    assert.deepEqual(got.map((r) => r.items), want.map((r) => r.items));
    assert.deepEqual(got.map((r) => r.candidates), [250, 248, 250, 248]);
    assert.ok(!got[1].items.some((it) => exclude.includes(it.id)));

    // Identity is per call: the same array, edited, is resolved again by the next call.
    list.reverse();
    list.length = 100;
    const again = await engine.rank([{ user: { embedding: users[0] }, k: 250, candidates: list }, { user: { embedding: users[1] }, k: 3, candidates: list }]);
    assert.deepEqual(again.map((r) => r.candidates), [100, 100]);
    assert.ok(again[0].items.every((it) => list.includes(it.id)));

    // An unknown id in a shared list is the first request's error, as with copies.
    list.push('nope');
    await assert.rejects(engine.rank([{ user: { embedding: users[0] }, k: 1, candidates: list }, { user: { embedding: users[1] }, k: 1, candidates: list }]), coded('RALM_ERR_UNKNOWN_ITEM', 'requests[0].candidates'));
    assert.equal(engine.table.pendingReclaim, 0);
    list.pop();

    const scoreShared = await engine.score(users.map((u) => ({ user: { embedding: u }, items: list })));
    const scoreCopies = await engine.score(users.map((u) => ({ user: { embedding: u }, items: [...list] })));
    assert.deepEqual(scoreShared.map((r) => Array.from(r.scores)), scoreCopies.map((r) => Array.from(r.scores)));
    await engine.close();
  });
});

describe('prepared rank requests: coded errors', () => {
  it('name the field unprefixed, or after the prefix given; rank() names the batch position as before', async () => {
    const model = smallModel({ seed: 321 });
    const engine = await RalmEngine.create(model, { backend: 'cpu', cpuKernel: 'scalar' });
    await engine.upsertItems(randomItems(model, 10, 322));
    const e = new Float32Array(model.manifest.h).fill(0.1);
    assert.throws(() => engine.prepareRank({ user: { embedding: e }, k: 3, candidates: ['nope'] }), coded('RALM_ERR_UNKNOWN_ITEM', 'candidates'));
    assert.throws(() => engine.prepareRank({ user: { embedding: e }, k: 0 }), coded('RALM_ERR_VALIDATION', 'k'));
    assert.throws(() => engine.prepareRank({ user: { embedding: e.subarray(1) }, k: 1 }), coded('RALM_ERR_DIMENSION', 'user.embedding'));
    assert.throws(() => engine.prepareRank({ user: { embedding: e }, k: 1, candidates: 'item-1' as unknown as string[] }), coded('RALM_ERR_VALIDATION', 'candidates'));
    assert.throws(() => engine.prepareRank({ user: { embedding: e }, k: 3, candidates: ['nope'] }, 'requests[2].'), coded('RALM_ERR_UNKNOWN_ITEM', 'requests[2].candidates'));
    await assert.rejects(engine.rank([{ user: { embedding: e }, k: 1 }, { user: { embedding: e }, k: 1, candidates: ['nope'] }]), coded('RALM_ERR_UNKNOWN_ITEM', 'requests[1].candidates'));
    await assert.rejects(engine.rank([{ user: { embedding: e }, k: 1, candidates: ['nope'] }, { user: { embedding: e }, k: 0 }]), coded('RALM_ERR_VALIDATION', 'requests[1].k'));
    // Nothing stays pinned by a request that failed to prepare.
    assert.equal(engine.table.pendingReclaim, 0);

    const released = engine.prepareRank({ user: { embedding: e }, k: 1 });
    released.release();
    await assert.rejects(engine.rankPrepared([released]), (err: RalmError) => err.code === 'RALM_ERR_CLOSED');
    const other = await RalmEngine.create(model, { backend: 'cpu', cpuKernel: 'scalar' });
    const foreign = other.prepareRank({ user: { embedding: e }, k: 1 });
    await assert.rejects(engine.rankPrepared([foreign]), (err: RalmError) => err.code === 'RALM_ERR_VALIDATION');
    foreign.release();
    await other.close();
    await engine.close();
  });
});

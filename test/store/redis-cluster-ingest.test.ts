/**
 * Ingest on a 3-primary Valkey Cluster: one script per primary (not per item), and a reshard
 * behind the client's back — a slot moved (MOVED) or being moved (ASK) — handled by going one
 * item at a time through the Cluster client, with every event stored exactly once (events
 * without ids, so an item applied twice would show in its counts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { RedisStore } from '../../src/store/redis-store.js';
import type { ClickEvent } from '../../src/store/store.js';
import { startValkeyCluster, valkeySkip } from '../helpers/valkey.js';

/** Scripts the primaries ran (EVALSHA, and EVAL where a node did not know the script yet) since the last call. */
async function scriptsRun(nodes: Redis[]): Promise<number> {
  let n = 0;
  for (const node of nodes) {
    const stats = await node.info('commandstats');
    for (const m of stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) n += Number(m[1]);
    await node.call('CONFIG', 'RESETSTAT');
  }
  return n;
}

const clicks = (items: string[], per: number, ts = 1): ClickEvent[] => items.flatMap((item) => Array.from({ length: per }, (_, i) => ({ user: `u${i}`, item, ts: ts + i })));

describe('Valkey Cluster ingest', { skip: valkeySkip() }, () => {
  it('runs one script per primary; a slot moved or being moved meanwhile goes item by item, every event stored once', async () => {
    const cluster = await startValkeyCluster();
    const nodes = cluster.nodes.map((n) => new Redis(n.port, '127.0.0.1'));
    const { store } = await RedisStore.open(cluster.url);
    try {
      await scriptsRun(nodes);
      const items = Array.from({ length: 60 }, (_, i) => `item${i}`);
      const first = await store.ingest(clicks(items, 3));
      assert.equal(first.accepted, 180);
      assert.equal(await scriptsRun(nodes), 3, 'one script per primary');
      assert.equal((await store.stats()).eventsAccepted, 180);

      // Which node serves a slot, and the node ids, as the servers see them.
      const ids = await Promise.all(nodes.map(async (n) => String(await n.call('CLUSTER', 'MYID'))));
      const ownerOf = async (slot: number): Promise<number> => {
        const ranges = (await nodes[0].call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, string]]>;
        const r = ranges.find(([from, to]) => slot >= from && slot <= to) as [number, number, [string, number, string]];
        return ids.indexOf(r[2][2]);
      };
      const slotOf = (item: string): number => calculateSlot(store.keys.item(item));
      // Two items on one node: `stay` routes the node's script there, `moved` has its slot moved away.
      const byNode = new Map<number, string[]>();
      for (const item of items) {
        const n = await ownerOf(slotOf(item));
        byNode.set(n, [...(byNode.get(n) ?? []), item]);
      }
      const [from, group] = [...byNode].find(([, g]) => g.length >= 3) as [number, string[]];
      const stay = group.find((x) => slotOf(x) !== slotOf(group[group.length - 1])) as string;
      const moved = group[group.length - 1];
      const to = (from + 1) % 3;
      const slot = slotOf(moved);

      // MOVED: the slot and its keys go to another primary; the client still routes by its old map.
      await nodes[to].call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', ids[from]);
      await nodes[from].call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', ids[to]);
      const keys = (await nodes[from].call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
      assert.ok(keys.includes(store.keys.item(moved)), 'the moved item has its keys to move');
      await nodes[from].call('MIGRATE', '127.0.0.1', cluster.nodes[to].port, '', 0, 5000, 'KEYS', ...keys);
      for (const n of [to, from, (from + 2) % 3]) await nodes[n].call('CLUSTER', 'SETSLOT', slot, 'NODE', ids[to]);
      await scriptsRun(nodes);
      const second = await store.ingest(clicks([stay, moved], 2, 100));
      assert.equal(second.accepted, 4);
      const run = await scriptsRun(nodes);
      assert.ok(run >= 3, `the node script found a key moved away and its two items went one by one (${run} scripts)`);
      for (const x of [stay, moved]) assert.equal((await store.getItem(x))?.info.clicks, 5, `${x}: every event once`);
      assert.equal((await store.seedsOf(moved)).length, 5);
      assert.equal(await ownerOf(slot), to);
      assert.equal(await nodes[to].exists(store.keys.item(moved)), 1, 'its keys are on the node that serves the slot now');

      // ASK: a slot being moved (migrating on its node, importing on another), a new item in it.
      const fresh = Array.from({ length: 400 }, (_, i) => `new${i}`).find((x) => slotOf(x) !== slot) as string;
      const askSlot = slotOf(fresh);
      const askFrom = await ownerOf(askSlot);
      const askTo = (askFrom + 1) % 3;
      // An item of another slot on the same node goes first, so the node's script runs there.
      const peer = (byNode.get(askFrom) ?? []).find((x) => slotOf(x) !== askSlot && slotOf(x) !== slot) as string;
      await nodes[askTo].call('CLUSTER', 'SETSLOT', askSlot, 'IMPORTING', ids[askFrom]);
      await nodes[askFrom].call('CLUSTER', 'SETSLOT', askSlot, 'MIGRATING', ids[askTo]);
      await scriptsRun(nodes);
      const third = await store.ingest(clicks([peer, fresh], 2, 200));
      assert.equal(third.accepted, 4);
      assert.ok(await scriptsRun(nodes) >= 3, 'the items went one by one');
      for (const n of [askTo, askFrom, (askFrom + 2) % 3]) await nodes[n].call('CLUSTER', 'SETSLOT', askSlot, 'NODE', ids[askTo]);
      assert.equal(await nodes[askTo].exists(store.keys.item(fresh)), 1, 'the new item went where the slot is being moved (ASK followed)');
      assert.equal((await store.getItem(fresh))?.info.clicks, 2);
      assert.equal((await store.stats()).eventsAccepted, 188);
      assert.ok(await store.dirtyItems().then((d) => d.some((x) => x.id === fresh) && d.some((x) => x.id === moved)), 'items stored one by one are queued for re-clustering');
    } finally {
      await store.close();
      nodes.forEach((n) => n.disconnect());
      await cluster.stop();
    }
  });
});

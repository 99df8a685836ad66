import { describe, it } from 'node:test';
import { ralm } from './helpers/cli.js';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultModelDir } from '../src/util/paths.js';
import { LmdbStore } from '../src/store/lmdb-store.js';
import { RalmEngine } from '../src/engine/engine.js';
import { SeedService } from '../src/seeds/seed-service.js';
import { loadModel } from '../src/model/model.js';
import { loadDemoWorld } from '../src/server/demo.js';


describe('ralm command line', () => {
  it('info --json prints one JSON document', async () => {
    const r = await ralm('info', '--json');
    assert.equal(r.code, 0);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.cpu.available, true);
    assert.equal(doc.defaultModel.h, 64);
  });

  it('model init writes a model that model inspect validates', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-cli-'));
    const out = join(dir, 'm');
    assert.equal((await ralm('model', 'init', '--out', out, '--h', '16', '--m', '8', '--k', '4', '--json')).code, 0);
    const r = await ralm('model', 'inspect', out, '--json');
    assert.equal(r.code, 0);
    assert.equal(JSON.parse(r.stdout).manifest.k, 4);
    await rm(dir, { recursive: true });
  });

  it('bench kernel --json runs a small configuration and reports the roofline; plot and compare read it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-cli-bench-'));
    const out = join(dir, 'k.json');
    const r = await ralm('bench', 'kernel', '--backend', 'cpu', '--sizes', '200', '--ks', '4', '--h', '16', '--storage', 'f32,f16,int8', '--min-ms', '50', '--json', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.rows.length, 3);
    assert.deepEqual(doc.storageEffects.map((fx: { storage: string }) => fx.storage), ['f16', 'int8']);
    assert.ok(doc.rows.every((row: { f32RooflineRatio: number }) => row.f32RooflineRatio > 0));
    assert.ok(doc.rows[0].timing.medianMs > 0 && doc.rows[0].roofline.medianMs > 0);
    assert.ok(doc.storageEffects.every((fx: { top10Overlap: number }) => fx.top10Overlap > 0.5));
    assert.ok(doc.machine.memoryReadGBps > 0);
    const p = await ralm('bench', 'plot', out, '--out-dir', dir, '--json');
    assert.equal(p.code, 0, p.stderr);
    assert.equal(JSON.parse(p.stdout).files.length, 2);
    const c = await ralm('bench', 'compare', out, out);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /3 of 3 medians within ±10%/);
    await rm(dir, { recursive: true });
  });

  it('audience expands seed files over the store: several audiences, unmatched ids, CSV out', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-cli-audience-'));
    try {
      const store = LmdbStore.open(join(dir, 'data'));
      const engine = await RalmEngine.create(await loadModel(defaultModelDir), { backend: 'cpu' });
      await loadDemoWorld(new SeedService(store, engine));
      await engine.close();
      await store.close();
      await writeFile(join(dir, 'a.txt'), '# music fans\ndemo-music-1\ndemo-music-2\n\nnobody\n');
      await writeFile(join(dir, 'b.csv'), 'demo-sports-1,extra\n"demo-sports-2",x\n');
      const out = join(dir, 'out.csv');
      const r = await ralm('audience', '--seeds', join(dir, 'a.txt'), '--seeds', join(dir, 'b.csv'), '--size', '7',
        '--data-dir', join(dir, 'data'), '--backend', 'cpu', '--out', out, '--json');
      assert.equal(r.code, 0, r.stderr);
      const [a, b] = JSON.parse(r.stdout) as Array<{ seeds: { matched: number; unmatchedIds: string[] }; users: Array<{ id: string }> }>;
      assert.deepEqual([a.seeds.matched, a.seeds.unmatchedIds], [2, ['nobody']]);
      assert.equal(b.seeds.matched, 2);
      assert.ok(a.users.every((u) => u.id.startsWith('demo-music-')) && b.users.every((u) => u.id.startsWith('demo-sports-')));
      const csv = (await readFile(out, 'utf8')).trim().split('\n');
      assert.equal(csv[0], 'audience,rank,user,score,cos_global,cos_local');
      assert.equal(csv.length, 1 + 14);
      const bad = await ralm('audience', '--seeds', join(dir, 'a.txt'), '--data-dir', join(dir, 'data'));
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /give --size N or --threshold X/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('bench audience and eval audience run small configurations', async () => {
    const b = await ralm('bench', 'audience', '--users', '5000', '--ks', '5', '--top', '50', '--targets', 'wasm,scalar', '--min-ms', '50', '--json');
    assert.equal(b.code, 0, b.stderr);
    const doc = JSON.parse(b.stdout) as { rows: Array<{ target: string; storage: string; scan: string; candidates?: number; users: number; rooflineRatio: number; recallVsF32?: number; inCacheGmacPerThread: number | null }> };
    assert.deepEqual(doc.rows.map((x) => `${x.target} ${x.storage} ${x.scan}`), [
      'wasm f32 exact', 'wasm f32 two-pass', 'wasm int8 exact', 'wasm int8 two-pass',
      'scalar f32 exact', 'scalar f32 two-pass', 'scalar int8 exact', 'scalar int8 two-pass',
    ]);
    assert.ok(doc.rows.every((x) => x.users === 5000 && x.rooflineRatio > 0));
    assert.ok((doc.rows[0].inCacheGmacPerThread as number) > 0);
    // Two-pass rows kept the 2,000-candidate floor (below half the users, so both passes ran).
    assert.ok(doc.rows.filter((x) => x.scan === 'two-pass').every((x) => x.candidates === 2000));
    // Rows other than exact f32 report their recall of the exact f32 scan's top N (a wide margin).
    assert.ok(doc.rows.filter((x) => x.storage === 'int8' || x.scan === 'two-pass').every((x) => (x.recallVsF32 as number) > 0.8));
    const e = await ralm('eval', 'audience', '--dataset', 'synthetic', '--items', '20', '--rank', '16', '--ks', '5', '--ns', '10,100', '--json');
    assert.equal(e.code, 0, e.stderr);
    const ev = JSON.parse(e.stdout) as { methods: Array<{ method: string; atN: Array<{ n: number; recall: number }> }> };
    assert.deepEqual(ev.methods.map((m) => m.method), ['RALM (k=5)', 'averaged seeds', 'most active']);
    const u = await ralm('eval', 'audience', '--dataset', 'movielens');
    assert.equal(u.code, 2);
    assert.match(u.stderr, /--data DIR is required for movielens/);
  });

  it('usage errors exit 2 and name the problem', async () => {
    const r = await ralm('bench', 'kernel', '--sizes', 'ten');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--sizes: expected a positive integer, got "ten"/);
    assert.equal((await ralm('frobnicate')).code, 2);
    const m = await ralm('model', 'inspect', '/nonexistent-model');
    assert.equal(m.code, 1);
    assert.match(m.stderr, /RALM_ERR_MODEL_FORMAT: cannot read model directory/);
  });
});

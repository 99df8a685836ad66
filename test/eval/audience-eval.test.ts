import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evalAudience } from '../../src/eval/audience-eval.js';
import { openClickLog } from '../../src/data/open.js';
import { syntheticLog } from '../../src/data/synthetic.js';
import { toCsr, userFactors } from '../../src/train/click-factors.js';

/** Where the real datasets live: $RALM_DATASETS, else ../shared/data beside the repository. */
const datasets = process.env.RALM_DATASETS ?? resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', '..', 'shared', 'data');

describe('randomized SVD user factors', () => {
  it('deduplicates clicks and separates users of disjoint click blocks', () => {
    // Users 0–19 click items 0–9, users 20–39 items 10–19: odd users the even items of their block,
    // even users the odd ones (four disjoint click patterns, so rank 4 is exact); user 40 nothing.
    const u: number[] = [];
    const i: number[] = [];
    for (let a = 0; a < 40; a++) {
      for (let b = 0; b < 10; b++) {
        if ((a * 7 + b * 3) % 2 === 0) continue;
        u.push(a, a);
        i.push((a < 20 ? 0 : 10) + b, (a < 20 ? 0 : 10) + b); // every click twice
      }
    }
    const csr = toCsr(41, 20, u, i);
    assert.equal(csr.idx.length, u.length / 2, 'duplicates removed');
    const f = userFactors(csr, { rank: 4, seed: 3 });
    const dot = (a: number, b: number): number => {
      let s = 0;
      for (let t = 0; t < 4; t++) s += f[a * 4 + t] * f[b * 4 + t];
      return s;
    };
    assert.ok(Math.abs(dot(0, 0) - 1) < 1e-5, 'rows are unit length');
    assert.ok(dot(1, 3) > 0.99, 'same clicks: same direction');
    assert.ok(Math.abs(dot(1, 2)) < 1e-3, 'complementary clicks: orthogonal');
    assert.ok(Math.abs(dot(1, 25)) < 1e-3, 'disjoint blocks: orthogonal');
    assert.equal(dot(40, 40), 0, 'a user without clicks has a zero row');
  });
});

describe('audience evaluation', () => {
  it('on a planted log, embedding methods find hidden clickers far better than activity', async () => {
    const r = await evalAudience(syntheticLog({ users: 1200, items: 200, seed: 2 }), { items: 40, rank: 16, ns: [10, 100], ks: [20] });
    assert.deepEqual(r.methods.map((m) => m.method), ['RALM (k=20)', 'averaged seeds', 'most active']);
    const at100 = (name: string): number => (r.methods.find((m) => m.method === name)?.atN[1].recall as number);
    // Random choice would find 100 / ~1,180 ≈ 8.5 % of the hidden clickers.
    assert.ok(at100('RALM (k=20)') > 0.25, `RALM recall@100 ${at100('RALM (k=20)')}`);
    assert.ok(at100('RALM (k=20)') > 3 * at100('most active'));
    assert.equal(r.data.evalItems, 40);
    for (const m of r.methods) for (const a of m.atN) assert.ok(a.precision >= 0 && a.precision <= 1 && a.recall >= 0 && a.recall <= 1);
  });

  it('trains stage 2 from the untrained configuration and keeps it unless held-out items validate the training better', async () => {
    const r = await evalAudience(syntheticLog({ users: 600, items: 80, seed: 3 }), { items: 20, rank: 8, ns: [50], ks: [4], trainEpochs: 1 });
    assert.deepEqual(r.methods.map((m) => m.method), ['RALM (k=4)', 'RALM (k=4, trained)', 'averaged seeds', 'most active']);
    const t = r.training as NonNullable<typeof r.training>;
    assert.ok(['trained', 'initial'].includes(t.kept));
    assert.ok(t.bestValidationAuc >= t.initialValidationAuc);
    if (t.kept === 'initial') assert.deepEqual(r.methods[1].atN, r.methods[0].atN, 'the untrained weights, kept, expand as the untrained row does');
  });

  it('passes the training\'s weights, learning rate and blend through, and says which in the row', async () => {
    const r = await evalAudience(syntheticLog({ users: 600, items: 80, seed: 3 }), { items: 20, rank: 8, ns: [50], ks: [4], trainEpochs: 1, trainParams: ['attention'], trainLr: 0.01, trainBlend: 'learned' });
    assert.deepEqual(r.settings.trainParams, ['attention']);
    assert.equal(r.training?.params, 'attention');
    assert.equal(r.training?.candidates.length, 1);
    assert.equal(r.settings.trainLr, 0.01);
    assert.equal(r.settings.trainBlend, 'learned');
    assert.match(r.methods[1].description, /T held, Adam 0\.01, blend learned; kept /);
  });

  it('with several trainings, keeps the one whose weights validate best on held-out items, and records each', async () => {
    const log = syntheticLog({ users: 600, items: 80, seed: 3 });
    const opts = { items: 20, rank: 8, ns: [50], ks: [4], trainEpochs: 2 };
    const both = await evalAudience(log, { ...opts, trainParams: ['all', 'attention'] });
    const t = both.training as NonNullable<typeof both.training>;
    assert.deepEqual(t.candidates.map((c) => c.params), ['all', 'attention']);
    const best = Math.max(...t.candidates.map((c) => c.bestValidationAuc));
    assert.equal(t.bestValidationAuc, best);
    assert.equal(t.params, t.candidates.find((c) => c.bestValidationAuc === best)?.params);
    // The kept row expands exactly as that training alone does.
    const alone = await evalAudience(log, { ...opts, trainParams: [t.params] });
    assert.deepEqual(both.methods[1].atN, alone.methods[1].atN);
    assert.match(both.methods[1].description, /chosen on held-out items/);
  });

  it('runs on MovieLens latest-small', async (t) => {
    const dir = join(datasets, 'ml-latest-small');
    if (!existsSync(join(dir, 'ratings.csv'))) {
      t.skip(`MovieLens latest-small is absent (looked for ${dir}/ratings.csv; set RALM_DATASETS to the folder holding ml-latest-small/)`);
      return;
    }
    const log = await openClickLog({ kind: 'movielens', path: dir });
    assert.equal(log.userIds.length, 609); // users with at least one rating of 4 or more
    const r = await evalAudience(log, { items: 30, rank: 16, ns: [100], ks: [5] });
    const ralm = r.methods[0].atN[0];
    // 100 of ~600 users at random would find about 17 % of the hidden clickers.
    assert.ok(ralm.recall > 0.3, `recall@100 ${ralm.recall}`);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RalmEngine } from '../../src/engine/engine.js';
import { UserTable, type UserStorage } from '../../src/core/user-table.js';
import { prepareSeedSet, type PreparedSeedSet } from '../../src/core/seed-set.js';
import type { ScanHits, ScanJob } from '../../src/core/scan.js';
import { candidateCount, isDirectionSet, scanTwoPass, summarySeedSet, twoPassPays } from '../../src/core/two-pass.js';
import { scoreUserScalar } from '../../src/cpu/scan-scalar.js';
import { AudienceService } from '../../src/audience/audience-service.js';
import { referenceGlobal } from '../../src/model/reference.js';
import type { RalmModel } from '../../src/model/model.js';
import { Rng } from '../../src/util/rng.js';
import { close, smallModel, targetsUnderTest } from '../helpers/fixtures.js';

interface World {
  model: RalmModel;
  table: UserTable;
  ids: string[];
  /** Seed sets: near cluster 0 (4 centroids), and one centroid near cluster 3. */
  sets: PreparedSeedSet[];
}

/**
 * 3,000 users in 12 separated clusters of 250 (a multi-page table; 50 users re-embedded, so
 * dead rows exist; one zero embedding), and seed sets drawn near two of the clusters: the exact
 * top N of each set lies inside its cluster, which the first pass keeps whole.
 */
function world(storage: UserStorage = 'f32'): World {
  const model = smallModel({ seed: 31 });
  const { h } = model.manifest;
  const rng = new Rng(12);
  const centers = Array.from({ length: 12 }, () => rng.normals(h, 1));
  const n = 3000;
  const e = new Float32Array(n * h);
  for (let u = 0; u < n; u++) for (let i = 0; i < h; i++) e[u * h + i] = centers[u % 12][i] + 0.15 * rng.normal();
  e.fill(0, 24 * h, 25 * h); // u24: zero embedding
  const table = new UserTable({ h, maxCentroids: model.manifest.k, rowsPerPage: 1100, storage });
  const ids = Array.from({ length: n }, (_, i) => `u${i}`);
  table.upsert(ids, e);
  table.upsert(ids.slice(12, 62), e.slice(12 * h, 62 * h));
  const near = (c: number, count: number): PreparedSeedSet => {
    const centroids = new Float32Array(count * h);
    for (let j = 0; j < count; j++) for (let i = 0; i < h; i++) centroids[j * h + i] = centers[c][i] + 0.1 * rng.normal();
    return prepareSeedSet(model, centroids, count, Float32Array.from(referenceGlobal(model, centroids, count)));
  };
  return { model, table, ids, sets: [near(0, 4), near(3, 1)] };
}

const OPTIONS = { factor: 8, minCandidates: 0 };

describe('two-pass scan: the first pass', () => {
  it('is one direction v = α ĝ + β L̄/|L̄|, and its score ranks users by first(u) = α cos(e, ĝ) + β cos(e, L̄)', () => {
    const w = world();
    const { alpha, beta } = w.model.manifest;
    const set = w.sets[0];
    const sum = summarySeedSet(set, alpha, beta);
    assert.ok(isDirectionSet(sum));
    assert.ok(!isDirectionSet(set));
    assert.ok(!isDirectionSet(w.sets[1]), 'a one-centroid seed set has its A and ĝ rows');
    const { stride, count: c } = set;
    const cos = (a: ArrayLike<number>, at: number, b: ArrayLike<number>, bt: number): number => {
      let ab = 0;
      let aa = 0;
      let bb = 0;
      for (let i = 0; i < stride; i++) {
        ab += a[at + i] * b[bt + i];
        aa += a[at + i] ** 2;
        bb += b[bt + i] ** 2;
      }
      return ab / Math.sqrt(aa * bb);
    };
    const pooled = new Float64Array(stride);
    for (let j = 0; j < c; j++) for (let i = 0; i < stride; i++) pooled[i] += set.d[(c + j) * stride + i];
    const page = w.table.pages[0];
    const out = new Float32Array(3);
    const firstOf = (u: number): number => alpha * cos(page.rows, u * stride, set.d, 2 * c * stride) + beta * cos(page.rows, u * stride, pooled, 0);
    const vNorm = Math.sqrt(sum.gram[0]);
    for (const u of [0, 5, 77, 600]) {
      scoreUserScalar(sum, page.rows, u * stride, page.norms[u], 0, 1, new Float64Array(4), new Float64Array(4), out, 0);
      assert.ok(close(out[0] * vNorm, firstOf(u), 1e-5, 1e-4), `user ${u}: ${out[0] * vNorm} against ${firstOf(u)}`);
      assert.equal(out[1], 0);
    }
  });

  it('keeps factor × N candidates (at least the floor) and runs exact where they would be half the users or more', () => {
    assert.equal(candidateCount(10, { factor: 8, minCandidates: 2000 }), 2000);
    assert.equal(candidateCount(1000, { factor: 8, minCandidates: 2000 }), 8000);
    const w = world();
    const snapshot = w.table.acquire();
    const job = { snapshot, sets: [{ set: w.sets[0], topN: 187, threshold: -Infinity }] };
    assert.equal(twoPassPays(job, OPTIONS), true);
    assert.equal(twoPassPays({ ...job, sets: [{ ...job.sets[0], topN: 188 }] }, OPTIONS), false);
    assert.equal(twoPassPays({ ...job, pool: new Uint32Array(100) }, OPTIONS), false);
    snapshot.release();
  });
});

function users(h: ScanHits, idOf: (p: number) => string): Array<{ id: string; score: number }> {
  return Array.from(h.position, (p, i) => ({ id: idOf(p), score: h.score[i] }));
}

for (const target of await targetsUnderTest()) {
  describe(`two-pass scan on ${target.label}`, () => {
    for (const storage of ['f32', 'int8'] as const) {
      it(`${storage}: the first pass scores as the general kernel does, and the two passes return the exact scan's users and scores`, async () => {
        const w = world(storage);
        const { alpha, beta } = w.model.manifest;
        const engine = await RalmEngine.create(w.model, { recoverDevice: false, ...target.options });
        const run = async (job: ScanJob): Promise<ScanHits[]> => (await engine.scanUsers(job)).hits;
        try {
          const snapshot = w.table.acquire();
          // The first pass's set against the same set with a negligible A row, which every kernel
          // scores through its general path (four dot products and the quadratic form).
          const sum = summarySeedSet(w.sets[0], alpha, beta);
          const general = { ...sum, d: sum.d.slice() };
          general.d[0] = 1e-30;
          assert.ok(!isDirectionSet(general));
          const [a] = await run({ table: w.table, snapshot, sets: [{ set: sum, topN: 400, threshold: -Infinity }], alpha: 0, beta: 1 });
          const [b] = await run({ table: w.table, snapshot, sets: [{ set: general, topN: 400, threshold: -Infinity }], alpha: 0, beta: 1 });
          const byPos = new Map(Array.from(b.position, (p, i) => [p, b.score[i]]));
          let same = 0;
          a.position.forEach((p, i) => {
            const s = byPos.get(p);
            if (s !== undefined) {
              same++;
              assert.ok(close(a.score[i], s, 1e-6, 1e-5), `first pass, position ${p}: ${a.score[i]} against ${s}`);
            }
          });
          assert.ok(same >= 395, `first passes share ${same} of 400 candidates`);

          // Dense, with an excluded user inside the top, two sets, a threshold on the second.
          const skip = new Uint32Array(Math.ceil(snapshot.rowCount / 32));
          const r0 = w.table.rowOf('u0') as number;
          skip[r0 >>> 5] |= 1 << (r0 & 31);
          const job: ScanJob = {
            table: w.table, snapshot, alpha, beta,
            sets: [{ set: w.sets[0], skip, topN: 30, threshold: -Infinity }, { set: w.sets[1], topN: 25, threshold: 0.2 }],
          };
          const exact = await run(job);
          const two = await scanTwoPass(run, job, OPTIONS);
          for (const s of [0, 1]) {
            assert.deepEqual(Array.from(two[s].position), Array.from(exact[s].position), `set ${s}: the exact scan's users, in its order`);
            assert.deepEqual(Array.from(two[s].score), Array.from(exact[s].score), `set ${s}: the exact scores`);
            assert.deepEqual(Array.from(two[s].cosLocal), Array.from(exact[s].cosLocal), `set ${s}: cos_l`);
          }
          assert.ok(!users(two[0], snapshot.idOf).some((u) => u.id === 'u0'), 'the excluded user stays out');
          assert.ok(two[1].score.every((x) => x >= 0.2));
          assert.ok(users(two[0], snapshot.idOf).every((u) => Number(u.id.slice(1)) % 12 === 0), 'set 0 finds its cluster');

          // A pool, in a caller's order: positions are pool indices.
          const poolIds = ['u24', ...w.ids.filter((_, i) => i % 2 === 0).reverse()];
          const pool = Uint32Array.from(poolIds, (id) => w.table.rowOf(id) as number);
          const pj: ScanJob = { table: w.table, snapshot, pool, alpha, beta, sets: [{ set: w.sets[1], topN: 20, threshold: -Infinity }] };
          const pe = await run(pj);
          const pt = await scanTwoPass(run, pj, OPTIONS);
          assert.deepEqual(users(pt[0], (p) => poolIds[p]), users(pe[0], (p) => poolIds[p]));
          snapshot.release();
        } finally {
          await engine.close();
        }
      });
    }
  });
}

describe('audience service: scan mode', () => {
  it('refuses an unknown scan mode or a candidate factor below 1, with the field', async () => {
    const model = smallModel();
    const engine = await RalmEngine.create(model, { backend: 'cpu', recoverDevice: false });
    try {
      assert.throws(() => new AudienceService(engine, null, { scan: 'fast' as never }), (e: Error & { code?: string; details?: { field?: string } }) => e.code === 'RALM_ERR_VALIDATION' && /scan/.test(e.message));
      assert.throws(() => new AudienceService(engine, null, { scan: 'two-pass', candidateFactor: 0.5 }), (e: Error & { code?: string }) => e.code === 'RALM_ERR_VALIDATION' && /candidateFactor/.test(e.message));
    } finally {
      await engine.close();
    }
  });

  it('two-pass and exact give the same audience where the candidates would cover half the users', async () => {
    const w = world();
    const { h } = w.model.manifest;
    const engine = await RalmEngine.create(w.model, { backend: 'cpu', recoverDevice: false });
    try {
      const lists = [];
      for (const scan of ['exact', 'two-pass'] as const) {
        const svc = new AudienceService(engine, null, { scan });
        const e = new Float32Array(w.ids.length * h);
        w.ids.forEach((id, i) => e.set(w.table.embedding(id) as Float32Array, i * h));
        svc.addUsers(w.ids, e);
        await svc.load();
        const [r] = await svc.runMany([{ seeds: ['u0', 'u12', 'u24', 'u36'], seedEmbeddings: [], size: 15, threshold: null, exclude: [], excludeSeeds: true, pool: null, seed: 1 }]);
        lists.push(r.users);
      }
      assert.deepEqual(lists[1], lists[0]);
    } finally {
      await engine.close();
    }
  });
});

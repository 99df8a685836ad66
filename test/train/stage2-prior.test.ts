/**
 * Stage 2 chooses the popularity prior's λ on its own validation (prec@10 of held-out latest
 * clicks, on the weights kept), writes it to the manifest, and takes a fixed one when given.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { trainStage2 } from '../../src/train/stage2.js';
import { choosePrior, PRIOR_WEIGHTS } from '../../src/train/stage2-ranking.js';
import { Rng } from '../../src/util/rng.js';
import type { RalmError } from '../../src/util/errors.js';

/**
 * Clicks drawn by popularity alone (Zipf over items) and user embeddings with no signal: the
 * look-alike score is noise there, so the prior is what ranks held-out clicks.
 */
function popularityLog(users: number, items: number, perUser: number, seed: number): { x: Float32Array; m: number; user: Int32Array; item: Int32Array } {
  const rng = new Rng(seed);
  const weights = Array.from({ length: items }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const user: number[] = [];
  const item: number[] = [];
  for (let u = 0; u < users; u++) {
    const seen = new Set<number>();
    while (seen.size < perUser) {
      let r = rng.next() * total;
      let i = 0;
      while (r > weights[i] && i < items - 1) r -= weights[i++];
      if (seen.has(i)) continue;
      seen.add(i);
      user.push(u);
      item.push(i);
    }
  }
  const m = 6;
  return { x: rng.normals(users * m), m, user: Int32Array.from(user), item: Int32Array.from(item) };
}

describe('stage 2: the popularity prior', () => {
  it('choosePrior takes the best λ of the grid, 0 unless one beats it, the smaller on a tie; a fixed λ as given', () => {
    assert.deepEqual(PRIOR_WEIGHTS, [0.02, 0.05, 0.1, 0.2, 0.5]);
    assert.equal(choosePrior('auto', 0.1, [0.1, 0.12, 0.15, 0.15, 0.11]).lambda, 0.1);
    assert.equal(choosePrior('auto', 0.2, [0.1, 0.12, 0.15, 0.2, 0.11]).lambda, 0);
    const fixed = choosePrior(0.3, 0.2, [0.1, 0.12, 0.15, 0.2, 0.11]);
    assert.deepEqual({ lambda: fixed.lambda, chosen: fixed.chosen }, { lambda: 0.3, chosen: 'fixed' });
    assert.deepEqual(fixed.grid.map((g) => g.lambda), [0, ...PRIOR_WEIGHTS]);
  });

  it('picks λ > 0 on clicks driven by popularity, records every λ tried, and writes it to the manifest', async () => {
    const { x, m, user, item } = popularityLog(300, 40, 12, 5);
    const r = await trainStage2(x, m, { user, item }, { k: 2, attentionSize: 4, epochs: 1, patience: 1, minClickers: 5, seed: 3, inputScaling: 'none', validationMetric: 'ranking' });
    assert.equal(r.prior.chosen, 'validation');
    assert.deepEqual(r.prior.grid.map((g) => g.lambda), [0, ...PRIOR_WEIGHTS]);
    assert.equal(r.prior.grid[0].ranking, r.validation.kept.ranking, 'λ = 0 is the kept weights\' own measure');
    const best = Math.max(...r.prior.grid.map((g) => g.ranking));
    assert.ok(r.prior.lambda > 0, `λ = ${r.prior.lambda}: ${JSON.stringify(r.prior.grid)}`);
    assert.equal(r.prior.grid.find((g) => g.lambda === r.prior.lambda)?.ranking, best);
    assert.ok(best > r.prior.grid[0].ranking);
    assert.equal(r.model.manifest.popularityPrior, r.prior.lambda);
  });

  it('a fixed λ is kept as given (0 included); a bad one is a coded error', async () => {
    const { x, m, user, item } = popularityLog(200, 30, 10, 6);
    const opts = { k: 2, attentionSize: 4, epochs: 0, minClickers: 5, seed: 3, inputScaling: 'none' as const };
    for (const lambda of [0, 0.07]) {
      const r = await trainStage2(x, m, { user, item }, { ...opts, popularityPrior: lambda });
      assert.equal(r.prior.chosen, 'fixed');
      assert.equal(r.model.manifest.popularityPrior, lambda);
    }
    await assert.rejects(trainStage2(x, m, { user, item }, { ...opts, popularityPrior: Number.NaN }), (err: RalmError) => err.code === 'RALM_ERR_VALIDATION' && /popularityPrior: expected "auto" or a finite number/.test(err.message));
  });

  it('the checked rule chooses λ once the weights are kept, on every held-out click (both halves)', async () => {
    const { x, m, user, item } = popularityLog(300, 40, 12, 5);
    const lines: string[] = [];
    const r = await trainStage2(x, m, { user, item }, { k: 2, attentionSize: 4, epochs: 1, patience: 1, minClickers: 5, seed: 3, inputScaling: 'none', validationMetric: 'ranking', keepRule: 'checked', objective: 'items', loss: 'softmax', negatives: 6, log: (l) => lines.push(l) });
    const c = r.check;
    assert.ok(c && c.checkRows > 0 && c.selectionRows > 0);
    const rows = c.checkRows + c.selectionRows;
    // Each λ's figure is a count of hits over every held-out click, not over one half's.
    for (const g of r.prior.grid) assert.ok(Math.abs(g.ranking * rows - Math.round(g.ranking * rows)) < 1e-6, `${g.ranking} × ${rows}`);
    const best = Math.max(...r.prior.grid.map((g) => g.ranking));
    assert.equal(r.prior.grid.find((g) => g.lambda === r.prior.lambda)?.ranking, best);
    assert.ok(lines.some((l) => /popularity prior λ = .*\(chosen on validation, every held-out click;/.test(l)), lines.join('\n'));
  });

  it('priorInLoss trains on the served score: λ·ln(1 + clickers) inside the loss; with λ = 0 it is the score alone', async () => {
    const { x, m, user, item } = popularityLog(240, 30, 10, 7);
    const opts = { k: 2, attentionSize: 4, epochs: 2, patience: 2, minClickers: 5, seed: 3, inputScaling: 'none' as const, validationMetric: 'ranking' as const, objective: 'items' as const, loss: 'softmax' as const, negatives: 6 };
    const losses = async (o: object): Promise<{ loss: number[]; lines: string[] }> => {
      const lines: string[] = [];
      const r = await trainStage2(x, m, { user, item }, { ...opts, ...o, log: (l) => lines.push(l) });
      return { loss: r.history.map((e) => e.loss), lines };
    };
    const plain = await losses({ popularityPrior: 0 });
    const zero = await losses({ popularityPrior: 0, priorInLoss: true });
    assert.deepEqual(zero.loss, plain.loss, 'λ = 0 adds nothing');
    const withPrior = await losses({ popularityPrior: 0.5, priorInLoss: true });
    assert.ok(withPrior.lines.some((l) => l.startsWith('stage 2 trains with the served score: λ = 0.5')), withPrior.lines.join('\n'));
    // Clicks drawn by popularity: with the prior inside the softmax the positives' logits start higher, so the loss is lower.
    assert.ok(withPrior.loss[0] < plain.loss[0], `${withPrior.loss[0]} vs ${plain.loss[0]}`);
  });
});

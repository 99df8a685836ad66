/**
 * Stage 2's `checked` keep rule: epochs and λ chosen on one half of the validation users, the
 * start kept unless an alternative beats it on the other half by more than the margin × the
 * paired-bootstrap SD (src/train/stage2-keep.ts), and the result, manifest and log saying which.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkKeep, keepCheckLine } from '../../src/train/stage2-keep.js';
import { holdOutForRanking } from '../../src/train/stage2-ranking.js';
import { trainStage2 } from '../../src/train/stage2.js';
import { syntheticLog } from '../../src/data/synthetic.js';
import { toCsr, userFactors } from '../../src/train/click-factors.js';
import { maskedSoftmax } from '../../src/train/stage2-model.js';
import * as tf from '@tensorflow/tfjs';

/** Rows of `users` users with `per` rows each; part 1 (the check half) for odd users. */
function rows(users: number, per: number): { rowUser: Int32Array; rowPart: Uint8Array } {
  const rowUser = Int32Array.from({ length: users * per }, (_, r) => Math.floor(r / per));
  return { rowUser, rowPart: Uint8Array.from(rowUser, (u) => u % 2) };
}

describe('stage 2: the checked keep rule', () => {
  it('compares on the check half only, with the figures computed by hand', () => {
    const { rowUser, rowPart } = rows(4, 2); // check half: users 1 and 3, rows 2, 3, 6, 7
    const start = { kept: 'initial' as const, lambda: 0.05, hits: Uint8Array.from([1, 1, 0, 1, 1, 1, 0, 0]) };
    const better = { kept: 'trained' as const, lambda: 0.1, hits: Uint8Array.from([0, 0, 1, 1, 0, 0, 1, 1]) };
    const c = checkKeep(start, [better], rowUser, rowPart, { margin: 0, seed: 1 });
    assert.deepEqual([c.checkRows, c.checkUsers, c.selectionRows], [4, 2, 4]);
    assert.equal(c.start.value, 1 / 4, 'the selection half\'s hits do not count');
    assert.equal(c.alternatives[0].value, 4 / 4);
    assert.equal(c.alternatives[0].gain, 3 / 4);
    assert.ok(c.alternatives[0].sd > 0 && c.alternatives[0].passed);
    assert.equal(c.kept, 'trained');
    assert.match(keepCheckLine(c), /keep check on 4 held-out clicks of 2 users.*kept: trained/);
  });

  it('keeps the start when the gain is within the margin × the noise, or when nothing differs', () => {
    const { rowUser, rowPart } = rows(200, 3);
    const n = rowUser.length;
    // The alternative wins one check-half click more than the start: a gain far inside the noise.
    const startHits = Uint8Array.from({ length: n }, (_, r) => (r % 7 === 0 ? 1 : 0));
    const altHits = startHits.slice();
    const firstCheck = rowPart.indexOf(1);
    altHits[firstCheck + (startHits[firstCheck] ? 1 : 0)] = 1;
    const c = checkKeep({ kept: 'identity', lambda: 0, hits: startHits }, [{ kept: 'trained', lambda: 0, hits: altHits }], rowUser, rowPart, { margin: 2, seed: 3 });
    assert.ok(c.alternatives[0].gain > 0 && c.alternatives[0].gain <= 2 * c.alternatives[0].sd, JSON.stringify(c.alternatives[0]));
    assert.equal(c.kept, 'identity');
    const same = checkKeep({ kept: 'initial', lambda: 0, hits: startHits }, [{ kept: 'averaged', lambda: 0, hits: startHits }], rowUser, rowPart, { margin: 0, seed: 3 });
    assert.deepEqual([same.alternatives[0].gain, same.alternatives[0].sd, same.kept], [0, 0, 'initial']);
  });

  it('takes the better of two alternatives that both pass, and is seeded', () => {
    const { rowUser, rowPart } = rows(100, 2);
    const start = Uint8Array.from(rowUser, () => 0);
    const some = Uint8Array.from(rowUser, (u) => (u % 3 === 0 ? 1 : 0));
    const more = Uint8Array.from(rowUser, (u) => (u % 3 !== 2 ? 1 : 0));
    const args = [{ kept: 'initial' as const, lambda: 0, hits: start }, [{ kept: 'trained' as const, lambda: 0, hits: some }, { kept: 'averaged' as const, lambda: 0.1, hits: more }], rowUser, rowPart, { margin: 2, seed: 9 }] as const;
    const c = checkKeep(...args);
    assert.ok(c.alternatives.every((a) => a.passed));
    assert.equal(c.kept, 'averaged');
    assert.deepEqual(checkKeep(...args), c);
  });

  it('splits the validation users in two seeded halves, with or without the split the same rows', () => {
    const user: number[] = [];
    const item: number[] = [];
    for (let u = 0; u < 40; u++) for (let i = 0; i < 12; i++) { user.push(u); item.push((i * 7 + u) % 15); }
    const a = holdOutForRanking({ user, item }, 3, 100, 1, { perUser: 2, minTrainClicks: 5 }).ranking;
    const b = holdOutForRanking({ user, item }, 3, 100, 1, { perUser: 2, minTrainClicks: 5 }).ranking;
    assert.deepEqual(a.rowPart, b.rowPart);
    const checkUsers = new Set<number>();
    const selUsers = new Set<number>();
    a.rowUser.forEach((u, r) => (a.rowPart[r] ? checkUsers : selUsers).add(u));
    assert.equal(checkUsers.size, 20);
    assert.equal([...checkUsers].filter((u) => selUsers.has(u)).length, 0, 'a user\'s clicks are all in one half');
    assert.equal(a.mean(Uint8Array.from(a.rowPart), 1), 1);
    assert.equal(a.mean(Uint8Array.from(a.rowPart), 0), 0);
  });

  it('trainStage2: the check is in the result and the notes, epochs are chosen on the selection half, and an averaged-seeds model is served with k = 1', async () => {
    const log = syntheticLog({ users: 400, items: 60, topics: 4, seed: 7 });
    const m = 8;
    const x = userFactors(toCsr(log.userIds.length, log.itemIds.length, log.user, log.item), { rank: m, seed: 2 });
    const lines: string[] = [];
    const base = { k: 3, attentionSize: 4, epochs: 2, patience: 2, minClickers: 15, seed: 4, objective: 'items' as const, loss: 'softmax' as const, negatives: 8, validationMetric: 'ranking' as const, inputScaling: 'none' as const };
    const r = await trainStage2(x, m, { user: log.user, item: log.item }, { ...base, keepRule: 'checked', keepAveraged: true, keepMargin: 1, log: (l) => lines.push(l) });
    const c = r.check;
    assert.ok(c, 'the checked rule reports its check');
    assert.equal(c.rule, 'checked');
    assert.equal(c.kept, r.kept);
    assert.deepEqual(c.alternatives.map((a) => a.kept).sort(), ['averaged', 'trained']);
    assert.ok(c.checkRows > 0 && c.selectionRows > 0);
    for (const a of c.alternatives) assert.equal(a.passed, a.gain > c.margin * a.sd && a.gain > 0);
    assert.equal(r.model.manifest.k, r.kept === 'averaged' ? 1 : 3);
    assert.ok(lines.some((l) => l.startsWith('keep check on ')), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('averaged seeds (the start at k = 1)')));
    // Epochs are chosen on the selection half: the history's figures are the selection half's.
    assert.ok(r.history.every((e) => e.validationAuc === e.validation.withPrior));
    // The default (`best`) has no check and never turns into averaged seeds.
    const plain = await trainStage2(x, m, { user: log.user, item: log.item }, { ...base, epochs: 0 });
    assert.equal(plain.check, null);
    assert.notEqual(plain.kept, 'averaged');
  });

  it('a margin no gain can pass keeps the start', async () => {
    const log = syntheticLog({ users: 300, items: 50, topics: 3, seed: 8 });
    const m = 6;
    const x = userFactors(toCsr(log.userIds.length, log.itemIds.length, log.user, log.item), { rank: m, seed: 2 });
    const r = await trainStage2(x, m, { user: log.user, item: log.item }, { k: 3, attentionSize: 4, epochs: 1, minClickers: 10, seed: 5, objective: 'items', loss: 'softmax', negatives: 6, validationMetric: 'ranking', inputScaling: 'none', keepRule: 'checked', keepAveraged: true, keepMargin: 1e9 });
    assert.ok(r.kept === 'initial' || r.kept === 'identity', r.kept);
    assert.equal(r.check?.kept, r.kept);
    assert.equal(r.model.manifest.k, 3);
    assert.match(r.model.manifest.provenance.notes ?? '', /kept \(no trained epoch validated better beyond the check half's noise\)/);
  });

  it('maskedSoftmax weighs each term by its mask: 0 leaves it out, w counts it w times', () => {
    const logits = [0.5, -0.2, 0.9, 0.1];
    const weights = [3, 1, 0, 2];
    const got = tf.tidy(() => maskedSoftmax(tf.tensor2d([logits]), tf.tensor2d([weights])).dataSync());
    const ex = logits.map((l, j) => weights[j] * Math.exp(l));
    const sum = ex.reduce((a, b) => a + b, 0);
    ex.forEach((e, j) => assert.ok(Math.abs(got[j] - e / sum) < 1e-6, `${j}: ${got[j]} vs ${e / sum}`));
    // Ones: the plain masked softmax, unchanged.
    const ones = tf.tidy(() => maskedSoftmax(tf.tensor2d([logits]), tf.tensor2d([[1, 1, 0, 1]])).dataSync());
    const e1 = logits.map((l, j) => (j === 2 ? 0 : Math.exp(l)));
    const s1 = e1.reduce((a, b) => a + b, 0);
    e1.forEach((e, j) => assert.ok(Math.abs(ones[j] - e / s1) < 1e-6));
  });

  it('the size diagnostic: logged against the start with paired SDs, never kept, the model the same as without it', async () => {
    const log = syntheticLog({ users: 300, items: 50, topics: 3, seed: 8 });
    const m = 6;
    const x = userFactors(toCsr(log.userIds.length, log.itemIds.length, log.user, log.item), { rank: m, seed: 2 });
    const base = { k: 3, attentionSize: 4, epochs: 1, minClickers: 10, seed: 5, objective: 'items' as const, loss: 'softmax' as const, negatives: 6, validationMetric: 'ranking' as const, inputScaling: 'none' as const, keepRule: 'checked' as const };
    const lines: string[] = [];
    const withIt = await trainStage2(x, m, { user: log.user, item: log.item }, { ...base, sizeDiagnostic: true, log: (l) => lines.push(l) });
    const without = await trainStage2(x, m, { user: log.user, item: log.item }, base);
    const line = lines.find((l) => l.startsWith('size-weighted attention against the start'));
    assert.ok(line, lines.join('\n'));
    assert.match(line, /every held-out click [01]\.\d{4} vs [01]\.\d{4} \([+-]\d\.\d{4} ± \d\.\d{4}\); check half [01]\.\d{4} vs [01]\.\d{4} \([+-]\d\.\d{4} ± \d\.\d{4}\)$/);
    assert.equal(withIt.kept, without.kept);
    assert.deepEqual(withIt.model.weights, without.model.weights);
    assert.equal(withIt.model.manifest.k, 3);
  });
});

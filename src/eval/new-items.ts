/**
 * The new-item protocol of `ralm eval`: items first clicked after the cut. For n in the seed
 * counts, each such item with more than n distinct clickers gets its first n clickers as seeds
 * (in time order); its later clickers who are known users are the targets. Per (target, item)
 * the item is scored against `negatives` training-period candidates the target never clicked;
 * the mean of the resulting AUCs is reported per method. RALM needs only the n seeds; the
 * YouTube-DNN-style model would need retraining (its embedding of a new item is whatever
 * sampling as a negative left); most-popular is given the item's n clicks as its popularity (an
 * online counter). Items, targets and negatives are fixed across seeds and methods.
 */
import type { Dataset } from '../data/dataset.js';
import type { TemporalSplit } from '../data/split.js';
import { Rng } from '../util/rng.js';
import { auc, meanSpread, type MeanSpread } from './metrics.js';
import type { EvalContext } from './ranking-eval.js';
import type { RalmRecommender, YoutubeDnn } from './recommenders.js';

export interface NewItemRow {
  n: number;
  items: number;
  pairs: number;
  /** Per method, mean AUC over the seeds' runs (and its spread over seeds). */
  auc: Record<string, MeanSpread>;
}

export interface NewItemOptions {
  seedCounts: number[];
  /**
   * Which of the first n clickers are seeds: 'any' of them, or only those 'known' before the cut
   * (with a row in the training period, so an embedding built from their own data), as the
   * serving system's re-clustering uses only seeds whose user has an embedding (seeds/prepare.ts).
   * With 'known', an item none of whose first n clickers is known is left out (RALM has nothing
   * to describe it with; the serving system gives it the cold-start path).
   */
  seedUsers?: 'any' | 'known';
  maxItems: number;
  maxTargets: number;
  negatives: number;
}

/** One new item after n seeds: its seeds and targets (user ids) and each target's negative items. */
export interface NewItemPlan { item: number; seeds: number[]; targets: number[]; negatives: Uint32Array[] }

export class NewItemProtocol {
  readonly plans: ReadonlyArray<{ n: number; plans: NewItemPlan[] }>;
  private readonly aucs = new Map<string, number[]>(); // `${n}|${method}|${seed}` → pair AUCs

  constructor(ds: Dataset, split: TemporalSplit, private readonly ctx: EvalContext, allClickers: Map<number, number[]>, o: NewItemOptions) {
    const known = new Uint8Array(ds.users.size);
    for (let j = 0; j < split.trainEnd; j++) known[ds.clicks.user[j]] = 1;
    const everClicked = new Map<number, Set<number>>();
    for (let j = 0; j < ds.clickCount; j++) {
      if (!ds.clicks.label[j]) continue;
      let s = everClicked.get(ds.clicks.user[j]);
      if (!s) everClicked.set(ds.clicks.user[j], (s = new Set()));
      s.add(ds.clicks.item[j]);
    }
    const nrng = new Rng(4242);
    this.plans = o.seedCounts.map((n) => {
      const seedsOf = (cl: number[]): number[] => (o.seedUsers === 'known' ? cl.slice(0, n).filter((u) => known[u]) : cl.slice(0, n));
      const eligible = Array.from(split.newItems).filter((i) => {
        const cl = allClickers.get(i) ?? [];
        return cl.length > n && seedsOf(cl).length > 0;
      });
      const chosen = eligible.length > o.maxItems ? nrng.shuffle(eligible.slice(), o.maxItems).slice(0, o.maxItems) : eligible;
      const plans = chosen.map((i) => {
        const cl = allClickers.get(i) as number[];
        const targets = cl.slice(n).filter((u) => known[u]).slice(0, o.maxTargets);
        const negatives = targets.map((u) => {
          const seen = everClicked.get(u) ?? new Set<number>();
          const out: number[] = [];
          for (let tries = 0; out.length < o.negatives && tries < 20 * o.negatives; tries++) {
            const c = ctx.candidates[nrng.int(ctx.candidates.length)];
            if (!seen.has(c) && !out.includes(c)) out.push(c);
          }
          return Uint32Array.from(out);
        });
        return { item: i, seeds: seedsOf(cl), targets, negatives };
      }).filter((p) => p.targets.length > 0);
      return { n, plans };
    });
  }

  private push(n: number, method: string, seed: number, pos: number, neg: ArrayLike<number>): void {
    const key = `${n}|${method}|${seed}`;
    const l = this.aucs.get(key) ?? [];
    l.push(auc([pos], neg));
    this.aucs.set(key, l);
  }

  /** Any scorer: `score(target, plan, t)` returns the new item's score first, then its negatives' (plan.negatives[t]). */
  scoreWith(method: string, seed: number, score: (target: number, plan: NewItemPlan, t: number) => ArrayLike<number>): void {
    for (const { n, plans } of this.plans) {
      for (const p of plans) {
        p.targets.forEach((u, t) => {
          const s = score(u, p, t);
          this.push(n, method, seed, s[0], Array.prototype.slice.call(s, 1) as number[]);
        });
      }
    }
  }

  /** Methods recorded by a placebo run (`ralm` with `placeboUsers`). */
  readonly placebos = new Set<string>();

  /**
   * RALM: publish each new item from its first n seeds, score its targets. With `placeboUsers`,
   * also a placebo: the item published from as many of those users drawn at random (seeded per
   * item and n), with the same clicker count, so whatever it scores comes from publication alone
   * (level offsets, prior) and not from who the seeds are; recorded as `NAME, random seeds (placebo)`.
   */
  async ralm(rec: RalmRecommender, seed: number, placeboUsers?: readonly number[]): Promise<void> {
    const placebo = `${rec.name}, random seeds (placebo)`;
    if (placeboUsers) this.placebos.add(placebo);
    for (const { n, plans } of this.plans) {
      for (const p of plans) {
        const clickers = new Set(p.seeds).size;
        const runs: Array<[string, number[]]> = [[rec.name, p.seeds]];
        if (placeboUsers && placeboUsers.length > 0) {
          const r = new Rng(p.item * 7 + n);
          runs.push([placebo, Array.from({ length: p.seeds.length }, () => placeboUsers[r.int(placeboUsers.length)])]);
        }
        for (const [method, seeds] of runs) {
          const [c] = await rec.centroidsFor([seeds], seed);
          const id = `new-${p.item}`;
          await rec.publish([{ id, centroids: c, clickers }]);
          const res = await rec.engine.score(p.targets.map((u, t) => ({ user: { universal: rec.universal(u) }, items: [id, ...Array.from(p.negatives[t], String)] })));
          res.forEach((r) => this.push(n, method, seed, r.scores[0], r.scores.subarray(1)));
          await rec.engine.removeItems([id]);
        }
      }
    }
  }

  /**
   * Records `from`'s pair AUCs (and its placebo's) of one seed under `to` as well: for a method
   * that serves the very same model, so scoring it again would only repeat them.
   */
  alias(from: string, to: string, seed: number): void {
    for (const { n } of this.plans) {
      for (const [a, b] of [[from, to], [`${from}, random seeds (placebo)`, `${to}, random seeds (placebo)`]]) {
        const l = this.aucs.get(`${n}|${a}|${seed}`);
        if (!l) continue;
        this.aucs.set(`${n}|${b}|${seed}`, l.slice());
        if (this.placebos.has(a)) this.placebos.add(b);
      }
    }
  }

  /** The YouTube-DNN-style model as trained (no retraining), and most popular with the n clicks as the new item's count. */
  baselines(yt: YoutubeDnn, popularName: string, seed: number): void {
    for (const { n, plans } of this.plans) {
      for (const p of plans) {
        p.targets.forEach((u, t) => {
          const negs = p.negatives[t];
          const sc = new Float32Array(negs.length + 1);
          yt.score(u, Uint32Array.of(p.item, ...negs), sc);
          this.push(n, yt.name, seed, sc[0], sc.subarray(1));
          this.push(n, popularName, seed, n, Float32Array.from(negs, (i) => this.ctx.popularity[i]));
        });
      }
    }
  }

  rows(methods: readonly string[], seeds: readonly number[]): NewItemRow[] {
    return this.plans.map(({ n, plans }) => {
      const row: NewItemRow = { n, items: plans.length, pairs: plans.reduce((s, p) => s + p.targets.length, 0), auc: {} };
      for (const method of methods) {
        const perSeed = seeds.map((s) => this.aucs.get(`${n}|${method}|${s}`)).filter((l): l is number[] => !!l && l.length > 0).map((l) => l.reduce((a, b) => a + b, 0) / l.length);
        if (perSeed.length) row.auc[method] = meanSpread(perSeed);
      }
      return row;
    });
  }
}

export function newItemMarkdown(rows: NewItemRow[], methods: string[]): string {
  const shown = methods.filter((m) => rows.some((r) => r.auc[m]));
  if (rows.every((r) => r.items === 0)) return '_No new item had enough clickers for the new-item protocol._';
  const head = `| seeds n | items | pairs | ${shown.join(' | ')} |`;
  const sep = `|---|---|---|${shown.map(() => '---').join('|')}|`;
  const body = rows.map((r) => {
    const best = Math.max(...shown.map((m) => r.auc[m]?.mean ?? -Infinity));
    const cells = shown.map((m) => {
      const v = r.auc[m];
      if (!v) return '—';
      const s = `${v.mean.toFixed(4)} ± ${(Number.isNaN(v.sd) ? 0 : v.sd).toFixed(4)}`;
      return v.mean.toFixed(4) === best.toFixed(4) ? `**${s}**` : s;
    });
    return `| ${r.n} | ${r.items} | ${r.pairs} | ${cells.join(' | ')} |`;
  });
  return ['New items: mean AUC of a new item against the candidates its later clickers never clicked, after its first n clicks', '', head, sep, ...body].join('\n');
}

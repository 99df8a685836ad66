/**
 * User fields derived from the click log, as the schema's `history` declares them: each user's
 * recently clicked items (item ids, sharing the item vocabulary), the most frequent values of an
 * item field over the items they clicked (sharing that field's vocabulary), and their activity.
 * Only clicks (label 1) strictly before the user's own features time count, so a split at that
 * time never shows a user's test-period behaviour in their training features.
 */
import type { Clicks } from './dataset.js';
import { FeatureTableBuilder, rowValues, type FeatureColumn } from './features.js';
import { fieldSpec, type FieldSpec, type HistorySpec } from './schema.js';
import type { Vocabulary } from './vocabulary.js';

/** The field layout a history spec produces. */
export function historyField(h: HistorySpec): FieldSpec {
  if (h.derive === 'activity') return fieldSpec(h.name, 'continuous');
  return { ...fieldSpec(h.name, 'multi', h.count), itemIds: h.derive === 'recent-items' };
}

/** Value ids sorted by count, most frequent first, ties by id (first appearance). */
function byCount(counts: Map<number, number>): number[] {
  return [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([id]) => id);
}

/**
 * Builds the history columns for `users` rows from time-sorted `clicks` (in their own clock),
 * counting user u's clicks with ts < asOf(u). `itemFields` are the item table's columns
 * (for `top-values`).
 */
export function deriveHistory(specs: readonly HistorySpec[], clicks: Clicks, users: number, items: Vocabulary, itemFields: readonly FeatureColumn[], asOf: (user: number) => number): FeatureColumn[] {
  if (specs.length === 0) return [];
  const { user, item, ts, label } = clicks;
  const clicked: number[][] = Array.from({ length: users }, () => []);
  for (let j = 0; j < ts.length; j++) {
    if (label[j] === 1 && ts[j] < asOf(user[j])) clicked[user[j]].push(item[j]);
  }
  const vocabularies: Record<string, Vocabulary> = {};
  for (const h of specs) {
    if (h.derive === 'recent-items') vocabularies[h.name] = items;
    if (h.derive === 'top-values') {
      const col = itemFields.find((c) => c.name === h.itemField);
      if (col && col.type !== 'continuous') vocabularies[h.name] = col.vocab;
    }
  }
  const builder = new FeatureTableBuilder(specs.map(historyField), vocabularies);
  specs.forEach((h, f) => {
    if (h.derive === 'activity') {
      for (let u = 0; u < users; u++) builder.setContinuous(f, u, Math.log1p(clicked[u].length));
    } else if (h.derive === 'recent-items') {
      for (let u = 0; u < users; u++) {
        const list = clicked[u];
        const recent: string[] = [];
        const taken = new Set<number>();
        for (let p = list.length - 1; p >= 0 && recent.length < h.count; p--) {
          if (taken.has(list[p])) continue;
          taken.add(list[p]);
          recent.push(items.value(list[p]));
        }
        if (recent.length) builder.setMulti(f, u, recent);
      }
    } else {
      const col = itemFields.find((c) => c.name === h.itemField) as Exclude<FeatureColumn, { type: 'continuous' }>;
      for (let u = 0; u < users; u++) {
        const counts = new Map<number, number>();
        for (const i of clicked[u]) {
          const values = col.type === 'single' ? (col.ids[i] >= 0 ? [col.ids[i]] : []) : rowValues(col, i);
          for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
        }
        const top = byCount(counts);
        if (top.length) builder.setMulti(f, u, top.map((v) => col.vocab.value(v)));
      }
    }
  });
  return builder.finish(users);
}

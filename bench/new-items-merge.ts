/**
 * Merges `new-items-diagnosis.js --out` results of different seeds into one Markdown report
 * (mean ± sample SD over the seeds):
 *   node dist/bench/new-items-merge.js OUT.md seed1.json seed2.json seed3.json
 */
import { readFile, writeFile } from 'node:fs/promises';
import { meanSpread } from '../src/eval/metrics.js';

interface Row { n: number; items: number; pairs: number; auc: Record<string, { mean: number }> }
interface Stat { rule: string; n: number; seedsKnown: number | null; distinctSeedEmbeddings: number | null; seedTrainingRows: number | null; targetTrainingRows: number | null; negativeClickerTrainingRows: number | null }
interface Result {
  dataset: string; validation: boolean; split?: string; seed: number; cut: string; stats: Stat[]; rows: Record<string, Row[]>;
  allItems: Record<string, { plain: Record<string, number>; centred: Record<string, number> }>;
  audienceAuc: Record<string, { items: number; mean: number }>;
}

const [outMd, ...inputs] = process.argv.slice(2);
if (outMd === undefined || inputs.length === 0) {
  process.stderr.write('usage: node dist/bench/new-items-merge.js OUT.md RESULT.json…\n');
  process.exit(2);
}
const runs = await Promise.all(inputs.map(async (f) => JSON.parse(await readFile(f, 'utf8')) as Result));
const fmt = (vals: number[]): string => {
  const v = vals.filter((x) => Number.isFinite(x));
  if (v.length === 0) return '—';
  const s = meanSpread(v);
  return v.length > 1 ? `${s.mean.toFixed(3)} ± ${s.sd.toFixed(3)}` : s.mean.toFixed(3);
};
const first = runs[0];
const lines = [`${first.dataset}${first.validation ? ' (validation split of the training period)' : ''}, ${first.split ?? 'global'} split at ${first.cut}; seeds ${runs.map((r) => r.seed).join(', ')} (mean ± SD over seeds)`];
for (const rule of Object.keys(first.rows)) {
  const methods = Object.keys(first.rows[rule].find((r) => Object.keys(r.auc).length > 0)?.auc ?? {});
  lines.push('', `Seeds: ${rule === 'any' ? 'all of the first n clickers' : 'the known users (a row before the cut) among the first n clickers'}`, '',
    '| n | items | pairs | seeds known | distinct seed embeddings | seeds\' training rows | targets\' | negatives\' clickers\' |', '|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of first.rows[rule]) {
    const st = runs.map((x) => x.stats.find((s) => s.rule === rule && s.n === r.n) as Stat);
    const col = (k: keyof Stat): string => fmt(st.map((s) => (s[k] === null ? NaN : Number(s[k]))));
    lines.push(`| ${r.n} | ${r.items} | ${r.pairs} | ${col('seedsKnown')} | ${col('distinctSeedEmbeddings')} | ${col('seedTrainingRows')} | ${col('targetTrainingRows')} | ${col('negativeClickerTrainingRows')} |`);
  }
  lines.push('', '| method | ' + first.rows[rule].map((r) => `n = ${r.n}`).join(' | ') + ' |', `|---|${first.rows[rule].map(() => '---:').join('|')}|`);
  for (const m of methods) lines.push(`| ${m} | ${first.rows[rule].map((_, j) => fmt(runs.map((x) => x.rows[rule][j].auc[m]?.mean ?? NaN))).join(' | ')} |`);
}
const audKeys = Object.keys(first.audienceAuc);
if (audKeys.length) {
  lines.push('', 'Control: audience AUC of the new item (its later clickers against up to 100 known users who never clicked it), mean over items', '', '| seeds | n | method | items | audience AUC |', '|---|---:|---|---:|---:|');
  for (const k of audKeys) {
    const [rule, n, method] = k.split('|');
    lines.push(`| ${rule} | ${n} | ${method} | ${first.audienceAuc[k].items} | ${fmt(runs.map((x) => x.audienceAuc[k]?.mean ?? NaN))} |`);
  }
}
const all = Object.keys(first.allItems ?? {});
if (all.length) {
  const ks = ['auc', 'aucExposure', 'prec@10', 'prec@50', 'longTail@100'];
  lines.push('', 'All items: the served score and the item-centred one', '', `| method | ${ks.join(' | ')} |`, `|---|${ks.map(() => '---:').join('|')}|`);
  for (const m of all) {
    for (const what of ['plain', 'centred'] as const) lines.push(`| ${m}${what === 'centred' ? ', centred' : ''} | ${ks.map((k) => fmt(runs.map((x) => x.allItems[m][what][k]))).join(' | ')} |`);
  }
}
await writeFile(outMd, lines.join('\n') + '\n');
process.stdout.write(`${inputs.length} runs merged into ${outMd}\n`);

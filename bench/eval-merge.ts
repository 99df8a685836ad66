/**
 * Merges `ralm eval --json --out` results of the same evaluation over different seeds into one
 * report (src/eval/merge-seeds.ts): run the seeds as separate processes, then
 *   node dist/bench/eval-merge.js OUT.json OUT.md seed1.json seed2.json seed3.json
 */
import { readFile, writeFile } from 'node:fs/promises';
import { mergeSeedResults } from '../src/eval/merge-seeds.js';
import type { RecommendEvalResult } from '../src/eval/recommend-eval.js';

const [outJson, outMd, ...inputs] = process.argv.slice(2);
if (outJson === undefined || outMd === undefined || inputs.length === 0) {
  process.stderr.write('usage: node dist/bench/eval-merge.js OUT.json OUT.md RESULT.json…\n');
  process.exit(2);
}
const results = await Promise.all(inputs.map(async (f) => JSON.parse(await readFile(f, 'utf8')) as RecommendEvalResult));
const merged = mergeSeedResults(results);
await writeFile(outJson, JSON.stringify(merged, null, 2) + '\n');
await writeFile(outMd, merged.markdown + '\n');
process.stdout.write(`${merged.dataset}: seeds ${(merged.settings.seeds as number[]).join(', ')} merged into ${outJson}, ${outMd}\n`);

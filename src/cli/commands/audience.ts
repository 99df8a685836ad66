/** `ralm audience`: audience expansion over the users in the store, from seed-id files. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadModel } from '../../model/model.js';
import { RalmError } from '../../util/errors.js';
import { bool, int, num, str, UsageError, type OptionTable } from '../../util/options.js';
import { defineCommand } from '../command.js';
import { emit, log, writeText } from '../output.js';
import { BACKEND_OPTION, openCommandStore, STORE_OPTIONS, storeSpec } from '../shared-options.js';

const OPTIONS = {
  seeds: { flag: 'seeds', arg: 'FILE', multiple: true, help: 'seed user ids (required); each file is one audience, all scored in one scan', parse: str() },
  size: { flag: 'size', arg: 'N', defaultText: 'with --threshold, every stored user', help: 'users per audience (give --size, --threshold or both)', parse: int() },
  threshold: { flag: 'threshold', arg: 'X', defaultText: 'none', help: 'keep users scoring at least this (without --size: every such user)', parse: num() },
  exclude: { flag: 'exclude', arg: 'FILE', help: 'user ids never returned', parse: str() },
  pool: { flag: 'pool', arg: 'FILE', defaultText: 'every stored user', help: 'score only these user ids', parse: str() },
  includeSeeds: { flag: 'include-seeds', boolean: true, help: 'seeds may be returned too', parse: bool },
  seed: { flag: 'seed', arg: 'N', defaultText: '1', help: 'random seed of the seed clustering', parse: int() },
  ...STORE_OPTIONS,
  backend: BACKEND_OPTION,
  out: { flag: 'out', arg: 'FILE', help: 'write every user: CSV, or NDJSON when FILE ends in .ndjson or .jsonl', parse: str() },
} as const satisfies OptionTable;

/** User ids from a file: one per line (a CSV's first column); blank lines and # comments skipped. */
async function readIds(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
  const ids: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const id = line.split(',')[0].trim().replace(/^"(.*)"$/, '$1');
    if (id !== '') ids.push(id);
  }
  return ids;
}

export const command = defineCommand({
  name: 'audience',
  usage: 'audience --seeds FILE [--seeds FILE …] (--size N | --threshold X) [options]',
  summary: 'Audience expansion over the stored users: per seed file, the N users most like the seeds.',
  notes: ['Id files: one user id per line (a CSV\'s first column); blank lines and lines starting with # are skipped.'],
  options: OPTIONS,
  async run({ values: v, given }) {
    const seedFiles = v.seeds;
    if (seedFiles.length === 0) throw new UsageError('audience: --seeds FILE is required (repeat it for several audiences)');
    if (v.size === undefined && v.threshold === undefined) throw new UsageError('audience: give --size N or --threshold X');
    storeSpec('audience', v, given);
    const json = v.json;
    const { RalmEngine } = await import('../../engine/engine.js');
    const { AudienceService, parseAudienceRequest } = await import('../../audience/audience-service.js');
    const model = await loadModel(v.modelDir);
    const store = await openCommandStore('audience', v, given);
    const engine = await RalmEngine.create(model, { backend: v.backend }).catch(async (err: unknown) => {
      await store.close();
      throw err;
    });
    try {
      const svc = new AudienceService(engine, store, { maxSize: Number.MAX_SAFE_INTEGER });
      const loaded = await svc.load();
      log(`${loaded.users} users in the store under model ${model.manifest.modelVersion}; backend ${engine.adapterName}`);
      const exclude = v.exclude !== undefined ? await readIds(v.exclude) : undefined;
      const pool = v.pool !== undefined ? await readIds(v.pool) : undefined;
      const specs = [];
      for (const file of seedFiles) {
        const body: Record<string, unknown> = { seeds: await readIds(file), exclude, pool, excludeSeeds: !v.includeSeeds };
        body.size = v.size ?? Math.max(1, loaded.users);
        if (v.threshold !== undefined) body.threshold = v.threshold;
        if (v.seed !== undefined) body.seed = v.seed;
        try {
          specs.push(parseAudienceRequest(body, model.manifest.h, Number.MAX_SAFE_INTEGER));
        } catch (err) {
          throw new RalmError((err as RalmError).code, `${file}: ${(err as Error).message}`);
        }
      }
      const results = await svc.runMany(specs, {
        onProgress: json ? undefined : (done, total) => void process.stderr.write(`\rscored ${done} / ${total}`),
      });
      if (!json) process.stderr.write('\n');
      if (v.out !== undefined) {
        const nd = v.out.endsWith('.ndjson') || v.out.endsWith('.jsonl');
        const lines: string[] = nd ? [] : ['audience,rank,user,score,cos_global,cos_local'];
        results.forEach((r, a) => r.users.forEach((u, i) => {
          lines.push(nd
            ? JSON.stringify({ audience: seedFiles[a], rank: i + 1, user: u.id, score: u.score, cosGlobal: u.cosGlobal, cosLocal: u.cosLocal })
            : [JSON.stringify(seedFiles[a]), i + 1, JSON.stringify(u.id), u.score, u.cosGlobal, u.cosLocal].join(','));
        }));
        await writeText(resolve(v.out), lines.join('\n'));
        log(`wrote ${results.reduce((a, r) => a + r.users.length, 0)} rows to ${v.out}`);
      }
      const text = results.map((r, a) => [
        `${seedFiles[a]}: ${r.seeds.matched} of ${r.seeds.given} seeds matched (${r.seeds.unmatched} unmatched), ${r.seeds.centroids} centroids; scored ${r.scored} users, excluded ${r.excluded}`,
        `  ${r.users.length} users in ${r.timing.totalMs.toFixed(0)} ms (cluster ${r.timing.clusterMs.toFixed(0)} ms, scan ${r.timing.scanMs.toFixed(0)} ms) on ${r.adapter}`,
        ...r.users.slice(0, 10).map((u, i) => `  ${String(i + 1).padStart(3)}. ${u.id}  ${u.score.toFixed(4)}`),
        r.users.length > 10 ? `  … (${r.users.length - 10} more${v.out ? '' : '; --out FILE writes them all'})` : '',
      ].join('\n')).join('\n');
      emit(json, results.length === 1 ? results[0] : results, text);
    } finally {
      await engine.close();
      await store.close();
    }
  },
});

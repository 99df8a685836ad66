/**
 * The `ralm` command line. Every command prints human-readable text, or with --json exactly
 * one JSON document on stdout (progress goes to stderr). Exit codes: 0 ok, 1 failure, 2 usage.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { defaultModelDir } from '../util/paths.js';
import { loadModel, saveModel } from '../model/model.js';
import { randomModel } from '../model/random.js';
import { probeAdapter } from '../engine/probe.js';
import { RalmError } from '../util/errors.js';

type Out = { json: boolean };

const USAGE = `usage: ralm <command> [options]

commands:
  serve                     run the HTTP service (see README: configuration)
       [--host H] [--port N] [--data-dir DIR] [--model-dir DIR] [--backend auto|webgpu|cpu]
       [--recluster-interval-ms N] [--min-seeds N] [--api-token T] [--body-limit BYTES] [--demo true|false]
  info                      backends on this host (WebGPU adapter, limits) and the default model
  model inspect [DIR]       load and validate a model directory (default: weights/default)
  model init --out DIR      write a seeded-random placeholder model
       [--seed N] [--h N] [--m N] [--k N] [--attention-size N] [--alpha X] [--beta X]
  bench kernel              rank N candidates per backend (and peers) vs the memory-read roofline
       [--backend all|cpu,cpu-scalar,webgpu] [--peers] [--peer onnxruntime-cpu,tfjs-wasm,typescript-loop]
       [--full | --sizes 1000,10000 --ks 20 --hs 128 --batches 1 --storage f32,f16] [--top 10]
       [--min-ms 1000] [--max-ms 20000] [--max-item-gib 4] [--out FILE] [--svg DIR]
  bench http                the service on loopback under autocannon, beside a bare Fastify route
       [--backend cpu|webgpu] [--sizes 1000,10000] [--duration 5] [--connections 16] [--rates 0.5,0.8]
       [--encodings json,msgpack] [--batching on,off] [--out FILE]
  bench plot FILE           SVG plots of a kernel result [--out-dir DIR] [--prefix kernel]
  bench compare A B         per-row median ratio of two kernel results [--tolerance 0.1]
  bench seeds --data DIR    replay Globo.com clicks: durable ingest, re-clustering per 5-minute window
       [--backend cpu|webgpu] [--hours N (files)] [--replay-hours N] [--max-cluster-points 2048] [--min-seeds 100] [--out FILE]
  bench audience            score every user of a table against one seed set, per backend, vs the roofline
       [--users 1000000] [--h 128] [--ks 5,20] [--seeds 2000] [--sets 1] [--top 1000]
       [--targets wasm,scalar,webgpu] [--min-ms 3000] [--out FILE]
  audience --seeds FILE     audience expansion over the users in the store: the N users most like the seeds
       (--size N | --threshold X) [--seeds FILE ...: several audiences, one scan] [--exclude FILE] [--pool FILE]
       [--include-seeds] [--seed N] [--data-dir DIR] [--model-dir DIR] [--backend auto|webgpu|cpu] [--out FILE(.csv|.ndjson)]
       id files: one user id per line (a CSV's first column); blank lines and lines starting with # are skipped
  eval [recommend] --dataset movielens|globo|synthetic [--data DIR]
                            temporal split; RALM, its ablations and baselines over seeds: AUC, prec@K (paper), recall@K,
                            long tail, coverage, diversity; new items after n seeds
       [--split global|per-user (MovieLens default)] [--train-share 0.8] [--seeds 1,2,3] [--max-users N] [--min-train-clicks 10]
       [--ks 10,50,100] [--auc-negatives 100] [--max-seeds 1000] [--m 64] [--k 20] [--epochs 10] [--stage2-epochs 10]
       [--patience 2] [--validation-share 0.1] [--max-train-users N] [--stage2-lr 0.003] [--stage2-max-items N]
       [--seed-counts 1,5,20,100] [--new-items 300] [--hours N] [--gen-seed N --users N --items N (synthetic)]
       [--out FILE.json] [--report FILE.md]
  eval audience --dataset movielens|globo|synthetic [--data DIR]
                            hide a share of items' clickers, expand the rest, report recall/precision@N
       [--hours N (globo files)] [--items 200] [--min-clickers 20] [--max-clickers 5000] [--hide 0.5]
       [--rank 64] [--ns 10,50,100] [--ks 5,20] [--seed 1] [--backend cpu|webgpu] [--train-epochs N] [--train-negatives uniform|activity] [--out FILE]

  train --out DIR --dataset movielens|globo|synthetic|schema [--data DIR | SCHEMA.json]
                            stage 1 (user tower) then stage 2 (look-alike); writes a model directory and users.msgpack
       [--train-share X | --cut TIME] [--hours N (globo files)] [--gen-seed N --users N --items N (synthetic)]
       [--m 64] [--h =m] [--k 20] [--merge attention|concat] [--attention-size 32] [--hidden 128,64]
       [--epochs 10] [--batch-size 256] [--lr 0.001] [--negatives 10] [--max-positives 50] [--max-train-users N] [--validation-share 0.1]
       [--stage2-epochs 10] [--stage2-lr 0.003] [--stage2-max-items N] [--patience 2] [--stage2-patience 3] [--seed 1] [--model-version V]
       [--checkpoints DIR (default DIR/checkpoints)] [--keep-checkpoints] [--no-users] [--out-report FILE]
       rerun the same command to resume from its checkpoints
  users import FILE          store users.msgpack (written by train) in the embedded store, embedded with the model
       [--data-dir DIR] [--model-dir DIR]
  gen [--out DIR]            a synthetic dataset with planted topics, in the generic format (+ truth.json)
       [--seed N] [--users N] [--items N] [--topics N] [--fields N] [--days N] [--clicks-per-user X]
       [--new-item-rate X] [--zipf X] [--noise X]
  data inspect SCHEMA.json | --dataset movielens|globo|synthetic [--data DIR]
                            read a dataset; counts, fields, bad rows, and a temporal split
       [--hours N (globo files)] [--as-of TIME] [--user-value most-frequent|latest] [--split TIME|SHARE]
       [--max-bad-share X] [--max-bad-rows N]
common options:
  --json                    print one JSON document instead of text
  --help                    this text
`;

class UsageError extends Error {}

function parse(args: string[], options: ParseArgsConfig['options']): ReturnType<typeof parseArgs> {
  try {
    return parseArgs({ args, options: { json: { type: 'boolean' }, help: { type: 'boolean' }, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function intOpt(v: unknown, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name}: expected a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

function numOpt(v: unknown, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name}: expected a number, got ${JSON.stringify(v)}`);
  return n;
}

function listOpt(v: unknown, name: string, dflt: number[]): number[] {
  if (v === undefined) return dflt;
  return String(v).split(',').map((s) => intOpt(s.trim(), name, 0));
}

function emit(out: Out, doc: unknown, text: string): void {
  process.stdout.write(out.json ? JSON.stringify(doc, null, 2) + '\n' : text.endsWith('\n') ? text : text + '\n');
}

async function cmdInfo(args: string[]): Promise<void> {
  const { values } = parse(args, {});
  const adapter = await probeAdapter();
  let model: unknown = null;
  let modelText = '';
  try {
    const m = await loadModel(defaultModelDir);
    model = m.manifest;
    modelText = `default model: ${m.manifest.modelVersion} (h=${m.manifest.h}, m=${m.manifest.m}, k=${m.manifest.k}, ${m.manifest.provenance.kind})`;
  } catch (err) {
    modelText = `default model: not loadable (${(err as Error).message})`;
  }
  const text = [
    adapter.available
      ? `webgpu: ${adapter.name}${adapter.software ? ' (software rasteriser: correct, but slow)' : ''}\n  limits: ${Object.entries(adapter.limits ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')}`
      : 'webgpu: no adapter (the cpu backend will be used)',
    'cpu: always available',
    modelText,
  ].join('\n');
  emit({ json: !!values.json }, { webgpu: adapter, cpu: { available: true }, defaultModel: model }, text);
}

async function cmdModel(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'inspect') {
    const { values, positionals } = parse(rest, {});
    const dir = resolve(positionals[0] ?? defaultModelDir);
    const m = await loadModel(dir);
    const mf = m.manifest;
    emit({ json: !!values.json }, { dir, manifest: mf }, [
      `${dir}: valid`,
      `  version ${mf.modelVersion} (${mf.provenance.kind}${mf.provenance.dataset ? `, ${mf.provenance.dataset}` : ''})`,
      `  h=${mf.h} m=${mf.m} k=${mf.k} attention size=${mf.attentionSize} alpha=${mf.alpha} beta=${mf.beta}`,
      `  user fields: ${mf.userFields.length === 0 ? 'none' : mf.userFields.map((f) => `${f.name}:${f.kind}`).join(', ')}`,
      `  user tower: ${mf.userTower ? `${mf.userTower.merge} merge${mf.userTower.attentionSize ? ` (a=${mf.userTower.attentionSize})` : ''}, MLP ${mf.userTower.hidden.join('→')}` : 'none (users are given as ids or embeddings)'}`,
    ].join('\n'));
    return;
  }
  if (sub === 'init') {
    const { values } = parse(rest, {
      out: { type: 'string' }, seed: { type: 'string' }, h: { type: 'string' }, m: { type: 'string' }, k: { type: 'string' },
      'attention-size': { type: 'string' }, alpha: { type: 'string' }, beta: { type: 'string' },
    });
    if (typeof values.out !== 'string') throw new UsageError('model init: --out DIR is required');
    const model = randomModel({
      seed: intOpt(values.seed, 'seed', 1), h: intOpt(values.h, 'h', 128), m: intOpt(values.m, 'm', 128), k: intOpt(values.k, 'k', 20),
      attentionSize: intOpt(values['attention-size'], 'attention-size', 64), alpha: numOpt(values.alpha, 'alpha', 0.3), beta: numOpt(values.beta, 'beta', 0.7),
    });
    const { format: _f, formatVersion: _v, weightsSha256: _s, ...manifest } = model.manifest;
    const written = await saveModel(resolve(values.out), { ...manifest, provenance: { ...manifest.provenance, createdAt: new Date().toISOString() } }, model.weights);
    emit({ json: !!values.json }, { dir: resolve(values.out), manifest: written }, `wrote ${resolve(values.out)} (${written.modelVersion}, seeded-random placeholder weights)`);
    return;
  }
  throw new UsageError(`model: unknown subcommand ${JSON.stringify(sub ?? '')}, expected "inspect" or "init"`);
}

async function cmdBenchSeeds(rest: string[]): Promise<void> {
  const { values } = parse(rest, {
    data: { type: 'string' }, backend: { type: 'string' }, hours: { type: 'string' }, 'replay-hours': { type: 'string' }, 'max-cluster-points': { type: 'string' },
    'min-seeds': { type: 'string' }, out: { type: 'string' },
  });
  if (typeof values.data !== 'string') throw new UsageError('bench seeds: --data DIR (the Globo.com news clicks) is required');
  const backend = (values.backend as string | undefined) ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'webgpu') throw new UsageError(`--backend: expected cpu or webgpu, got ${JSON.stringify(backend)}`);
  const { runSeedsBench } = await import('../../bench/seeds.js');
  const json = !!values.json;
  const r = await runSeedsBench({
    data: values.data, backend, hours: values.hours === undefined ? undefined : intOpt(values.hours, 'hours', 1),
    replayHours: values['replay-hours'] === undefined ? undefined : intOpt(values['replay-hours'], 'replay-hours', 1),
    maxClusterPoints: intOpt(values['max-cluster-points'], 'max-cluster-points', 2048), minSeeds: intOpt(values['min-seeds'], 'min-seeds', 100),
    log: (l) => void process.stderr.write(l + '\n'),
  });
  if (typeof values.out === 'string') {
    await mkdir(dirname(resolve(values.out)), { recursive: true });
    await writeFile(resolve(values.out), JSON.stringify(r, null, 2) + '\n');
  }
  const c = r.cycles;
  emit({ json }, r, [
    `ingested ${r.dataset.clicks} clicks (${r.dataset.articles} articles, ${r.dataset.users} users); replayed ${r.dataset.replayedClicks} of them${r.dataset.replayedHours ? ` (first ${r.dataset.replayedHours} h of click time)` : ''} in ${r.dataset.windows} windows of ${r.settings.windowMs / 60000} min on ${r.backend}`,
    `user embeddings: ${r.userEmbeddings}`,
    `durable ingest: ${Math.round(r.ingest.eventsPerSec)} events/s at full speed (${r.ingest.batch}-event calls); ${Math.round(r.replayIngest.eventsPerSec)} events/s in the replay (one call per window)`,
    `cycles: median ${c.medianMs.toFixed(0)} ms, p90 ${c.p90Ms.toFixed(0)} ms, max ${c.maxMs.toFixed(0)} ms; busiest window (${c.busiestWindow.clicks} clicks): ${c.busiestWindow.cycleMs.toFixed(0)} ms for ${c.busiestWindow.itemsClustered} items`,
    `items clustered: ${c.itemsClustered} (${c.itemsPerSec.toFixed(0)}/s of cycle time), seeds used ${c.seedsUsed}`,
    `freshness (simulated): p50 ${(r.freshness.p50Ms / 1000).toFixed(0)} s, p90 ${(r.freshness.p90Ms / 1000).toFixed(0)} s, max ${(r.freshness.maxMs / 1000).toFixed(0)} s over ${r.freshness.items} items`,
    `store: ${(r.store.bytesOnDisk / 2 ** 20).toFixed(0)} MiB on disk; seeds per item p50 ${r.seedsPerItem.p50}, p99 ${r.seedsPerItem.p99}, max ${r.seedsPerItem.max}; peak RSS ${r.peakRssMiB.toFixed(0)} MiB`,
  ].join('\n'));
}

/** User ids from a file: one per line (a CSV's first column); blank lines and # comments skipped. */
async function readIds(path: string): Promise<string[]> {
  const { readFile } = await import('node:fs/promises');
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

async function cmdAudience(args: string[]): Promise<void> {
  const { values } = parse(args, {
    seeds: { type: 'string', multiple: true }, size: { type: 'string' }, threshold: { type: 'string' }, exclude: { type: 'string' },
    pool: { type: 'string' }, 'include-seeds': { type: 'boolean' }, seed: { type: 'string' }, 'data-dir': { type: 'string' },
    'model-dir': { type: 'string' }, backend: { type: 'string' }, out: { type: 'string' },
  });
  const seedFiles = (values.seeds as string[] | undefined) ?? [];
  if (seedFiles.length === 0) throw new UsageError('audience: --seeds FILE is required (repeat it for several audiences)');
  if (values.size === undefined && values.threshold === undefined) throw new UsageError('audience: give --size N or --threshold X');
  const backend = (values.backend as string | undefined) ?? 'auto';
  if (!['auto', 'webgpu', 'cpu'].includes(backend)) throw new UsageError(`--backend: expected auto, webgpu or cpu, got ${JSON.stringify(backend)}`);
  const json = !!values.json;
  const log = (l: string): void => void process.stderr.write(l + '\n');
  const { LmdbStore } = await import('../store/lmdb-store.js');
  const { RalmEngine } = await import('../engine/engine.js');
  const { AudienceService, parseAudienceRequest } = await import('../audience/audience-service.js');
  const model = await loadModel(resolve((values['model-dir'] as string | undefined) ?? defaultModelDir));
  const store = LmdbStore.open(resolve((values['data-dir'] as string | undefined) ?? 'data'));
  const engine = await RalmEngine.create(model, { backend: backend as 'auto' | 'webgpu' | 'cpu' });
  try {
    const svc = new AudienceService(engine, store, { maxSize: Number.MAX_SAFE_INTEGER });
    const loaded = await svc.load();
    log(`${loaded.users} users in the store under model ${model.manifest.modelVersion}; backend ${engine.adapterName}`);
    const exclude = typeof values.exclude === 'string' ? await readIds(values.exclude) : undefined;
    const pool = typeof values.pool === 'string' ? await readIds(values.pool) : undefined;
    const specs = [];
    for (const file of seedFiles) {
      const body: Record<string, unknown> = { seeds: await readIds(file), exclude, pool, excludeSeeds: !values['include-seeds'] };
      if (values.size !== undefined) body.size = intOpt(values.size, 'size', 1);
      else body.size = Math.max(1, loaded.users);
      if (values.threshold !== undefined) body.threshold = numOpt(values.threshold, 'threshold', 0);
      if (values.seed !== undefined) body.seed = intOpt(values.seed, 'seed', 1);
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
    if (typeof values.out === 'string') {
      const out = resolve(values.out);
      await mkdir(dirname(out), { recursive: true });
      const nd = out.endsWith('.ndjson') || out.endsWith('.jsonl');
      const lines: string[] = nd ? [] : ['audience,rank,user,score,cos_global,cos_local'];
      results.forEach((r, a) => r.users.forEach((u, i) => {
        lines.push(nd
          ? JSON.stringify({ audience: seedFiles[a], rank: i + 1, user: u.id, score: u.score, cosGlobal: u.cosGlobal, cosLocal: u.cosLocal })
          : [JSON.stringify(seedFiles[a]), i + 1, JSON.stringify(u.id), u.score, u.cosGlobal, u.cosLocal].join(','));
      }));
      await writeFile(out, lines.join('\n') + '\n');
      log(`wrote ${results.reduce((a, r) => a + r.users.length, 0)} rows to ${values.out}`);
    }
    const text = results.map((r, a) => [
      `${seedFiles[a]}: ${r.seeds.matched} of ${r.seeds.given} seeds matched (${r.seeds.unmatched} unmatched), ${r.seeds.centroids} centroids; scored ${r.scored} users, excluded ${r.excluded}`,
      `  ${r.users.length} users in ${r.timing.totalMs.toFixed(0)} ms (cluster ${r.timing.clusterMs.toFixed(0)} ms, scan ${r.timing.scanMs.toFixed(0)} ms) on ${r.adapter}`,
      ...r.users.slice(0, 10).map((u, i) => `  ${String(i + 1).padStart(3)}. ${u.id}  ${u.score.toFixed(4)}`),
      r.users.length > 10 ? `  … (${r.users.length - 10} more${values.out ? '' : '; --out FILE writes them all'})` : '',
    ].join('\n')).join('\n');
    emit({ json }, results.length === 1 ? results[0] : results, text);
  } finally {
    await engine.close();
    await store.close();
  }
}

async function cmdBenchAudience(rest: string[]): Promise<void> {
  const { values } = parse(rest, {
    users: { type: 'string' }, h: { type: 'string' }, ks: { type: 'string' }, seeds: { type: 'string' }, sets: { type: 'string' },
    top: { type: 'string' }, targets: { type: 'string' }, 'min-ms': { type: 'string' }, out: { type: 'string' },
  });
  const targets = ((values.targets as string | undefined) ?? 'wasm,scalar,webgpu').split(',').map((t) => t.trim());
  for (const t of targets) if (!['wasm', 'scalar', 'webgpu'].includes(t)) throw new UsageError(`--targets: expected wasm, scalar and/or webgpu, got ${JSON.stringify(t)}`);
  const { runAudienceBench } = await import('../../bench/audience.js');
  const json = !!values.json;
  const r = await runAudienceBench({
    users: intOpt(values.users, 'users', 1_000_000), h: intOpt(values.h, 'h', 128), ks: listOpt(values.ks, 'ks', [5, 20]),
    seeds: intOpt(values.seeds, 'seeds', 2000), sets: listOpt(values.sets, 'sets', [1]), topN: intOpt(values.top, 'top', 1000),
    targets: targets as Array<'wasm' | 'scalar' | 'webgpu'>, minMs: intOpt(values['min-ms'], 'min-ms', 3000),
    log: (l) => void process.stderr.write(l + '\n'),
  });
  if (typeof values.out === 'string') {
    await mkdir(dirname(resolve(values.out)), { recursive: true });
    await writeFile(resolve(values.out), JSON.stringify(r, null, 2) + '\n');
  }
  const { describeMachine } = await import('../../bench/machine.js');
  emit({ json }, r, describeMachine(r.machine));
}

async function cmdEvalRecommend(args: string[]): Promise<void> {
  const { values } = parse(args, {
    dataset: { type: 'string' }, data: { type: 'string' }, hours: { type: 'string' }, split: { type: 'string' }, 'train-share': { type: 'string' },
    seeds: { type: 'string' }, 'max-users': { type: 'string' }, 'min-train-clicks': { type: 'string' }, ks: { type: 'string' }, 'auc-negatives': { type: 'string' },
    'max-seeds': { type: 'string' }, m: { type: 'string' }, k: { type: 'string' }, epochs: { type: 'string' }, 'stage2-epochs': { type: 'string' },
    'max-train-users': { type: 'string' }, 'seed-counts': { type: 'string' }, 'new-items': { type: 'string' }, patience: { type: 'string' },
    'stage2-max-items': { type: 'string' }, 'stage2-lr': { type: 'string' }, 'validation-share': { type: 'string' },
    'gen-seed': { type: 'string' }, users: { type: 'string' }, items: { type: 'string' }, out: { type: 'string' }, report: { type: 'string' },
  });
  const kind = oneOf(values.dataset, 'dataset', ['movielens', 'globo', 'synthetic'] as const, 'synthetic');
  if (kind !== 'synthetic' && typeof values.data !== 'string') throw new UsageError(`eval: --data DIR is required for ${kind}`);
  const split = values.split === undefined ? undefined : oneOf(values.split, 'split', ['global', 'per-user'] as const, 'global');
  const trainShare = numOpt(values['train-share'], 'train-share', 0.8);
  if (!(trainShare > 0 && trainShare < 1)) throw new UsageError(`--train-share: expected a share between 0 and 1, got ${trainShare}`);
  const m = intOpt(values.m, 'm', 64);
  const patience = intOpt(values.patience, 'patience', 2);
  const json = !!values.json;
  const { evalRecommend } = await import('../eval/recommend-eval.js');
  const { ProgressBar } = await import('../train/progress.js');
  const bar = new ProgressBar();
  const r = await evalRecommend({
    data: {
      kind, path: typeof values.data === 'string' ? resolve(values.data) : undefined, hours: values.hours === undefined ? undefined : intOpt(values.hours, 'hours', 1),
      synthetic: syntheticSize(values),
    },
    split, trainShare, seeds: listOpt(values.seeds, 'seeds', [1, 2, 3]), maxUsers: intOpt(values['max-users'], 'max-users', 0),
    minTrainClicks: intOpt(values['min-train-clicks'], 'min-train-clicks', 10), ks: listOpt(values.ks, 'ks', [10, 50, 100]),
    aucNegatives: intOpt(values['auc-negatives'], 'auc-negatives', 100), maxSeeds: intOpt(values['max-seeds'], 'max-seeds', 1000),
    stage1: {
      m, hidden: [2 * m, m], epochs: intOpt(values.epochs, 'epochs', 10), patience, validationShare: numOpt(values['validation-share'], 'validation-share', 0.1),
      maxTrainUsers: values['max-train-users'] === undefined ? undefined : intOpt(values['max-train-users'], 'max-train-users', 1),
    },
    stage2: {
      h: m, k: intOpt(values.k, 'k', 20), epochs: intOpt(values['stage2-epochs'], 'stage2-epochs', 10), learningRate: numOpt(values['stage2-lr'], 'stage2-lr', 3e-3), patience: 3,
      maxItems: values['stage2-max-items'] === undefined ? undefined : intOpt(values['stage2-max-items'], 'stage2-max-items', 1),
    },
    seedCounts: listOpt(values['seed-counts'], 'seed-counts', [1, 5, 20, 100]), newItemsMax: intOpt(values['new-items'], 'new-items', 300),
    log: (l) => bar.log(l), onProgress: (p) => bar.update(p),
  });
  if (typeof values.out === 'string') await writeResult(values.out, { ...r, markdown: undefined });
  if (typeof values.report === 'string') {
    await mkdir(dirname(resolve(values.report)), { recursive: true });
    await writeFile(resolve(values.report), r.markdown + '\n');
  }
  emit({ json }, { ...r, markdown: undefined }, [
    `${r.dataset}: ${r.split.kind} split at ${r.split.cut}; ${r.context.users} users × ${r.context.candidates} candidates; ${r.split.newItems} new items; ${r.settings.seeds ? (r.settings.seeds as number[]).length : 0} seeds; ${r.seconds.toFixed(0)} s`,
    '', r.markdown,
  ].join('\n'));
}

async function cmdEval(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'recommend') return cmdEvalRecommend(rest);
  if (sub === undefined || sub.startsWith('--')) return cmdEvalRecommend(args);
  if (sub !== 'audience') throw new UsageError(`eval: unknown evaluation ${JSON.stringify(sub)}, expected "recommend" (the default) or "audience"`);
  const { values } = parse(rest, {
    dataset: { type: 'string' }, data: { type: 'string' }, hours: { type: 'string' }, items: { type: 'string' }, 'min-clickers': { type: 'string' },
    'max-clickers': { type: 'string' }, hide: { type: 'string' }, rank: { type: 'string' }, ns: { type: 'string' }, ks: { type: 'string' },
    seed: { type: 'string' }, backend: { type: 'string' }, out: { type: 'string' }, 'train-epochs': { type: 'string' }, 'train-negatives': { type: 'string' },
  });
  const dataset = values.dataset as string | undefined;
  if (!['movielens', 'globo', 'synthetic'].includes(dataset ?? '')) throw new UsageError(`--dataset: expected movielens, globo or synthetic, got ${JSON.stringify(dataset)}`);
  if (dataset !== 'synthetic' && typeof values.data !== 'string') throw new UsageError(`eval audience: --data DIR is required for ${dataset}`);
  const backend = (values.backend as string | undefined) ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'webgpu') throw new UsageError(`--backend: expected cpu or webgpu, got ${JSON.stringify(backend)}`);
  const hide = numOpt(values.hide, 'hide', 0.5);
  if (!(hide > 0 && hide < 1)) throw new UsageError(`--hide: expected a share between 0 and 1, got ${hide}`);
  const { openClickLog } = await import('../data/open.js');
  const { evalAudience } = await import('../eval/audience-eval.js');
  const log = (l: string): void => void process.stderr.write(l + '\n');
  const clicks = await openClickLog(dataset === 'synthetic' ? { kind: 'synthetic', seed: intOpt(values.seed, 'seed', 1) }
    : { kind: dataset as 'movielens' | 'globo', path: resolve(values.data as string), hours: dataset === 'globo' && values.hours !== undefined ? intOpt(values.hours, 'hours', 1) : undefined });
  const r = await evalAudience(clicks, {
    rank: intOpt(values.rank, 'rank', 64), hideShare: hide, items: intOpt(values.items, 'items', 200),
    minClickers: intOpt(values['min-clickers'], 'min-clickers', 20), maxClickers: intOpt(values['max-clickers'], 'max-clickers', 5000),
    ns: listOpt(values.ns, 'ns', [10, 50, 100]), ks: listOpt(values.ks, 'ks', [5, 20]), seed: intOpt(values.seed, 'seed', 1),
    backend: backend as 'cpu' | 'webgpu', trainEpochs: values['train-epochs'] === undefined ? 0 : intOpt(values['train-epochs'], 'train-epochs', 1),
    trainNegatives: oneOf(values['train-negatives'], 'train-negatives', ['uniform', 'activity'] as const, 'uniform'), log,
  });
  if (typeof values.out === 'string') {
    await mkdir(dirname(resolve(values.out)), { recursive: true });
    await writeFile(resolve(values.out), JSON.stringify(r, null, 2) + '\n');
  }
  const head = `method              ${r.settings.ns.map((n) => `recall@${n}`.padStart(16) + `prec@${n}`.padStart(16)).join('')}`;
  const rows = r.methods.map((m) => m.method.padEnd(20) + m.atN.map((a) => `${a.recall.toFixed(3)} ±${a.recallSe.toFixed(3)}`.padStart(16) + `${a.precision.toFixed(3)} ±${a.precisionSe.toFixed(3)}`.padStart(16)).join(''));
  emit({ json: !!values.json }, r, [
    `${r.dataset}: ${r.data.evalItems} items, ${r.data.hiddenClicks} hidden clicks, seeds per item median ${r.data.seedsPerItem.median} (${r.data.seedsPerItem.min}–${r.data.seedsPerItem.max}); embeddings: ${r.settings.embeddings}; RALM weights: ${r.settings.ralmWeights}`,
    head, ...rows,
  ].join('\n'));
}

/** --gen-seed, --users, --items: the synthetic world `train` and `eval` generate. */
function syntheticSize(values: Record<string, unknown>): { seed: number; users?: number; items?: number } {
  return {
    seed: intOpt(values['gen-seed'], 'gen-seed', 1),
    ...(values.users !== undefined ? { users: intOpt(values.users, 'users', 2000) } : {}),
    ...(values.items !== undefined ? { items: intOpt(values.items, 'items', 1000) } : {}),
  };
}

async function cmdTrain(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    out: { type: 'string' }, dataset: { type: 'string' }, data: { type: 'string' }, hours: { type: 'string' }, 'train-share': { type: 'string' }, cut: { type: 'string' },
    'gen-seed': { type: 'string' }, users: { type: 'string' }, items: { type: 'string' },
    m: { type: 'string' }, h: { type: 'string' }, k: { type: 'string' }, merge: { type: 'string' }, 'attention-size': { type: 'string' }, hidden: { type: 'string' },
    epochs: { type: 'string' }, 'batch-size': { type: 'string' }, lr: { type: 'string' }, negatives: { type: 'string' }, 'max-positives': { type: 'string' },
    'max-train-users': { type: 'string' }, 'stage2-epochs': { type: 'string' }, 'stage2-lr': { type: 'string' }, 'stage2-patience': { type: 'string' }, patience: { type: 'string' }, seed: { type: 'string' },
    'model-version': { type: 'string' }, checkpoints: { type: 'string' }, 'keep-checkpoints': { type: 'boolean' }, 'no-users': { type: 'boolean' }, 'out-report': { type: 'string' },
    'validation-share': { type: 'string' }, 'stage2-max-items': { type: 'string' },
  });
  if (typeof values.out !== 'string') throw new UsageError('train: --out DIR is required');
  if (positionals.length > 1) throw new UsageError('train: give at most one schema file');
  const kind = positionals.length === 1 ? 'schema' as const : oneOf(values.dataset, 'dataset', ['movielens', 'globo', 'synthetic'] as const, 'synthetic');
  if ((kind === 'movielens' || kind === 'globo') && typeof values.data !== 'string') throw new UsageError(`train: --data DIR is required for ${kind}`);
  if (values['train-share'] !== undefined && values.cut !== undefined) throw new UsageError('train: give --train-share or --cut, not both');
  const m = intOpt(values.m, 'm', 64);
  const hidden = listOpt(values.hidden, 'hidden', [2 * m, m]);
  if (hidden[hidden.length - 1] !== m) throw new UsageError(`--hidden: the last width must equal --m (${m}), got ${hidden.join(',')}`);
  const trainShare = values['train-share'] === undefined ? undefined : numOpt(values['train-share'], 'train-share', 0.8);
  if (trainShare !== undefined && !(trainShare > 0 && trainShare < 1)) throw new UsageError(`--train-share: expected a share between 0 and 1, got ${trainShare}`);
  const seed = intOpt(values.seed, 'seed', 1);
  const patience = intOpt(values.patience, 'patience', 2);
  const json = !!values.json;
  const { trainModel } = await import('../train/pipeline.js');
  const { ProgressBar } = await import('../train/progress.js');
  const bar = new ProgressBar();
  const report = await trainModel({
    data: {
      kind, path: kind === 'schema' ? resolve(positionals[0]) : typeof values.data === 'string' ? resolve(values.data) : undefined,
      hours: values.hours === undefined ? undefined : intOpt(values.hours, 'hours', 1),
      synthetic: syntheticSize(values),
    },
    trainShare, cut: timeOpt(values.cut, 'cut'), out: resolve(values.out),
    checkpointDir: typeof values.checkpoints === 'string' ? resolve(values.checkpoints) : undefined, keepCheckpoints: !!values['keep-checkpoints'],
    exportUsers: !values['no-users'], modelVersion: values['model-version'] as string | undefined,
    stage1: {
      m, hidden, merge: oneOf(values.merge, 'merge', ['attention', 'concat'] as const, 'attention'), attentionSize: intOpt(values['attention-size'], 'attention-size', 32),
      epochs: intOpt(values.epochs, 'epochs', 10), batchSize: intOpt(values['batch-size'], 'batch-size', 256), learningRate: numOpt(values.lr, 'lr', 1e-3),
      negatives: intOpt(values.negatives, 'negatives', 10), maxPositives: intOpt(values['max-positives'], 'max-positives', 50),
      maxTrainUsers: values['max-train-users'] === undefined ? undefined : intOpt(values['max-train-users'], 'max-train-users', 1), patience, seed,
      validationShare: numOpt(values['validation-share'], 'validation-share', 0.1),
    },
    stage2: {
      h: intOpt(values.h, 'h', m), k: intOpt(values.k, 'k', 20), epochs: intOpt(values['stage2-epochs'], 'stage2-epochs', 10), learningRate: numOpt(values['stage2-lr'], 'stage2-lr', 3e-3),
      patience: intOpt(values['stage2-patience'], 'stage2-patience', 3), seed,
      maxItems: values['stage2-max-items'] === undefined ? undefined : intOpt(values['stage2-max-items'], 'stage2-max-items', 1),
    },
    log: (l) => bar.log(l), onProgress: (p) => bar.update(p),
  });
  if (typeof values['out-report'] === 'string') await writeResult(values['out-report'], report);
  emit({ json }, report, [
    `trained ${report.modelVersion} on ${report.dataset.name} (${report.trainClicks} training rows${report.cut ? `, before ${report.cut}` : ''}) in ${report.seconds.total.toFixed(1)} s (stage 1 ${report.seconds.stage1.toFixed(1)} s, stage 2 ${report.seconds.stage2.toFixed(1)} s)`,
    `  stage 1: best epoch ${report.stage1.bestEpoch}, validation hit@50 ${report.stage1.bestValidationHitAt50.toFixed(4)} (${report.stage1.validationUsers} users)`,
    `  stage 2: best epoch ${report.stage2.bestEpoch}, validation AUC ${report.stage2.bestValidationAuc.toFixed(4)} (untrained ${report.stage2.initialValidationAuc.toFixed(4)})`,
    `  model: ${report.modelDir}${report.usersFile ? `; users: ${report.usersFile}` : ''}`,
  ].join('\n'));
}

async function cmdUsers(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'import') throw new UsageError(`users: unknown subcommand ${JSON.stringify(sub ?? '')}, expected "import"`);
  const { values, positionals } = parse(rest, { 'data-dir': { type: 'string' }, 'model-dir': { type: 'string' } });
  if (positionals.length !== 1) throw new UsageError('users import: give one users.msgpack file');
  const { readUsers } = await import('../train/pipeline.js');
  const { LmdbStore } = await import('../store/lmdb-store.js');
  const { RalmEngine } = await import('../engine/engine.js');
  const { SeedService } = await import('../seeds/seed-service.js');
  const file = await readUsers(resolve(positionals[0]));
  const model = await loadModel(resolve((values['model-dir'] as string | undefined) ?? defaultModelDir));
  if (file.m !== model.manifest.m) throw new RalmError('RALM_ERR_DIMENSION', `${positionals[0]}: embeddings of width ${file.m}, the model takes m = ${model.manifest.m}`);
  const store = LmdbStore.open(resolve((values['data-dir'] as string | undefined) ?? 'data'));
  const engine = await RalmEngine.create(model, { backend: 'cpu' });
  const t0 = performance.now();
  try {
    const seeds = new SeedService(store, engine);
    const m = file.m;
    for (let b = 0; b < file.ids.length; b += 4096) {
      const ids = file.ids.slice(b, b + 4096);
      await seeds.putUsers(ids.map((id, i) => ({ id, universal: file.universal.subarray((b + i) * m, (b + i + 1) * m) })));
      if (!values.json) process.stderr.write(`\rstored ${Math.min(file.ids.length, b + 4096)} / ${file.ids.length}`);
    }
    if (!values.json) process.stderr.write('\n');
  } finally {
    await engine.close();
    await store.close();
  }
  const doc = { users: file.ids.length, fileModelVersion: file.modelVersion, modelVersion: model.manifest.modelVersion, seconds: (performance.now() - t0) / 1000 };
  emit({ json: !!values.json }, doc, `stored ${doc.users} users (embedded under ${doc.modelVersion}${doc.fileModelVersion !== doc.modelVersion ? `; the file was written by ${doc.fileModelVersion}` : ''}) in ${doc.seconds.toFixed(1)} s`);
}

async function cmdGen(args: string[]): Promise<void> {
  const { values } = parse(args, {
    out: { type: 'string' }, seed: { type: 'string' }, users: { type: 'string' }, items: { type: 'string' }, topics: { type: 'string' },
    fields: { type: 'string' }, days: { type: 'string' }, 'clicks-per-user': { type: 'string' }, 'new-item-rate': { type: 'string' },
    zipf: { type: 'string' }, noise: { type: 'string' },
  });
  const { generateSynthetic, writeSynthetic, SYNTHETIC_DEFAULTS: d } = await import('../data/synthetic.js');
  const world = generateSynthetic({
    seed: intOpt(values.seed, 'seed', d.seed), users: intOpt(values.users, 'users', d.users), items: intOpt(values.items, 'items', d.items),
    topics: intOpt(values.topics, 'topics', d.topics), fields: intOpt(values.fields, 'fields', d.fields), days: intOpt(values.days, 'days', d.days),
    clicksPerUser: numOpt(values['clicks-per-user'], 'clicks-per-user', d.clicksPerUser), newItemRate: numOpt(values['new-item-rate'], 'new-item-rate', d.newItemRate),
    zipf: numOpt(values.zipf, 'zipf', d.zipf), noise: numOpt(values.noise, 'noise', d.noise),
  });
  const files = typeof values.out === 'string' ? await writeSynthetic(world, resolve(values.out)) : [];
  const summary = world.dataset.summary();
  emit({ json: !!values.json }, { files, options: world.truth.options, fields: world.truth.fields, summary }, [
    `synthetic (seed ${world.truth.options.seed}): ${summary.users} users, ${summary.items} items, ${summary.clicks} clicks over ${world.truth.options.days} days, ${world.truth.options.topics} topics`,
    `  user fields: ${world.truth.fields.map((f) => `${f.name} (${f.type}, signal ${f.signal})`).join(', ')}`,
    files.length ? files.map((f) => `wrote ${f}`).join('\n') : '  (nothing written; --out DIR writes the files)',
  ].join('\n'));
}

/** A time option: an ISO 8601 date or epoch milliseconds. */
function timeOpt(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  const t = /^\d+(\.\d+)?$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(t)) throw new UsageError(`--${name}: expected an ISO 8601 date or epoch milliseconds, got ${JSON.stringify(v)}`);
  return t;
}

async function cmdData(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'inspect') throw new UsageError(`data: unknown subcommand ${JSON.stringify(sub ?? '')}, expected "inspect"`);
  const { values, positionals } = parse(rest, {
    dataset: { type: 'string' }, data: { type: 'string' }, hours: { type: 'string' }, 'as-of': { type: 'string' }, 'user-value': { type: 'string' },
    split: { type: 'string' }, 'max-bad-share': { type: 'string' }, 'max-bad-rows': { type: 'string' }, seed: { type: 'string' },
  });
  const { openDataset } = await import('../data/open.js');
  const { temporalSplit, cutAtShare } = await import('../data/split.js');
  if (positionals.length > 1) throw new UsageError('data inspect: give at most one schema file');
  const kind = positionals.length === 1 ? 'schema' as const : oneOf(values.dataset, 'dataset', ['movielens', 'globo', 'synthetic'] as const, 'synthetic');
  if (positionals.length === 1 && values.dataset !== undefined) throw new UsageError('data inspect: give a schema file or --dataset, not both');
  if ((kind === 'movielens' || kind === 'globo') && typeof values.data !== 'string') throw new UsageError(`data inspect: --data DIR is required for ${kind}`);
  const share = values.split !== undefined && /^0?\.\d+$/.test(String(values.split)) ? Number(values.split) : undefined;
  const splitTime = values.split === undefined || share !== undefined ? undefined : timeOpt(values.split, 'split');
  const featuresAsOf = timeOpt(values['as-of'], 'as-of') ?? splitTime;
  const json = !!values.json;
  const started = performance.now();
  const ds = await openDataset({
    kind, path: kind === 'schema' ? resolve(positionals[0]) : typeof values.data === 'string' ? resolve(values.data) : undefined,
    featuresAsOf, hours: values.hours === undefined ? undefined : intOpt(values.hours, 'hours', 1),
    userValue: oneOf(values['user-value'], 'user-value', ['most-frequent', 'latest'] as const, 'most-frequent'),
    maxBadShare: values['max-bad-share'] === undefined ? undefined : numOpt(values['max-bad-share'], 'max-bad-share', 0.01),
    maxBadRows: values['max-bad-rows'] === undefined ? undefined : intOpt(values['max-bad-rows'], 'max-bad-rows', 1),
    synthetic: { seed: intOpt(values.seed, 'seed', 1) },
    onFile: json ? undefined : (file, rows) => void process.stderr.write(`\rread ${rows} rows (${basename(file)})`),
  });
  const readMs = performance.now() - started;
  if (!json && kind === 'globo') process.stderr.write('\n');
  const summary = ds.summary();
  let split = null;
  if (values.split !== undefined) {
    const cut = share !== undefined ? cutAtShare(ds, share) : (splitTime as number);
    const s = temporalSplit(ds, cut, { allowFeatureLeakage: share !== undefined && featuresAsOf === undefined });
    split = { ...s, cut: new Date(cut).toISOString(), newItems: s.newItems.length, featuresLeak: ds.featuresAsOf !== null && ds.featuresAsOf > cut };
  }
  const r = summary.report;
  const fieldLine = (f: (typeof summary.userFields)[number]): string => `    ${f.name.padEnd(14)} ${f.type.padEnd(10)} ${f.type === 'continuous'
    ? `raw range ${f.min} … ${f.max}`
    : `${f.vocabulary} values${f.meanValues !== undefined ? `, ${f.meanValues.toFixed(1)} per row with values` : ''}`}; ${f.rowsWithValue} rows with a value`;
  emit({ json }, { ...summary, readMs, split }, [
    `${summary.name}: ${summary.users} users, ${summary.items} items, ${summary.clicks} rows (${summary.positives} clicks), ${summary.firstClick ?? '–'} … ${summary.lastClick ?? '–'}; read in ${(readMs / 1000).toFixed(1)} s`,
    `  rows read ${r.rows}, kept ${r.kept}, bad ${r.badRows}${r.badRows ? `: ${Object.entries(r.bad).map(([k, v]) => `${k} ×${v.count} (${v.first.join(', ')})`).join('; ')}` : ''}${r.blankLines ? `; ${r.blankLines} blank lines` : ''}`,
    `  user features as of: ${summary.featuresAsOf ?? 'static table'}`,
    `  user fields:`, ...summary.userFields.map(fieldLine),
    ...(summary.itemFields.length ? ['  item fields:', ...summary.itemFields.map(fieldLine)] : []),
    ...summary.notes.map((n) => `  note: ${n}`),
    ...(split ? [`  split at ${split.cut}: ${split.trainRows} train rows, ${split.testRows} test rows; test users ${split.testUsers} (${split.newUsers} without training rows), test items ${split.testItems} (${split.newItems} new, with ${split.newItemTestClicks} test clicks)${split.featuresLeak ? '; WARNING: user features were computed past the cut (pass --as-of)' : ''}`] : []),
  ].join('\n'));
}

async function writeResult(path: unknown, doc: unknown): Promise<void> {
  if (typeof path !== 'string') return;
  await mkdir(dirname(resolve(path)), { recursive: true });
  await writeFile(resolve(path), JSON.stringify(doc, null, 2) + '\n');
}

function oneOf<T extends string>(v: unknown, name: string, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!allowed.includes(v as T)) throw new UsageError(`--${name}: expected ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

function stringListOpt<T extends string>(v: unknown, name: string, allowed: readonly T[]): T[] | undefined {
  if (v === undefined) return undefined;
  return String(v).split(',').map((s) => oneOf(s.trim(), name, allowed, allowed[0]));
}

async function cmdBenchKernel(rest: string[]): Promise<void> {
  const { values } = parse(rest, {
    backend: { type: 'string' }, peers: { type: 'boolean' }, peer: { type: 'string' }, full: { type: 'boolean' },
    sizes: { type: 'string' }, ks: { type: 'string' }, h: { type: 'string' }, hs: { type: 'string' }, batches: { type: 'string' },
    storage: { type: 'string' }, top: { type: 'string' }, 'min-ms': { type: 'string' }, 'max-ms': { type: 'string' },
    'max-item-gib': { type: 'string' }, out: { type: 'string' }, svg: { type: 'string' },
  });
  const { runKernelBench, defaultBackends, TABLE_HEADER } = await import('../../bench/kernel.js');
  const { PEER_NAMES } = await import('../../bench/peers/peer.js');
  const { describeMachine } = await import('../../bench/machine.js');
  const { describeScaling } = await import('../../bench/scaling.js');
  const present = await defaultBackends();
  const want = values.backend === undefined || values.backend === 'all' ? present : stringListOpt(values.backend, 'backend', ['cpu', 'cpu-scalar', 'webgpu'] as const) ?? present;
  if (want.includes('webgpu') && !present.includes('webgpu')) throw new RalmError('RALM_ERR_BACKEND_UNAVAILABLE', 'no WebGPU adapter on this host');
  const peers = stringListOpt(values.peer, 'peer', PEER_NAMES) ?? (values.peers ? [...PEER_NAMES] : []);
  const custom = ['sizes', 'ks', 'h', 'hs', 'batches', 'storage'].some((k) => values[k] !== undefined);
  if (custom && values.full) throw new UsageError('--full: cannot be combined with --sizes/--ks/--hs/--batches/--storage');
  const plan = values.full ? 'full' as const : custom ? {
    sizes: listOpt(values.sizes, 'sizes', [1000, 10_000, 100_000]),
    ks: listOpt(values.ks, 'ks', [20]),
    hs: listOpt(values.hs ?? values.h, values.hs === undefined && values.h !== undefined ? 'h' : 'hs', [128]),
    batches: listOpt(values.batches, 'batches', [1]),
    storages: stringListOpt(values.storage, 'storage', ['f32', 'f16'] as const) ?? ['f32' as const],
  } : 'default' as const;
  const json = !!values.json;
  const log = (line: string): void => void process.stderr.write(line + '\n');
  if (!json) log(TABLE_HEADER);
  const result = await runKernelBench({
    backends: want, peers, plan,
    topK: intOpt(values.top, 'top', 10),
    minMs: intOpt(values['min-ms'], 'min-ms', 1000),
    maxMs: intOpt(values['max-ms'], 'max-ms', 20_000),
    maxItemGiB: numOpt(values['max-item-gib'], 'max-item-gib', 4),
    log,
  });
  await writeResult(values.out, result);
  if (typeof values.svg === 'string') {
    const { writeKernelPlots } = await import('../../bench/plot.js');
    for (const f of await writeKernelPlots(result, resolve(values.svg))) log(`wrote ${f}`);
  }
  const fx = result.f16Effect;
  emit({ json }, result, [
    describeMachine(result.machine),
    ...result.missingPeers.map((m) => `peer ${m.name} not run: ${m.reason}; ${m.fix}`),
    result.noisyRows > 0 ? `noisy: ${result.noisyRows} of ${result.rows.length} rows had a spread (p90 − p10)/median above 0.3; the machine was busy, rerun on a quiet one before comparing` : 'spread: every row within (p90 − p10)/median ≤ 0.3',
    describeScaling(result.scaling),
    fx ? `f16 storage vs f32 (N=${fx.n}, k=${fx.k}, 20 users): max |Δscore| ${fx.maxAbsScoreDiff.toExponential(2)}, mean ${fx.meanAbsScoreDiff.toExponential(2)}, top-10 overlap ${(fx.top10Overlap * 100).toFixed(1)}%` : '',
  ].filter((l) => l !== '').join('\n'));
}

async function cmdBenchHttp(rest: string[]): Promise<void> {
  const { values } = parse(rest, {
    backend: { type: 'string' }, sizes: { type: 'string' }, duration: { type: 'string' }, connections: { type: 'string' },
    rates: { type: 'string' }, encodings: { type: 'string' }, batching: { type: 'string' }, out: { type: 'string' },
  });
  const { runHttpBench } = await import('../../bench/http.js');
  const { describeMachine } = await import('../../bench/machine.js');
  const rates = values.rates === undefined ? undefined : String(values.rates).split(',').map((x) => {
    const f = Number(x);
    if (!(f > 0 && f <= 1)) throw new UsageError(`--rates: expected fractions of the maximum in (0, 1], got ${JSON.stringify(x)}`);
    return f;
  });
  const json = !!values.json;
  const log = (line: string): void => void process.stderr.write(line + '\n');
  const result = await runHttpBench({
    backend: oneOf(values.backend, 'backend', ['cpu', 'webgpu'] as const, 'cpu'),
    sizes: listOpt(values.sizes, 'sizes', [1000, 10_000]),
    durationSec: intOpt(values.duration, 'duration', 5),
    connections: intOpt(values.connections, 'connections', 16),
    rateFractions: rates,
    encodings: stringListOpt(values.encodings, 'encodings', ['json', 'msgpack'] as const),
    batching: stringListOpt(values.batching, 'batching', ['on', 'off'] as const),
    log,
  });
  await writeResult(values.out, result);
  emit({ json }, result, [
    describeMachine(result.machine),
    `server backend: ${result.settings.adapter}; k=${result.settings.k}, h=${result.settings.h}, top-${result.settings.topK}; ${result.settings.durationSec} s per run`,
    ...result.cases.map((c) => `N=${c.n} ${c.encoding}: request ${c.requestBytes} bytes, reply ${c.responseBytes} bytes`),
  ].join('\n'));
}

async function cmdBenchPlot(rest: string[]): Promise<void> {
  const { values, positionals } = parse(rest, { 'out-dir': { type: 'string' }, prefix: { type: 'string' } });
  if (positionals.length !== 1) throw new UsageError('bench plot: give one kernel result file (JSON)');
  const { readFile } = await import('node:fs/promises');
  const doc = JSON.parse(await readFile(resolve(positionals[0]), 'utf8')) as { kind?: string; formatVersion?: number };
  if (doc.kind !== 'ralm-bench-kernel' || doc.formatVersion !== 2) throw new RalmError('RALM_ERR_VALIDATION', `${positionals[0]}: not a kernel result of format 2`);
  const { writeKernelPlots } = await import('../../bench/plot.js');
  const files = await writeKernelPlots(doc as Parameters<typeof writeKernelPlots>[0], resolve((values['out-dir'] as string | undefined) ?? dirname(resolve(positionals[0]))), (values.prefix as string | undefined) ?? 'kernel');
  emit({ json: !!values.json }, { files }, files.map((f) => `wrote ${f}`).join('\n'));
}

async function cmdBenchCompare(rest: string[]): Promise<void> {
  const { values, positionals } = parse(rest, { tolerance: { type: 'string' } });
  if (positionals.length !== 2) throw new UsageError('bench compare: give two kernel result files (JSON)');
  const { readFile } = await import('node:fs/promises');
  const { compareKernelResults, describeComparison } = await import('../../bench/compare.js');
  const [a, b] = await Promise.all(positionals.map(async (p) => JSON.parse(await readFile(resolve(p), 'utf8')) as Parameters<typeof compareKernelResults>[0]));
  const c = compareKernelResults(a, b, numOpt(values.tolerance, 'tolerance', 0.1));
  emit({ json: !!values.json }, c, describeComparison(c));
}

async function cmdBench(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'seeds') return cmdBenchSeeds(rest);
  if (sub === 'kernel') return cmdBenchKernel(rest);
  if (sub === 'http') return cmdBenchHttp(rest);
  if (sub === 'plot') return cmdBenchPlot(rest);
  if (sub === 'compare') return cmdBenchCompare(rest);
  if (sub === 'audience') return cmdBenchAudience(rest);
  throw new UsageError(`bench: unknown benchmark ${JSON.stringify(sub ?? '')}, expected "kernel", "http", "seeds", "audience", "plot" or "compare"`);
}

async function cmdServe(args: string[]): Promise<void> {
  const { loadConfig, SERVICE_OPTIONS } = await import('../server/config.js');
  const SERVE_FLAGS = Object.fromEntries(Object.values(SERVICE_OPTIONS).map((s) => [s.flag, { type: 'string' as const }]));
  const { startService, exampleRequests } = await import('../server/server.js');
  const { values } = parse(args, SERVE_FLAGS);
  const config = loadConfig(process.env, values);
  const log = (line: string): void => void process.stderr.write(`ralm: ${line}\n`);
  const svc = await startService(config, log);
  log(`listening on ${svc.url} (data ${config.dataDir})`);
  process.stderr.write(exampleRequests(svc.url, svc.exampleFeatures) + '\n');
  await new Promise<void>((resolveStop) => {
    const stop = (signal: string): void => {
      log(`${signal}: draining`);
      svc.close().then(() => {
        log('stopped');
        resolveStop();
      }, (err: unknown) => {
        log(`shutdown error: ${(err as Error).message}`);
        process.exitCode = 1;
        resolveStop();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'info': await cmdInfo(rest); break;
      case 'model': await cmdModel(rest); break;
      case 'bench': await cmdBench(rest); break;
      case 'serve': await cmdServe(rest); break;
      case 'audience': await cmdAudience(rest); break;
      case 'eval': await cmdEval(rest); break;
      case 'gen': await cmdGen(rest); break;
      case 'train': await cmdTrain(rest); break;
      case 'users': await cmdUsers(rest); break;
      case 'data': await cmdData(rest); break;
      case undefined: case '--help': case 'help': process.stdout.write(USAGE); return cmd === undefined ? 2 : 0;
      default: throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`ralm: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof RalmError) {
      process.stderr.write(`ralm: ${err.code}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

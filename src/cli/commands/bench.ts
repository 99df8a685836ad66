/**
 * `ralm bench kernel|http|seeds|audience|two-pass|quant|cluster|plot|compare`: the measurements. The only module in
 * src/ that imports bench/: at load only its defaults (bench/defaults.ts), which give these commands their options, so
 * help and usage errors load no benchmark; each command imports what it runs when it runs.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { BackendName, KernelBenchResult } from '../../../bench/kernel.js';
import {
  AUDIENCE_BENCH_DEFAULTS, CLUSTER_BENCH_DEFAULTS, CUSTOM_GRID_DEFAULTS, DEFAULT_PLOT_PREFIX, DEFAULT_TOLERANCE, HTTP_BENCH_DEFAULTS,
  KERNEL_BENCH_DEFAULTS, NOISY_SPREAD, PEER_NAMES, QUANT_BENCH_DEFAULTS, SEEDS_BENCH_DEFAULTS, TWO_PASS_BENCH_DEFAULTS,
} from '../../../bench/defaults.js';
import { RalmError } from '../../util/errors.js';
import { asDefault, bool, int, list, num, oneOf, str, UsageError, type OptionTable } from '../../util/options.js';
import { defineCommand, type CommandGroup } from '../command.js';
import { emit, log, writeResult } from '../output.js';

const backendList = list(oneOf(['cpu', 'cpu-simd', 'cpu-scalar', 'webgpu'] as const));
const g = CUSTOM_GRID_DEFAULTS;
const kd = KERNEL_BENCH_DEFAULTS;

const KERNEL_OPTIONS = {
  backend: { flag: 'backend', arg: 'all|cpu,cpu-simd,cpu-scalar,webgpu', default: 'all', help: 'backends to measure (all: every one present; cpu-simd: the CPU kernel without fused multiply-adds)', parse: (raw: string): 'all' | BackendName[] => (raw === 'all' ? 'all' : backendList(raw)) },
  peers: { flag: 'peers', boolean: true, help: `also run every peer (${PEER_NAMES.join(', ')})`, parse: bool },
  peer: { flag: 'peer', arg: PEER_NAMES.join(','), help: 'run these peers', parse: list(oneOf(PEER_NAMES)) },
  full: { flag: 'full', boolean: true, help: 'the full grid: every N, k, h, batch and storage', parse: bool },
  sizes: { flag: 'sizes', arg: 'N,…', default: asDefault(g.sizes), help: 'grid: candidates N', parse: list(int()) },
  ks: { flag: 'ks', arg: 'K,…', default: asDefault(g.ks), help: 'grid: centroids per item k', parse: list(int()) },
  hs: { flag: 'hs', arg: 'H,…', default: asDefault(g.hs), help: 'grid: embedding widths h', parse: list(int()) },
  h: { flag: 'h', arg: 'H,…', help: 'the same as --hs', parse: list(int()) },
  batches: { flag: 'batches', arg: 'B,…', default: asDefault(g.batches), help: 'grid: users per batch', parse: list(int()) },
  storage: { flag: 'storage', arg: 'f32,f16,int8', default: asDefault(g.storages), help: 'grid: centroid storage', parse: list(oneOf(['f32', 'f16', 'int8'] as const)) },
  top: { flag: 'top', arg: 'N', default: asDefault(kd.topK), help: 'top-K returned per user', parse: int() },
  minMs: { flag: 'min-ms', arg: 'N', default: asDefault(kd.minMs), help: 'least measuring time per row, ms', parse: int() },
  maxMs: { flag: 'max-ms', arg: 'N', default: asDefault(kd.maxMs), help: 'a row stops after this long once it has 3 runs, ms', parse: int() },
  gpuScorer: { flag: 'gpu-scorer', arg: 'auto|cooperative|per-item', default: 'auto', help: 'the WebGPU scorer (auto: by adapter)', parse: oneOf(['auto', 'cooperative', 'per-item'] as const) },
  maxItemGib: { flag: 'max-item-gib', arg: 'X', default: asDefault(kd.maxItemGiB), help: 'skip configurations whose f32 item data exceed this many GiB', parse: num() },
  out: { flag: 'out', arg: 'FILE', help: 'write the result (JSON)', parse: str() },
  svg: { flag: 'svg', arg: 'DIR', help: 'write latency and roofline plots (SVG) into DIR', parse: str() },
} as const satisfies OptionTable;

const GRID_FLAGS = ['sizes', 'ks', 'h', 'hs', 'batches', 'storage'];

const kernel = defineCommand({
  name: 'bench kernel',
  usage: 'bench kernel [--full | --sizes N,… --ks K,… --hs H,… --batches B,… --storage f32,f16,int8] [options]',
  summary: 'Ranks N candidates per backend (and peers) against the memory-read roofline.',
  notes: ['Without --full or a grid option it runs the standard plan; a grid option makes a grid whose other axes take their defaults.'],
  options: KERNEL_OPTIONS,
  async run({ values: v, given }) {
    const custom = GRID_FLAGS.some((f) => given.has(f));
    if (custom && v.full) throw new UsageError('--full: cannot be combined with --sizes/--ks/--hs/--batches/--storage');
    const { defaultBackends, runKernelBench, TABLE_HEADER } = await import('../../../bench/kernel.js');
    const { describeMachine } = await import('../../../bench/machine.js');
    const { describeScaling } = await import('../../../bench/scaling.js');
    const present = await defaultBackends();
    const want = v.backend === 'all' ? present : v.backend;
    if (want.includes('webgpu') && !present.includes('webgpu')) throw new RalmError('RALM_ERR_BACKEND_UNAVAILABLE', 'no WebGPU adapter on this host');
    const peers = v.peer ?? (v.peers ? [...PEER_NAMES] : []);
    const plan = v.full ? 'full' as const : custom
      ? { sizes: v.sizes, ks: v.ks, hs: given.has('hs') ? v.hs : v.h ?? v.hs, batches: v.batches, storages: v.storage }
      : kd.plan;
    if (!v.json) log(TABLE_HEADER);
    const result = await runKernelBench({ backends: want, peers, plan, topK: v.top, minMs: v.minMs, maxMs: v.maxMs, maxItemGiB: v.maxItemGib, gpuScorer: v.gpuScorer, log });
    await writeResult(v.out, result);
    if (v.svg !== undefined) {
      const { writeKernelPlots } = await import('../../../bench/plot.js');
      for (const f of await writeKernelPlots(result, resolve(v.svg))) log(`wrote ${f}`);
    }
    emit(v.json, result, [
      describeMachine(result.machine),
      ...result.missingPeers.map((m) => `peer ${m.name} not run: ${m.reason}; ${m.fix}`),
      result.noisyRows > 0 ? `noisy: ${result.noisyRows} of ${result.rows.length} rows had a spread (p90 − p10)/median above ${NOISY_SPREAD}; the machine was busy, rerun on a quiet one before comparing` : `spread: every row within (p90 − p10)/median ≤ ${NOISY_SPREAD}`,
      describeScaling(result.scaling),
      ...result.storageEffects.map((fx) => `${fx.storage} storage vs f32 (N=${fx.n}, k=${fx.k}, 20 users): max |Δscore| ${fx.maxAbsScoreDiff.toExponential(2)}, mean ${fx.meanAbsScoreDiff.toExponential(2)}, top-10 overlap ${(fx.top10Overlap * 100).toFixed(1)}%`),
    ].filter((l) => l !== '').join('\n'));
  },
});

const hd = HTTP_BENCH_DEFAULTS;

const HTTP_OPTIONS = {
  backend: { flag: 'backend', arg: 'cpu|webgpu', default: hd.backend, help: 'the service\'s backend', parse: oneOf(['cpu', 'webgpu'] as const) },
  sizes: { flag: 'sizes', arg: 'N,…', default: asDefault(hd.sizes), help: 'candidates per request', parse: list(int()) },
  duration: { flag: 'duration', arg: 'N', default: asDefault(hd.durationSec), help: 'seconds per load run', parse: int() },
  connections: { flag: 'connections', arg: 'N', default: asDefault(hd.connections), help: 'connections of the maximum-throughput runs', parse: int() },
  rates: { flag: 'rates', arg: 'X,…', default: asDefault(hd.rateFractions), help: 'fixed rates, as fractions of each case\'s measured maximum', parse: list(num(0, 1, { min: true })) },
  encodings: { flag: 'encodings', arg: 'json,msgpack', default: asDefault(hd.encodings), help: 'request encodings', parse: list(oneOf(['json', 'msgpack'] as const)) },
  batching: { flag: 'batching', arg: 'on,off', default: asDefault(hd.batching), help: 'with and/or without request batching', parse: list(oneOf(['on', 'off'] as const)) },
  overload: { flag: 'overload', arg: 'X', default: asDefault(hd.overloadFactor), help: 'open-loop demand at X times the maximum, coalescing on (0: skip)', parse: num(0, 100) },
  overloadRate: { flag: 'overload-rate', arg: 'R', default: asDefault(hd.overloadRate), help: 'the overload case at R requests a second instead of X times the maximum (0: X times), to offer two builds the same demand', parse: num(0, 1_000_000) },
  jobsUsers: { flag: 'jobs-users', arg: 'N', default: asDefault(hd.jobsUsers), help: '/healthz through audience jobs and big ingests over N users first (0: skip)', parse: int(0, 10_000_000) },
  cpuOffload: { flag: 'cpu-offload', arg: 'true|false', default: asDefault(hd.cpuOffload), help: 'the service\'s CPU offload (serve --cpu-offload)', parse: bool },
  admissionLagMs: { flag: 'admission-lag-ms', arg: 'N', default: asDefault(hd.admissionLagMs), help: 'the event-loop lag admission steers under while refusing, ms (serve --admission-lag-ms)', parse: int(5, 10_000) },
  cpuWorkerNice: { flag: 'cpu-worker-nice', arg: 'N', default: asDefault(hd.cpuWorkerNice), help: 'nice steps of the CPU worker threads below the event loop (serve --cpu-worker-nice)', parse: int(0, 19) },
  storage: { flag: 'storage', arg: 'f32|f16|int8', default: asDefault(hd.storage), help: 'the item table\'s centroid storage (serve --storage)', parse: oneOf(['f32', 'f16', 'int8'] as const) },
  admission: { flag: 'admission', arg: 'on|off', default: hd.admission, help: 'off: the served apps refuse nothing (no load shedding, a 60 s wait and deadline), to read capacity on a machine running other work', parse: oneOf(['on', 'off'] as const) },
  out: { flag: 'out', arg: 'FILE', help: 'write the result (JSON)', parse: str() },
} as const satisfies OptionTable;

const http = defineCommand({
  name: 'bench http',
  usage: 'bench http [options]',
  summary: 'The service on loopback under autocannon, beside a bare Fastify route.',
  notes: ['Maximum throughput first, then latency at fixed fractions of it, then demand at a multiple of it (the excess must be refused quickly).'],
  options: HTTP_OPTIONS,
  async run({ values: v }) {
    const { runHttpBench } = await import('../../../bench/http.js');
    const { describeMachine } = await import('../../../bench/machine.js');
    const result = await runHttpBench({
      backend: v.backend, sizes: v.sizes, durationSec: v.duration, connections: v.connections, rateFractions: v.rates,
      encodings: v.encodings, batching: v.batching, overloadFactor: v.overload, overloadRate: v.overloadRate, jobsUsers: v.jobsUsers, cpuOffload: v.cpuOffload, cpuWorkerNice: v.cpuWorkerNice, admissionLagMs: v.admissionLagMs, storage: v.storage, admission: v.admission, log,
    });
    await writeResult(v.out, result);
    emit(v.json, result, [
      describeMachine(result.machine),
      `server backend: ${result.settings.adapter}; k=${result.settings.k}, h=${result.settings.h}, top-${result.settings.topK}; ${result.settings.durationSec} s per run`,
      ...result.cases.map((c) => `N=${c.n} ${c.encoding}: request ${c.requestBytes} bytes, reply ${c.responseBytes} bytes`),
    ].join('\n'));
  },
});

const sd = SEEDS_BENCH_DEFAULTS;

const SEEDS_OPTIONS = {
  data: { flag: 'data', arg: 'DIR', help: 'the Globo.com news clicks (required)', parse: str() },
  backend: { flag: 'backend', arg: 'cpu|webgpu', default: sd.backend, help: 'compute backend', parse: oneOf(['cpu', 'webgpu'] as const) },
  hours: { flag: 'hours', arg: 'N', defaultText: 'every file', help: 'read only the first N hourly files', parse: int() },
  replayHours: { flag: 'replay-hours', arg: 'N', defaultText: 'all of it', help: 'replay only the first N hours of click time (ingest still takes every click)', parse: int() },
  maxClusterPoints: { flag: 'max-cluster-points', arg: 'N', default: asDefault(sd.maxClusterPoints), help: 'seeds clustered per item at most', parse: int() },
  minSeeds: { flag: 'min-seeds', arg: 'N', default: asDefault(sd.minSeeds), help: 'seeds below which an item is served as cold', parse: int() },
  out: { flag: 'out', arg: 'FILE', help: 'write the result (JSON)', parse: str() },
} as const satisfies OptionTable;

const seeds = defineCommand({
  name: 'bench seeds',
  usage: 'bench seeds --data DIR [options]',
  summary: `Replays Globo.com clicks: durable ingest, re-clustering per ${sd.windowMs / 60000}-minute window.`,
  options: SEEDS_OPTIONS,
  async run({ values: v }) {
    if (v.data === undefined) throw new UsageError('bench seeds: --data DIR (the Globo.com news clicks) is required');
    const { runSeedsBench } = await import('../../../bench/seeds.js');
    const r = await runSeedsBench({
      data: v.data, backend: v.backend, hours: v.hours, replayHours: v.replayHours, maxClusterPoints: v.maxClusterPoints, minSeeds: v.minSeeds, log,
    });
    await writeResult(v.out, r);
    const c = r.cycles;
    emit(v.json, r, [
      `ingested ${r.dataset.clicks} clicks (${r.dataset.articles} articles, ${r.dataset.users} users); replayed ${r.dataset.replayedClicks} of them${r.dataset.replayedHours ? ` (first ${r.dataset.replayedHours} h of click time)` : ''} in ${r.dataset.windows} windows of ${r.settings.windowMs / 60000} min on ${r.backend}`,
      `user embeddings: ${r.userEmbeddings}`,
      `durable ingest: ${Math.round(r.ingest.eventsPerSec)} events/s at full speed (${r.ingest.batch}-event calls); ${Math.round(r.replayIngest.eventsPerSec)} events/s in the replay (one call per window)`,
      `cycles: median ${c.medianMs.toFixed(0)} ms, p90 ${c.p90Ms.toFixed(0)} ms, max ${c.maxMs.toFixed(0)} ms; busiest window (${c.busiestWindow.clicks} clicks): ${c.busiestWindow.cycleMs.toFixed(0)} ms for ${c.busiestWindow.itemsClustered} items`,
      `items clustered: ${c.itemsClustered} (${c.itemsPerSec.toFixed(0)}/s of cycle time), seeds used ${c.seedsUsed}`,
      `freshness (simulated): p50 ${(r.freshness.p50Ms / 1000).toFixed(0)} s, p90 ${(r.freshness.p90Ms / 1000).toFixed(0)} s, max ${(r.freshness.maxMs / 1000).toFixed(0)} s over ${r.freshness.items} items`,
      `store: ${(r.store.bytesOnDisk / 2 ** 20).toFixed(0)} MiB on disk; seeds per item p50 ${r.seedsPerItem.p50}, p99 ${r.seedsPerItem.p99}, max ${r.seedsPerItem.max}; peak RSS ${r.peakRssMiB.toFixed(0)} MiB`,
    ].join('\n'));
  },
});

const ad = AUDIENCE_BENCH_DEFAULTS;

const AUDIENCE_OPTIONS = {
  users: { flag: 'users', arg: 'N', default: asDefault(ad.users), help: 'users in the table', parse: int() },
  h: { flag: 'h', arg: 'N', default: asDefault(ad.h), help: 'embedding width h', parse: int() },
  ks: { flag: 'ks', arg: 'K,…', default: asDefault(ad.ks), help: 'centroids per seed set', parse: list(int()) },
  seeds: { flag: 'seeds', arg: 'N', default: asDefault(ad.seeds), help: 'seeds per set', parse: int() },
  sets: { flag: 'sets', arg: 'N,…', default: asDefault(ad.sets), help: 'seed sets scored in one scan', parse: list(int()) },
  top: { flag: 'top', arg: 'N', default: asDefault(ad.topN), help: 'audience size N', parse: int() },
  targets: { flag: 'targets', arg: 'wasm,scalar,webgpu', default: asDefault(ad.targets), help: 'scan implementations (webgpu only where an adapter is present)', parse: list(oneOf(['wasm', 'scalar', 'webgpu'] as const)) },
  storage: { flag: 'storage', arg: 'f32,int8', default: asDefault(ad.storages), help: 'user-table storages (the same users in each; int8 rows report recall@N against f32)', parse: list(oneOf(['f32', 'int8'] as const)) },
  scans: { flag: 'scans', arg: 'exact,two-pass', default: asDefault(ad.scans), help: 'scans measured (two-pass rows report recall@N against the exact f32 scan)', parse: list(oneOf(['exact', 'two-pass'] as const)) },
  factor: { flag: 'factor', arg: 'N', default: asDefault(ad.factor), help: 'two-pass scan: candidates kept, as a multiple of N', parse: int(1, 10_000) },
  minMs: { flag: 'min-ms', arg: 'N', default: asDefault(ad.minMs), help: 'least measuring time per row, ms', parse: int() },
  out: { flag: 'out', arg: 'FILE', help: 'write the result (JSON)', parse: str() },
} as const satisfies OptionTable;

const audience = defineCommand({
  name: 'bench audience',
  usage: 'bench audience [options]',
  summary: 'Scores every user of a table against one seed set, per backend, vs the roofline.',
  options: AUDIENCE_OPTIONS,
  async run({ values: v }) {
    const { runAudienceBench } = await import('../../../bench/audience.js');
    const { describeMachine } = await import('../../../bench/machine.js');
    const r = await runAudienceBench({
      users: v.users, h: v.h, ks: v.ks, seeds: v.seeds, sets: v.sets, topN: v.top, targets: v.targets, storages: v.storage, scans: v.scans, factor: v.factor, minMs: v.minMs, log,
    });
    await writeResult(v.out, r);
    emit(v.json, r, describeMachine(r.machine));
  },
});

const cd = CLUSTER_BENCH_DEFAULTS;

const cluster = defineCommand({
  name: 'bench cluster',
  usage: 'bench cluster [--store redis://HOST:PORT] [options]',
  summary: 'Shared store: durable ingest into Valkey (one node, and a 3-primary Cluster where it starts its own) beside LMDB, publication → served across replicas, recommend with 1..N replicas.',
  notes: ['Without --store it starts a private valkey-server (appendfsync always) in a temporary directory; a store given must be empty.'],
  options: {
    store: { flag: 'store', arg: 'URL', defaultText: 'a private valkey-server', help: 'the Valkey/Redis to measure', parse: str() },
    events: { flag: 'events', arg: 'N', default: asDefault(cd.events), help: 'events ingested per run', parse: int() },
    batch: { flag: 'batch', arg: 'N', default: asDefault(cd.batch), help: 'events per ingest call', parse: int() },
    inflight: { flag: 'inflight', arg: 'N', default: asDefault(cd.inflight), help: 'ingest calls in flight in the concurrent run', parse: int() },
    replicas: { flag: 'replicas', arg: 'N', default: asDefault(cd.replicas), help: 'ralm serve replicas started', parse: int(1, 16) },
    rounds: { flag: 'rounds', arg: 'N', default: asDefault(cd.rounds), help: 'publications measured', parse: int() },
    seconds: { flag: 'seconds', arg: 'N', default: asDefault(cd.seconds), help: 'seconds of recommend load per replica count', parse: int() },
    connections: { flag: 'connections', arg: 'N', default: asDefault(cd.connections), help: 'concurrent recommend requests', parse: int() },
  out: { flag: 'out', arg: 'FILE', help: 'write the result (JSON)', parse: str() },
  },
  async run({ values: v }) {
    const { runClusterBench } = await import('../../../bench/cluster.js');
    const r = await runClusterBench({ store: v.store, events: v.events, batch: v.batch, inflight: v.inflight, replicas: v.replicas, rounds: v.rounds, seconds: v.seconds, connections: v.connections, log });
    await writeResult(v.out, r);
    const p = r.publication;
    emit(v.json, r, [
      `${r.machine.cpu}, ${r.machine.cores} cores; Valkey ${r.valkey.startedHere ? 'started here' : r.valkey.address}, durability ${r.valkey.durability}`,
      ...r.ingest.map((x) => `durable ingest, ${x.store}, ${x.mode}: ${Math.round(x.eventsPerSec)} events/s${x.server ? ` (server: ${x.server.cpuUsPerEvent.toFixed(1)} µs CPU, ${Math.round(x.server.aofBytesPerEvent)} B of AOF per event)` : ''}`),
      `re-cluster request → served on the ${p.replicas - 1} other replica(s): p50 ${p.p50Ms.toFixed(1)} ms, p99 ${p.p99Ms.toFixed(1)} ms, max ${p.maxMs.toFixed(1)} ms (${p.samples} samples)`,
      ...r.recommend.map((x) => `recommend, ${x.replicas} replica(s) round-robin: ${Math.round(x.perSec)} requests/s (${x.errors} errors)`),
    ].join('\n'));
  },
});

const plot = defineCommand({
  name: 'bench plot',
  usage: 'bench plot FILE [--out-dir DIR] [--prefix P]',
  summary: 'SVG plots (latency, roofline) of a kernel result.',
  options: {
    outDir: { flag: 'out-dir', arg: 'DIR', defaultText: 'the result file\'s folder', help: 'where the plots go', parse: str() },
    prefix: { flag: 'prefix', arg: 'P', default: DEFAULT_PLOT_PREFIX, help: 'file names: P-latency.svg, P-roofline.svg', parse: str() },
  },
  positionals: true,
  async run({ values: v, positionals }) {
    if (positionals.length !== 1) throw new UsageError('bench plot: give one kernel result file (JSON)');
    const doc = JSON.parse(await readFile(resolve(positionals[0]), 'utf8')) as { kind?: string; formatVersion?: number };
    if (doc.kind !== 'ralm-bench-kernel' || doc.formatVersion !== 2) throw new RalmError('RALM_ERR_VALIDATION', `${positionals[0]}: not a kernel result of format 2`);
    const { writeKernelPlots } = await import('../../../bench/plot.js');
    const files = await writeKernelPlots(doc as KernelBenchResult, resolve(v.outDir ?? dirname(resolve(positionals[0]))), v.prefix);
    emit(v.json, { files }, files.map((f) => `wrote ${f}`).join('\n'));
  },
});

const compare = defineCommand({
  name: 'bench compare',
  usage: 'bench compare A B [--tolerance X]',
  summary: 'Per-row median ratio of two kernel results, against a tolerance.',
  options: {
    tolerance: { flag: 'tolerance', arg: 'X', default: asDefault(DEFAULT_TOLERANCE), help: 'ratios within 1 ± X count as unchanged', parse: num() },
  },
  positionals: true,
  async run({ values: v, positionals }) {
    if (positionals.length !== 2) throw new UsageError('bench compare: give two kernel result files (JSON)');
    const { compareKernelResults, describeComparison } = await import('../../../bench/compare.js');
    const [a, b] = await Promise.all(positionals.map(async (p) => JSON.parse(await readFile(resolve(p), 'utf8')) as KernelBenchResult));
    const c = compareKernelResults(a, b, v.tolerance);
    emit(v.json, c, describeComparison(c));
  },
});

const QUANT_OPTIONS = {
  dataset: { flag: 'dataset', arg: 'movielens|globo', default: 'movielens', help: 'the click log the model was trained on', parse: oneOf(['movielens', 'globo'] as const) },
  data: { flag: 'data', arg: 'DIR', help: 'the dataset folder', parse: str() },
  model: { flag: 'model', arg: 'DIR', help: 'a trained model directory with its users.msgpack (ralm train --out DIR)', parse: str() },
  storage: { flag: 'storage', arg: 'f16,int8', default: asDefault(QUANT_BENCH_DEFAULTS.storages), help: 'storages compared with f32', parse: list(oneOf(['f16', 'int8'] as const)) },
  minSeeds: { flag: 'min-seeds', arg: 'N', default: asDefault(QUANT_BENCH_DEFAULTS.minSeeds), help: 'items need this many distinct clickers', parse: int(1, 1e6) },
  audienceItems: { flag: 'audience-items', arg: 'N', default: asDefault(QUANT_BENCH_DEFAULTS.audienceItems), help: "items whose seed sets the audience comparison scans (0: none)", parse: int(0, 1e6) },
  out: { flag: 'out', arg: 'FILE', help: 'write the result (JSON)', parse: str() },
} as const satisfies OptionTable;

const quant = defineCommand({
  name: 'bench quant',
  usage: 'bench quant --dataset movielens|globo --data DIR --model DIR [options]',
  summary: 'What f16/int8 storage does to rankings and audiences on real clusters (a trained model and its data).',
  options: QUANT_OPTIONS,
  async run({ values: v }) {
    if (v.data === undefined || v.model === undefined) throw new UsageError('bench quant: give --data DIR (the dataset) and --model DIR (a trained model)');
    const { runQuantBench } = await import('../../../bench/quant.js');
    const { describeMachine } = await import('../../../bench/machine.js');
    const r = await runQuantBench({ dataset: v.dataset, data: resolve(v.data), model: resolve(v.model), storages: v.storage, minSeeds: v.minSeeds, audienceItems: v.audienceItems, log });
    await writeResult(v.out, r);
    emit(v.json, r, describeMachine(r.machine));
  },
});

const tp = TWO_PASS_BENCH_DEFAULTS;

const TWO_PASS_OPTIONS = {
  dataset: { flag: 'dataset', arg: 'movielens|globo', default: 'movielens', help: 'the click log', parse: oneOf(['movielens', 'globo'] as const) },
  data: { flag: 'data', arg: 'DIR', help: 'the dataset folder', parse: str() },
  rank: { flag: 'rank', arg: 'N', default: asDefault(tp.rank), help: 'SVD rank (the embedding width)', parse: int(2, 1024) },
  items: { flag: 'items', arg: 'N', default: asDefault(tp.items), help: 'seed sets (items) sampled', parse: int(1, 1e6) },
  ks: { flag: 'ks', arg: 'K,…', default: asDefault(tp.ks), help: 'centroids per seed set', parse: list(int(1, 1000)) },
  ns: { flag: 'ns', arg: 'N,…', default: asDefault(tp.ns), help: 'audience sizes N', parse: list(int(1, 1e7)) },
  factors: { flag: 'factors', arg: 'F,…', default: asDefault(tp.factors), help: 'candidate factors (candidates = max(min, F × N))', parse: list(int(1, 10_000)) },
  minCandidates: { flag: 'min-candidates', arg: 'N', default: asDefault(tp.minCandidates), help: 'the candidate floor', parse: int(0, 1e9) },
  storage: { flag: 'storage', arg: 'f32|int8', default: tp.storage, help: 'user-table storage', parse: oneOf(['f32', 'int8'] as const) },
  seed: { flag: 'seed', arg: 'N', default: asDefault(tp.seed), help: 'sampling and SVD seed', parse: int(0) },
  out: { flag: 'out', arg: 'FILE', help: 'write the result (JSON)', parse: str() },
} as const satisfies OptionTable;

const twoPass = defineCommand({
  name: 'bench two-pass',
  usage: 'bench two-pass --dataset movielens|globo --data DIR [options]',
  summary: "The two-pass audience scan's recall@N against the exact scan on real seed sets (SVD users of a click log).",
  notes: ['Seed sets as ralm eval audience draws them: half the clickers of sampled items with 20 to 5,000 clickers; RALM with identity weights.'],
  options: TWO_PASS_OPTIONS,
  async run({ values: v }) {
    if (v.data === undefined) throw new UsageError('bench two-pass: give --data DIR (the dataset)');
    const { runTwoPassBench } = await import('../../../bench/two-pass.js');
    const { describeMachine } = await import('../../../bench/machine.js');
    const r = await runTwoPassBench({
      dataset: v.dataset, data: resolve(v.data), rank: v.rank, items: v.items, ks: v.ks, ns: v.ns, factors: v.factors, minCandidates: v.minCandidates, storage: v.storage, seed: v.seed, log,
    });
    await writeResult(v.out, r);
    emit(v.json, r, describeMachine(r.machine));
  },
});

export const command: CommandGroup = {
  kind: 'group', name: 'bench', noun: 'benchmark',
  summary: 'Measurements: the ranking kernel, the HTTP service, the seed pipeline, the audience scan, the shared store; plots and comparisons of kernel results.',
  subcommands: { kernel, http, seeds, audience, 'two-pass': twoPass, quant, cluster, plot, compare },
};

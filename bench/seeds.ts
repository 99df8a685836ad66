/**
 * `ralm bench seeds --data DIR`: replays the Globo.com news clicks in time order through the
 * ingestion API (durable, at full speed) and runs a re-clustering cycle after each simulated
 * 5-minute window, as the online system would. Reports durable ingest rate, cycle times,
 * items clustered per second, store size, peak memory and freshness.
 *
 * User embeddings: no model trained on this data ships with the project, so each user gets a
 * seeded random unit vector (the output says so). Clustering cost does not depend on what the
 * vectors mean; the freshness and throughput figures are real.
 */
import { readdirSync, readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { randomModel } from '../src/model/random.js';
import { RalmEngine } from '../src/engine/engine.js';
import { LmdbStore } from '../src/store/lmdb-store.js';
import { SeedService } from '../src/seeds/seed-service.js';
import type { ClickEvent } from '../src/store/store.js';
import { withDefaults } from '../src/util/options.js';
import { SEEDS_BENCH_DEFAULTS } from './defaults.js';
import { Rng } from '../src/util/rng.js';
import { RalmError } from '../src/util/errors.js';
import { quantile } from './stats.js';
import { basicMachineInfo } from './machine.js';

export interface SeedsBenchOptions {
  /** The dataset directory, as given (recorded as is in the result). */
  data: string;
  backend?: 'cpu' | 'webgpu';
  /** Read only the first N hourly files (default: all). */
  hours?: number;
  /** Replay window by window only the first N hours of click time (default: all); ingest still takes every click read. */
  replayHours?: number;
  windowMs?: number;
  ingestBatch?: number;
  maxClusterPoints?: number;
  minSeeds?: number;
  log?: (line: string) => void;
}

export interface SeedsBenchResult {
  kind: 'ralm-bench-seeds';
  createdAt: string;
  machine: ReturnType<typeof basicMachineInfo>;
  dataset: { dir: string; files: number; clicks: number; users: number; articles: number; windows: number; replayedClicks: number; replayedHours: number | null };
  userEmbeddings: string;
  backend: string;
  settings: { windowMs: number; ingestBatch: number; maxClusterPoints: number; minSeeds: number; k: number; h: number };
  /** Full speed: every click in `ingestBatch`-event calls into a fresh store. */
  ingest: { events: number; seconds: number; eventsPerSec: number; batch: number; durable: true };
  /** During the replay: each window's clicks in one call (small batches, one fsync each). */
  replayIngest: { events: number; seconds: number; eventsPerSec: number };
  cycles: {
    count: number; medianMs: number; p90Ms: number; maxMs: number;
    busiestWindow: { clicks: number; itemsClustered: number; seedsUsed: number; cycleMs: number };
    itemsClustered: number; itemsPerSec: number; seedsUsed: number;
  };
  freshness: { items: number; p50Ms: number; p90Ms: number; maxMs: number; note: string };
  store: { bytesOnDisk: number; items: number; clusteredItems: number };
  seedsPerItem: { p50: number; p90: number; p99: number; max: number };
  peakRssMiB: number;
  totalSeconds: number;
}

/** Reads the hourly click files in order → events sorted by time. */
export function readGloboClicks(dir: string, hours?: number): { events: ClickEvent[]; users: string[]; files: number } {
  const clickDir = join(dir, 'clicks');
  if (!existsSync(clickDir)) {
    throw new RalmError('RALM_ERR_VALIDATION', `no Globo.com click files at ${clickDir} (expected clicks/clicks_hour_NNN.csv.gz; see the dataset's PROVENANCE.md)`);
  }
  let files = readdirSync(clickDir).filter((f) => /^clicks_hour_\d+\.csv(\.gz)?$/.test(f)).sort();
  if (hours !== undefined) files = files.slice(0, hours);
  const events: ClickEvent[] = [];
  const users = new Set<string>();
  for (const f of files) {
    const raw = readFileSync(join(clickDir, f));
    const text = (f.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
    const lines = text.split('\n');
    const header = lines[0].split(',');
    const col = (name: string): number => {
      const i = header.indexOf(name);
      if (i < 0) throw new RalmError('RALM_ERR_VALIDATION', `${f}: column ${name} missing from header`);
      return i;
    };
    const cu = col('user_id');
    const cs = col('session_id');
    const ca = col('click_article_id');
    const ct = col('click_timestamp');
    for (let i = 1; i < lines.length; i++) {
      if (!lines[i]) continue;
      const c = lines[i].split(',');
      const ts = Number(c[ct]);
      if (!Number.isFinite(ts) || !c[cu] || !c[ca]) throw new RalmError('RALM_ERR_VALIDATION', `${f}:${i + 1}: malformed row`);
      const user = `u${c[cu]}`;
      users.add(user);
      events.push({ user, item: `a${c[ca]}`, ts, id: `${c[cs]}:${c[ct]}:${c[ca]}` });
    }
  }
  events.sort((a, b) => a.ts - b.ts);
  return { events, users: [...users], files: files.length };
}

export async function runSeedsBench(options: SeedsBenchOptions): Promise<SeedsBenchResult> {
  const o = withDefaults(SEEDS_BENCH_DEFAULTS, options);
  const log = o.log ?? (() => undefined);
  const t0 = performance.now();
  const { windowMs, ingestBatch, maxClusterPoints, minSeeds } = o;
  log(`reading clicks from ${o.data} …`);
  const { events, users, files } = readGloboClicks(o.data, o.hours);
  const articles = new Set(events.map((e) => e.item)).size;
  log(`${events.length} clicks, ${users.length} users, ${articles} articles in ${files} hourly files`);

  // Phase 1: durable ingest at full speed, into its own store.
  const ingestDir = mkdtempSync(join(tmpdir(), 'ralm-bench-ingest-'));
  let fullIngestSeconds = 0;
  try {
    const s = LmdbStore.open(ingestDir);
    const ti = performance.now();
    for (let b = 0; b < events.length; b += ingestBatch) await s.ingest(events.slice(b, b + ingestBatch));
    fullIngestSeconds = (performance.now() - ti) / 1000;
    await s.close();
  } finally {
    rmSync(ingestDir, { recursive: true, force: true });
  }
  log(`durable ingest at full speed: ${Math.round(events.length / fullIngestSeconds)} events/s`);

  // Phase 2: replay window by window, re-clustering after each.
  const replay = o.replayHours === undefined ? events : events.filter((e) => e.ts < events[0].ts + (o.replayHours as number) * 3_600_000);
  // The seeded-random model the committed figures were measured with (h = m = 128, k = 20): users
  // here are random vectors, so a trained model would add nothing but a different width.
  const model = randomModel({ seed: 1 });
  const engine = await RalmEngine.create(model, { backend: o.backend, recoverDevice: false });
  const storeDir = mkdtempSync(join(tmpdir(), 'ralm-bench-seeds-'));
  const store = LmdbStore.open(storeDir);
  const svc = new SeedService(store, engine, { minSeeds, maxClusterPoints });
  try {
    // Seeded random unit vectors as universal embeddings (stated in the result).
    const { m } = model.manifest;
    for (let i = 0; i < users.length; i += 10_000) {
      const chunk = users.slice(i, i + 10_000).map((id) => {
        const rng = new Rng(Number(id.slice(1)) + 1);
        const v = rng.normals(m);
        const norm = Math.hypot(...v);
        return { id, universal: v.map((x) => x / norm) };
      });
      await svc.putUsers(chunk);
    }
    log(`stored ${users.length} users (random unit vectors)`);

    const firstClick = new Map<string, number>();
    const freshness: number[] = [];
    const cycleMs: number[] = [];
    let ingestSeconds = 0;
    let itemsClustered = 0;
    let seedsUsed = 0;
    let cycleTotal = 0;
    let busiest = { clicks: 0, itemsClustered: 0, seedsUsed: 0, cycleMs: 0 };
    let windows = 0;
    let i = 0;
    while (i < replay.length) {
      const w = Math.floor(replay[i].ts / windowMs);
      let j = i;
      while (j < replay.length && Math.floor(replay[j].ts / windowMs) === w) {
        if (!firstClick.has(replay[j].item)) firstClick.set(replay[j].item, replay[j].ts);
        j++;
      }
      const ti = performance.now();
      for (let b = i; b < j; b += ingestBatch) await svc.ingest(replay.slice(b, Math.min(j, b + ingestBatch)));
      ingestSeconds += (performance.now() - ti) / 1000;
      const report = await svc.recluster();
      windows++;
      cycleMs.push(report.durationMs);
      cycleTotal += report.durationMs;
      itemsClustered += report.itemsClustered;
      seedsUsed += report.seedsUsed;
      const windowEnd = (w + 1) * windowMs;
      for (const id of report.newlyServable) freshness.push(windowEnd - (firstClick.get(id) ?? windowEnd) + report.durationMs);
      if (j - i > busiest.clicks) busiest = { clicks: j - i, itemsClustered: report.itemsClustered, seedsUsed: report.seedsUsed, cycleMs: report.durationMs };
      if (windows % 250 === 0) {
        log(`window ${windows}: ${j} clicks replayed, cycle ${report.durationMs.toFixed(0)} ms (${report.itemsClustered} items), ${(performance.now() - t0) / 1000 | 0} s elapsed`);
      }
      i = j;
    }
    const sorted = [...cycleMs].sort((a, b) => a - b);
    const fs = [...freshness].sort((a, b) => a - b);
    const st = await store.stats();
    const dist = await svc.seedDistribution();
    return {
      kind: 'ralm-bench-seeds',
      createdAt: new Date().toISOString(),
      machine: basicMachineInfo(),
      dataset: { dir: o.data, files, clicks: events.length, users: users.length, articles, windows, replayedClicks: replay.length, replayedHours: o.replayHours ?? null },
      userEmbeddings: 'seeded random unit vectors (no model trained on this dataset is shipped)',
      backend: engine.adapterName,
      settings: { windowMs, ingestBatch, maxClusterPoints, minSeeds, k: model.manifest.k, h: model.manifest.h },
      ingest: { events: events.length, seconds: fullIngestSeconds, eventsPerSec: events.length / fullIngestSeconds, batch: ingestBatch, durable: true },
      replayIngest: { events: replay.length, seconds: ingestSeconds, eventsPerSec: replay.length / ingestSeconds },
      cycles: {
        count: windows, medianMs: quantile(sorted, 0.5), p90Ms: quantile(sorted, 0.9), maxMs: sorted[sorted.length - 1] ?? 0,
        busiestWindow: busiest, itemsClustered, itemsPerSec: itemsClustered / (cycleTotal / 1000), seedsUsed,
      },
      freshness: {
        items: fs.length, p50Ms: quantile(fs, 0.5), p90Ms: quantile(fs, 0.9), maxMs: fs[fs.length - 1] ?? 0,
        note: 'simulated time: from the first click to the end of the window whose cycle made the item servable, plus that cycle',
      },
      store: { bytesOnDisk: st.bytesOnDisk, items: st.items, clusteredItems: st.clusteredItems },
      seedsPerItem: { p50: dist.p50, p90: dist.p90, p99: dist.p99, max: dist.max },
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      totalSeconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await engine.close();
    await store.close();
    rmSync(storeDir, { recursive: true, force: true });
  }
}

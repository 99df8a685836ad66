/**
 * The service's Prometheus metrics, on prom-client: its counters and histograms, the engine's,
 * the seed service's and the audience service's figures read at scrape time, and Node's own
 * process and runtime metrics (CPU, RSS, heap, GC, event-loop lag) beside them. A value that is
 * not finite is never observed, so no sum can turn NaN.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RalmEngine } from '../engine/engine.js';
import type { SeedService } from '../seeds/seed-service.js';

/** What a scrape reads besides the service's own counters. */
export interface AudienceFigures {
  users: number;
  jobsQueued: number;
  jobsRunning: number;
}

let runtime: Registry | undefined;
/** Node's process and runtime metrics: one set per process, however many apps it serves. */
function runtimeMetrics(): Registry {
  if (!runtime) {
    runtime = new Registry();
    collectDefaultMetrics({ register: runtime });
  }
  return runtime;
}

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export class Metrics {
  private readonly registry = new Registry();
  private readonly latency = this.histogram('ralm_http_request_duration_seconds', 'End-to-end request latency by route.', [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], ['route']);
  private readonly requests = this.counter('ralm_http_requests_total', 'Requests by route and status.', ['route', 'status']);
  private readonly errors = this.counter('ralm_errors_total', 'Errors by code.', ['code']);
  private readonly candidates = this.histogram('ralm_candidates_per_request', 'Candidates scored per recommend request.', [10, 100, 1000, 10_000, 100_000, 1_000_000]);
  private readonly batchSize = this.histogram('ralm_batch_size', 'Recommend requests coalesced per engine call.', [1, 2, 4, 8, 16, 32, 64, 128]);
  private readonly engineTime = this.histogram('ralm_engine_batch_seconds', 'Engine (kernel) time per coalesced batch, with upload and readback.', SECONDS);
  private readonly queueWaitTime = this.histogram('ralm_queue_wait_seconds', 'Time a recommend request waited to be batched.', [...SECONDS.slice(0, 8), 0.5, 1]);
  private readonly audiences = this.counter('ralm_audiences_total', 'Audience expansions by mode (sync, job) and outcome (done, failed, cancelled).', ['mode', 'outcome']);
  private readonly audienceScan = this.histogram('ralm_audience_scan_seconds', 'Time to score the users of one audience request (the scan, without clustering).', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  private readonly audienceUsers = this.histogram('ralm_audience_users_scored', 'Users scored per audience request.', [1000, 10_000, 100_000, 1_000_000, 10_000_000]);
  /** Figures owned by the engine, the seed service and the audience service, copied in at each scrape. */
  private readonly read = {
    batches: this.counter('ralm_engine_batches_total', 'Engine batches (one backend call each).'),
    candidates: this.counter('ralm_engine_candidates_total', 'Candidates scored.'),
    cpuFallbacks: this.counter('ralm_cpu_fallbacks_total', 'Operations re-run on the CPU after a device loss.'),
    deviceLosses: this.counter('ralm_device_losses_total', 'WebGPU device losses.'),
    deviceRecoveries: this.counter('ralm_device_recoveries_total', 'WebGPU devices reacquired.'),
    gpuErrors: this.counter('ralm_gpu_uncaptured_errors_total', 'WebGPU errors no error scope caught (validation, out-of-memory) on the current device.'),
    gpuMemory: this.gauge('ralm_gpu_memory_bytes', 'Device memory held by the buffers of the WebGPU backend (0 on the CPU).'),
    backend: this.gauge('ralm_backend_info', 'The backend serving requests (1 for the current one).', ['backend', 'adapter']),
    items: this.gauge('ralm_items_servable', 'Items in the engine table.'),
    ingested: this.counter('ralm_events_ingested_total', 'Click events stored.'),
    duplicate: this.counter('ralm_events_duplicate_total', 'Click events already seen (by id).'),
    unknownUser: this.counter('ralm_events_unknown_user_total', 'Stored events whose user has no embedding yet.'),
    runs: this.counter('ralm_recluster_runs_total', 'Re-clustering runs.'),
    clustered: this.counter('ralm_recluster_items_total', 'Items re-clustered and published.'),
    failures: this.counter('ralm_recluster_failures_total', 'Items whose re-clustering failed.'),
    lastRun: this.gauge('ralm_recluster_last_run_seconds', 'Duration of the last re-clustering run.'),
    tableUsers: this.gauge('ralm_audience_user_table_users', 'Users in the audience user table.'),
    jobs: this.gauge('ralm_audience_jobs', 'Audience jobs waiting and running.', ['state']),
  };

  /** An audience run ended: how (`mode` sync or job; `outcome` done, failed or cancelled), its scan time and users scored. */
  audience(mode: 'sync' | 'job', outcome: 'done' | 'failed' | 'cancelled', scanSeconds?: number, scored?: number): void {
    this.audiences.inc({ mode, outcome });
    if (scanSeconds !== undefined) observe(this.audienceScan, scanSeconds);
    if (scored !== undefined) observe(this.audienceUsers, scored);
  }

  /** A coalesced engine call of `size` requests. */
  batch(size: number, engineSeconds: number): void {
    observe(this.batchSize, size);
    if (engineSeconds > 0) observe(this.engineTime, engineSeconds);
  }

  queueWait(seconds: number): void {
    observe(this.queueWaitTime, seconds);
  }

  observeRequest(route: string, status: number, seconds: number): void {
    observe(this.latency, seconds, { route });
    this.requests.inc({ route, status: String(status) });
  }

  countError(code: string): void {
    this.errors.inc({ code });
  }

  observeCandidates(n: number): void {
    observe(this.candidates, n);
  }

  /** The content type of `render`'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text: the runtime's metrics, then the service's with what it serves now. */
  async render(engine: RalmEngine, seeds: SeedService, audience?: AudienceFigures): Promise<string> {
    const r = this.read;
    const s = engine.stats;
    set(r.batches, s.batches);
    set(r.candidates, s.candidates);
    set(r.cpuFallbacks, s.cpuFallbacks);
    set(r.deviceLosses, s.deviceLosses);
    set(r.deviceRecoveries, s.deviceRecoveries);
    set(r.gpuErrors, engine.gpuErrorCount);
    r.gpuMemory.set(engine.gpuMemoryBytes);
    r.backend.reset();
    r.backend.set({ backend: engine.backendKind, adapter: engine.adapterName }, 1);
    r.items.set(engine.table.size);
    const m = seeds.metrics;
    set(r.ingested, m.eventsIngested);
    set(r.duplicate, m.eventsDuplicate);
    set(r.unknownUser, m.eventsUnknownUser);
    set(r.runs, m.runs);
    set(r.clustered, m.itemsClustered);
    set(r.failures, m.failures);
    r.lastRun.reset();
    if (m.lastRun) r.lastRun.set(m.lastRun.durationMs / 1000);
    r.tableUsers.reset();
    r.jobs.reset();
    if (audience) {
      r.tableUsers.set(audience.users);
      r.jobs.set({ state: 'queued' }, audience.jobsQueued);
      r.jobs.set({ state: 'running' }, audience.jobsRunning);
    }
    return (await runtimeMetrics().metrics()) + (await this.registry.metrics());
  }

  private counter(name: string, help: string, labelNames: string[] = []): Counter {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge(name: string, help: string, labelNames: string[] = []): Gauge {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  private histogram(name: string, help: string, buckets: number[], labelNames: string[] = []): Histogram {
    return new Histogram({ name, help, buckets, labelNames, registers: [this.registry] });
  }
}

function observe(h: Histogram, v: number, labels?: Record<string, string>): void {
  if (!Number.isFinite(v)) return;
  if (labels) h.observe(labels, v);
  else h.observe(v);
}

/** A counter owned elsewhere, shown at its current value. */
function set(c: Counter, v: number): void {
  c.reset();
  if (Number.isFinite(v) && v > 0) c.inc(v);
}

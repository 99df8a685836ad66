/** Prometheus text exposition of the service's counters and histograms. */
import type { RalmEngine } from '../engine/engine.js';
import type { SeedService } from '../seeds/seed-service.js';

export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: number[]) {
    this.counts = new Array(buckets.length).fill(0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) this.counts[i]++;
  }
  render(name: string, labels = ''): string[] {
    const l = (extra: string): string => `{${[labels, extra].filter(Boolean).join(',')}}`;
    return [
      ...this.buckets.map((b, i) => `${name}_bucket${l(`le="${b}"`)} ${this.counts[i]}`),
      `${name}_bucket${l('le="+Inf"')} ${this.count}`,
      `${name}_sum${labels ? `{${labels}}` : ''} ${this.sum}`,
      `${name}_count${labels ? `{${labels}}` : ''} ${this.count}`,
    ];
  }
}

export class Metrics {
  private readonly latency = new Map<string, Histogram>();
  private readonly requests = new Map<string, number>();
  private readonly errors = new Map<string, number>();
  private readonly candidates = new Histogram([10, 100, 1000, 10_000, 100_000, 1_000_000]);
  readonly batchSize = new Histogram([1, 2, 4, 8, 16, 32, 64, 128]);
  private readonly engineTime = new Histogram([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]);
  private readonly queueWaitHist = new Histogram([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1]);
  private readonly audienceScan = new Histogram([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  private readonly audienceUsers = new Histogram([1000, 10_000, 100_000, 1_000_000, 10_000_000]);
  private readonly audiences = new Map<string, number>();

  /** An audience run ended: how (`mode` sync or job; `outcome` done, failed or cancelled), its scan time and users scored. */
  audience(mode: 'sync' | 'job', outcome: 'done' | 'failed' | 'cancelled', scanSeconds?: number, scored?: number): void {
    const key = `mode="${mode}",outcome="${outcome}"`;
    this.audiences.set(key, (this.audiences.get(key) ?? 0) + 1);
    if (scanSeconds !== undefined) this.audienceScan.observe(scanSeconds);
    if (scored !== undefined) this.audienceUsers.observe(scored);
  }

  /** A coalesced engine call of `size` requests. */
  batch(size: number, engineSeconds: number): void {
    this.batchSize.observe(size);
    if (engineSeconds > 0) this.engineTime.observe(engineSeconds);
  }

  queueWait(seconds: number): void {
    this.queueWaitHist.observe(seconds);
  }

  observeRequest(route: string, status: number, seconds: number): void {
    let h = this.latency.get(route);
    if (!h) this.latency.set(route, (h = new Histogram([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5])));
    h.observe(seconds);
    const key = `route="${route}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  countError(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  observeCandidates(n: number): void {
    this.candidates.observe(n);
  }

  render(engine: RalmEngine, seeds: SeedService, audience?: { users: number; jobsQueued: number; jobsRunning: number }): string {
    const lines: string[] = [];
    const help = (name: string, type: string, text: string): void => void lines.push(`# HELP ${name} ${text}`, `# TYPE ${name} ${type}`);
    help('ralm_http_request_duration_seconds', 'histogram', 'End-to-end request latency by route.');
    for (const [route, h] of this.latency) lines.push(...h.render('ralm_http_request_duration_seconds', `route="${route}"`));
    help('ralm_http_requests_total', 'counter', 'Requests by route and status.');
    for (const [k, v] of this.requests) lines.push(`ralm_http_requests_total{${k}} ${v}`);
    help('ralm_errors_total', 'counter', 'Errors by code.');
    for (const [k, v] of this.errors) lines.push(`ralm_errors_total{code="${k}"} ${v}`);
    help('ralm_candidates_per_request', 'histogram', 'Candidates scored per recommend request.');
    lines.push(...this.candidates.render('ralm_candidates_per_request'));
    help('ralm_batch_size', 'histogram', 'Recommend requests coalesced per engine call.');
    lines.push(...this.batchSize.render('ralm_batch_size'));
    help('ralm_engine_batch_seconds', 'histogram', 'Engine (kernel) time per coalesced batch, with upload and readback.');
    lines.push(...this.engineTime.render('ralm_engine_batch_seconds'));
    help('ralm_queue_wait_seconds', 'histogram', 'Time a recommend request waited to be batched.');
    lines.push(...this.queueWaitHist.render('ralm_queue_wait_seconds'));
    const s = engine.stats;
    const counter = (name: string, text: string, v: number): void => {
      help(name, 'counter', text);
      lines.push(`${name} ${v}`);
    };
    counter('ralm_engine_batches_total', 'Engine batches (one backend call each).', s.batches);
    counter('ralm_engine_candidates_total', 'Candidates scored.', s.candidates);
    counter('ralm_cpu_fallbacks_total', 'Operations re-run on the CPU after a device loss.', s.cpuFallbacks);
    counter('ralm_device_losses_total', 'WebGPU device losses.', s.deviceLosses);
    counter('ralm_device_recoveries_total', 'WebGPU devices reacquired.', s.deviceRecoveries);
    help('ralm_backend_info', 'gauge', 'The backend serving requests (1 for the current one).');
    lines.push(`ralm_backend_info{backend="${engine.backendKind}",adapter="${engine.adapterName.replace(/"/g, "'")}"} 1`);
    help('ralm_items_servable', 'gauge', 'Items in the engine table.');
    lines.push(`ralm_items_servable ${engine.table.size}`);
    const m = seeds.metrics;
    counter('ralm_events_ingested_total', 'Click events stored.', m.eventsIngested);
    counter('ralm_events_duplicate_total', 'Click events already seen (by id).', m.eventsDuplicate);
    counter('ralm_events_unknown_user_total', 'Stored events whose user has no embedding yet.', m.eventsUnknownUser);
    counter('ralm_recluster_runs_total', 'Re-clustering runs.', m.runs);
    counter('ralm_recluster_items_total', 'Items re-clustered and published.', m.itemsClustered);
    counter('ralm_recluster_failures_total', 'Items whose re-clustering failed.', m.failures);
    if (m.lastRun) {
      help('ralm_recluster_last_run_seconds', 'gauge', 'Duration of the last re-clustering run.');
      lines.push(`ralm_recluster_last_run_seconds ${m.lastRun.durationMs / 1000}`);
    }
    help('ralm_audiences_total', 'counter', 'Audience expansions by mode (sync, job) and outcome (done, failed, cancelled).');
    for (const [k, v] of this.audiences) lines.push(`ralm_audiences_total{${k}} ${v}`);
    help('ralm_audience_scan_seconds', 'histogram', 'Time to score the users of one audience request (the scan, without clustering).');
    lines.push(...this.audienceScan.render('ralm_audience_scan_seconds'));
    help('ralm_audience_users_scored', 'histogram', 'Users scored per audience request.');
    lines.push(...this.audienceUsers.render('ralm_audience_users_scored'));
    if (audience) {
      help('ralm_audience_user_table_users', 'gauge', 'Users in the audience user table.');
      lines.push(`ralm_audience_user_table_users ${audience.users}`);
      help('ralm_audience_jobs', 'gauge', 'Audience jobs waiting and running.');
      lines.push(`ralm_audience_jobs{state="queued"} ${audience.jobsQueued}`, `ralm_audience_jobs{state="running"} ${audience.jobsRunning}`);
    }
    return lines.join('\n') + '\n';
  }
}

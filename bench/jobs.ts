/**
 * The long-work case of `ralm bench http`: with U users in the service's user table, the work that
 * used to hold the event loop for seconds — an audience job over every user (selection, merge,
 * storing), reading it back as a page of 100,000 and as the whole NDJSON stream, an ingest of
 * 100,000 events in one request, a synchronous audience over a pool of 150,000 — one after the
 * other, while a prober in its own process asks /healthz every 20 ms. Reported: each phase's
 * duration and the probes' latency during it.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { ProbeReport } from './health-probe.js';
import { startProber, spread, type Spread } from './overload.js';

export interface JobsPhase {
  phase: 'audience-job' | 'page-100k' | 'ndjson' | 'ingest-100k' | 'sync-audience-pool-150k';
  seconds: number;
  /** What the phase moved: users listed, bytes streamed, events accepted. */
  size: number;
  healthz: Spread & { failed: number };
}

export interface JobsRun {
  users: number;
  phases: JobsPhase[];
}

function call(url: string, method: string, body?: unknown): Promise<{ status: number; bytes: number; json: () => Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const target = new URL(url);
    const req = http.request({ host: target.hostname, port: target.port, path: target.pathname + target.search, method, agent: false, headers: payload ? { 'content-type': 'application/json', 'content-length': payload.byteLength } : {} }, (res) => {
      let bytes = 0;
      const head: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes <= 1 << 16) head.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, json: () => JSON.parse(Buffer.concat(head).toString()) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Runs the phases against `base` (the service with `users` users named u0, u1, …). */
export async function jobsRun(base: string, users: number): Promise<JobsRun> {
  const stopProber = await startProber(`${base}/healthz`);
  const marks: Array<{ phase: JobsPhase['phase']; from: number; to: number; size: number }> = [];
  const phase = async (name: JobsPhase['phase'], work: () => Promise<number>): Promise<void> => {
    const from = Date.now();
    const t0 = performance.now();
    const size = await work();
    marks.push({ phase: name, from, to: from + (performance.now() - t0), size });
  };
  let id = '';
  await phase('audience-job', async () => {
    const r = await call(`${base}/v1/audiences`, 'POST', { seeds: ['u1', 'u2', 'u3'], size: users, async: true });
    if (r.status !== 202) throw new Error(`audience job: ${r.status}`);
    id = String(r.json().id);
    for (;;) {
      const j = (await call(`${base}/v1/audiences/${id}`, 'GET')).json();
      if (j.status === 'done') return Number((j.summary as { size: number }).size);
      if (j.status !== 'queued' && j.status !== 'running') throw new Error(`audience job ${id}: ${String(j.status)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  await phase('page-100k', async () => (await call(`${base}/v1/audiences/${id}/users?offset=${Math.floor(users / 2)}&limit=100000`, 'GET')).bytes);
  await phase('ndjson', async () => (await call(`${base}/v1/audiences/${id}/users?format=ndjson`, 'GET')).bytes);
  await phase('ingest-100k', async () => {
    const events = Array.from({ length: 100_000 }, (_, i) => ({ user: `u${i % users}`, item: `item-${i % 5000}`, ts: 1_767_225_600_000 + i, id: `e${i}` }));
    const r = await call(`${base}/v1/events`, 'POST', { events });
    if (r.status !== 200) throw new Error(`ingest: ${r.status}`);
    return Number(r.json().accepted);
  });
  await phase('sync-audience-pool-150k', async () => {
    const pool = Array.from({ length: Math.min(150_000, users) }, (_, i) => `u${i}`);
    const r = await call(`${base}/v1/audiences`, 'POST', { seeds: ['u1', 'u2'], size: Math.min(100_000, pool.length - 2), pool });
    if (r.status !== 200) throw new Error(`sync audience: ${r.status}`);
    return r.bytes;
  });
  const probes: ProbeReport = await stopProber();
  return {
    users,
    phases: marks.map((m) => {
      const during = probes.at.map((at, i) => ({ at, ms: probes.ms[i], ok: probes.ok[i] })).filter((p) => p.at + p.ms >= m.from && p.at <= m.to);
      return { phase: m.phase, seconds: (m.to - m.from) / 1000, size: m.size, healthz: { ...spread(during.map((p) => p.ms)), failed: during.filter((p) => !p.ok).length } };
    }),
  };
}

export function formatJobs(r: JobsRun): string[] {
  return r.phases.map((p) => `jobs, ${r.users} users: ${p.phase.padEnd(24)} ${p.seconds.toFixed(2).padStart(6)} s  healthz p50 ${p.healthz.p50.toFixed(1)} p99 ${p.healthz.p99.toFixed(1)} max ${p.healthz.max.toFixed(1)} ms (${p.healthz.count} probes${p.healthz.failed > 0 ? `, ${p.healthz.failed} failed` : ''})`);
}

/**
 * The overload case of `ralm bench http`: open-loop demand at a multiple of the measured maximum
 * throughput (request i sent at start + i/rate, whatever became of the earlier ones), so that the
 * excess has to be refused. Reported: accepted requests' latency against the service's deadline,
 * the share refused and how fast (the latency of refusals), each answer's status and code, and the
 * latency of /healthz from a prober in its own process during the run. Latency runs from each
 * request's scheduled time, so a generator that falls behind (it shares the machine) shows as
 * latency too, and its lag is reported beside; so does a wait for one of its connections.
 */
import { fork } from 'node:child_process';
import { unpack } from 'msgpackr';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { ProbeReport } from './health-probe.js';
import type { Encoding, GovernorSample, PreparedCase } from './http-server.js';
import { quantile } from './stats.js';

export interface Spread {
  p50: number;
  p99: number;
  max: number;
  count: number;
}

export interface OverloadRun {
  n: number;
  encoding: Encoding;
  /** Offered rate as a multiple of the measured maximum (a fixed rate gives its own multiple). */
  factor: number;
  /** The maximum throughput it multiplies (the closed-loop run of the same case), requests/s. */
  capacityPerSec: number;
  offeredPerSec: number;
  durationSec: number;
  /** The service's deadline for these requests, ms. */
  deadlineMs: number;
  sent: number;
  acceptedPerSec: number;
  /** Answered 200: latency from the scheduled send. */
  accepted: Spread;
  /** Answered with a refusal (429, 503, 504): latency from the scheduled send. */
  refused: Spread;
  /** The same two for requests scheduled after the first second: the steady state, past the onset. */
  steady: { accepted: Spread; refused: Spread };
  refusedShare: number;
  /** Answers by `status code (reason)`, e.g. `429 RALM_ERR_OVERLOADED (wait)`. */
  answers: Record<string, number>;
  /** Requests with no answer: socket errors, or none within 10 s after the last send. */
  unanswered: number;
  /** How far behind its schedule the generator sent, ms. */
  sendLagMs: { p99: number; max: number };
  healthz: Spread & { failed: number };
  /** The server's admission every 50 ms of the run (absent in results written before it was recorded). */
  governor?: GovernorSample[];
  /** The server's processor time over the run and its drain, ms: every thread, and the event loop's (Linux). */
  serverCpuMs?: number;
  mainCpuMs?: number;
}

export function spread(ms: number[]): Spread {
  const s = [...ms].sort((a, b) => a - b);
  return { p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s[s.length - 1] ?? NaN, count: s.length };
}

/** Starts a /healthz prober in its own process; the function returned stops it and gives its report. */
export async function startProber(url: string): Promise<() => Promise<ProbeReport>> {
  const child = fork(fileURLToPath(new URL('./health-probe.js', import.meta.url)), [url, '20'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((r) => child.once('message', r));
  return () => new Promise((resolve) => {
    child.once('message', (m: ProbeReport) => resolve(m));
    child.send({ type: 'stop' });
  });
}

/**
 * Kept-alive connections the generator sends on, opened before the run, as a load balancer's
 * pool to its upstream would be. Unbounded, a generator opens a connection per request once
 * answers slow down, overflows the listen backlog, and measures SYN retransmits (1 s, 3 s, …)
 * instead of the service.
 */
export const OVERLOAD_CONNECTIONS = 512;

interface Sent {
  scheduled: number;
  done: (status: number, body: Buffer) => void;
}

/**
 * The generator's side: prebuilt HTTP/1.1 requests written on raw sockets, one in flight per
 * connection, answers read by Content-Length. Node's http client costs ~100 µs a request, which
 * on a shared 2-core machine would take the CPU the server is being measured on.
 */
class RawPool {
  private readonly free: Conn[] = [];
  private readonly waiting: Array<{ request: Buffer; sent: Sent }> = [];

  static async open(target: URL, connections: number): Promise<RawPool> {
    const pool = new RawPool();
    for (let i = 0; i < connections; i += 64) {
      const batch = Array.from({ length: Math.min(64, connections - i) }, () => Conn.open(target, pool));
      pool.free.push(...(await Promise.all(batch)));
    }
    return pool;
  }

  send(request: Buffer, sent: Sent): void {
    const c = this.free.pop();
    if (c) c.send(request, sent);
    else this.waiting.push({ request, sent });
  }

  /** A connection finished its request. */
  release(c: Conn): void {
    const next = this.waiting.shift();
    if (next) c.send(next.request, next.sent);
    else this.free.push(c);
  }

  close(): void {
    for (const c of this.free) c.socket.destroy();
  }
}

class Conn {
  private pending: Buffer = Buffer.alloc(0);
  private current: Sent | null = null;

  private constructor(readonly socket: net.Socket, private readonly pool: RawPool) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.read(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.current?.done(0, Buffer.alloc(0));
      this.current = null;
    });
  }

  static open(target: URL, pool: RawPool): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(Number(target.port), target.hostname, () => resolve(new Conn(s, pool)));
      s.once('error', reject);
    });
  }

  send(request: Buffer, sent: Sent): void {
    this.current = sent;
    this.socket.write(request);
  }

  private read(d: Buffer): void {
    this.pending = this.pending.length === 0 ? d : Buffer.concat([this.pending, d]);
    const headEnd = this.pending.indexOf('\r\n\r\n');
    if (headEnd < 0 || !this.current) return;
    const head = this.pending.subarray(0, headEnd).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.pending.length < headEnd + 4 + length) return;
    const status = Number(head.slice(9, 12));
    const body = this.pending.subarray(headEnd + 4, headEnd + 4 + length);
    this.pending = this.pending.subarray(headEnd + 4 + length);
    const done = this.current;
    this.current = null;
    done.done(status, body);
    this.pool.release(this);
  }
}

/** Open-loop load at `offeredPerSec` on `url` (a /v1/recommend), /healthz probed at `healthUrl`; `capacityPerSec` is the case's measured maximum. */
export async function overloadRun(url: string, healthUrl: string, c: PreparedCase, capacityPerSec: number, offeredPerSec: number, durationSec: number, deadlineMs: number): Promise<OverloadRun> {
  const rate = Math.max(1, Math.round(offeredPerSec));
  const factor = rate / Math.max(1e-9, capacityPerSec);
  const target = new URL(url);
  const headers = Object.entries({ ...c.headers, accept: c.headers.accept ?? 'application/json' }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const requests = c.bodies.map((b) => Buffer.concat([Buffer.from(`POST ${target.pathname} HTTP/1.1\r\nhost: ${target.host}\r\n${headers}content-length: ${b.byteLength}\r\n\r\n`), b]));
  const pool = await RawPool.open(target, OVERLOAD_CONNECTIONS);
  const stopProber = await startProber(healthUrl);
  const total = Math.max(1, Math.round(rate * durationSec));
  const accepted: number[] = [];
  const refused: number[] = [];
  const steady = { accepted: [] as number[], refused: [] as number[] };
  const lags: number[] = [];
  const answers: Record<string, number> = {};
  let unanswered = 0;
  let answered = 0;
  let allAnswered: () => void = () => undefined;
  const finished = new Promise<void>((r) => (allAnswered = r));
  let start = performance.now();
  const done = (scheduled: number) => (status: number, body: Buffer): void => {
    const ms = performance.now() - scheduled;
    const late = scheduled - start >= 1000;
    if (status === 0) unanswered++;
    else if (status === 200) {
      accepted.push(ms);
      if (late) steady.accepted.push(ms);
    } else {
      refused.push(ms);
      if (late) steady.refused.push(ms);
      const key = `${status} ${answerCode(body, c.encoding)}`;
      answers[key] = (answers[key] ?? 0) + 1;
    }
    if (status === 200) answers['200'] = (answers['200'] ?? 0) + 1;
    if (++answered === total) allAnswered();
  };
  start = performance.now();
  for (let i = 0; i < total; i++) {
    const at = start + (i * 1000) / rate;
    const wait = at - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    lags.push(performance.now() - at);
    pool.send(requests[i % requests.length], { scheduled: at, done: done(at) });
  }
  await Promise.race([finished, new Promise((r) => setTimeout(r, 10_000).unref())]);
  const elapsed = (performance.now() - start) / 1000;
  unanswered += total - answered;
  pool.close();
  const probes = await stopProber();
  const lagSorted = [...lags].sort((a, b) => a - b);
  return {
    n: c.n, encoding: c.encoding, factor, capacityPerSec, offeredPerSec: rate, durationSec, deadlineMs, sent: total,
    acceptedPerSec: accepted.length / elapsed, accepted: spread(accepted), refused: spread(refused), refusedShare: refused.length / total,
    steady: { accepted: spread(steady.accepted), refused: spread(steady.refused) },
    answers, unanswered, sendLagMs: { p99: quantile(lagSorted, 0.99), max: lagSorted[lagSorted.length - 1] ?? NaN },
    healthz: { ...spread(probes.ms), failed: probes.failed },
  };
}

/** A refusal's code and reason (`RALM_ERR_OVERLOADED (wait)`), from its body in the case's encoding. */
function answerCode(body: Buffer, encoding: Encoding): string {
  let error: { code?: string; details?: { reason?: string } } | undefined;
  try {
    error = ((encoding === 'msgpack' ? unpack(body) : JSON.parse(body.toString())) as { error?: typeof error }).error;
  } catch {
    error = undefined;
  }
  if (!error?.code) return '(uncoded)';
  return error.details?.reason ? `${error.code} (${error.details.reason})` : error.code;
}

export function formatOverload(r: OverloadRun): string {
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(x < 10 ? 1 : 0) : '–');
  return [
    `overload ${r.factor.toFixed(1)}×`.padEnd(14), `N=${String(r.n).padStart(6)}`, r.encoding.padEnd(7), `${r.offeredPerSec}/s offered`.padStart(16),
    `accepted ${r.acceptedPerSec.toFixed(0)}/s p50 ${f(r.accepted.p50)} p99 ${f(r.accepted.p99)} ms (deadline ${r.deadlineMs})`,
    `refused ${(100 * r.refusedShare).toFixed(0)}% p99 ${f(r.refused.p99)} ms`,
    `after 1 s: p99 ${f(r.steady.accepted.p99)} / ${f(r.steady.refused.p99)} ms`,
    `healthz p99 ${f(r.healthz.p99)} max ${f(r.healthz.max)} ms`,
    r.unanswered > 0 ? `(${r.unanswered} unanswered)` : '',
    `send lag p99 ${f(r.sendLagMs.p99)} ms`,
    governorSummary(r),
  ].join('  ');
}

/** After the first second: the governor's lag (p50 / p90 / max), its allowed wait and the demand (medians), and the event loop's busy share. */
function governorSummary(r: OverloadRun): string {
  const late = (r.governor ?? []).filter((g) => g.atMs >= 1000);
  if (late.length === 0) return '';
  const med = (xs: number[]): number => quantile([...xs].sort((a, b) => a - b), 0.5);
  const lag = late.map((g) => g.lagMs).sort((a, b) => a - b);
  const loop = r.mainCpuMs !== undefined ? `, event loop busy ${(r.mainCpuMs / (10 * r.durationSec)).toFixed(0)}%` : '';
  return `lag p50 ${quantile(lag, 0.5).toFixed(0)} p90 ${quantile(lag, 0.9).toFixed(0)} max ${lag[lag.length - 1].toFixed(0)} ms, allowed ${med(late.map((g) => g.allowedMs)).toFixed(0)} ms, in flight ${med(late.map((g) => g.inflight)).toFixed(0)}${loop}`;
}

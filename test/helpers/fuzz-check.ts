/**
 * The HTTP fuzzer's send and judge: each case goes to a real server over a keep-alive socket, and
 * its answer is held to what the API promises — no 5xx from anything a client sends, every error
 * in the coded shape (`RALM_ERR_*`, the status its code has, a message that says where and what
 * was expected, the request id), every success well-formed and finite (no null or NaN score).
 */
import http from 'node:http';
import { Unpackr } from 'msgpackr';
import { STATUS, type ServiceErrorCode } from '../../src/server/errors.js';
import type { FuzzCase } from './fuzz-requests.js';

const unpackr = new Unpackr({ useRecords: false, moreTypes: true });

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request; a socket error or a timeout is an answer with status 0. */
export function send(url: URL, agent: http.Agent, c: FuzzCase, timeoutMs = 30_000): Promise<Answer & { error?: string }> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { ...c.headers };
    if (c.body) headers['content-length'] = String(c.body.byteLength);
    const req = http.request({ agent, host: url.hostname, port: url.port, path: c.path, method: c.method, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', (e) => resolve({ status: 0, headers: {}, body: Buffer.alloc(0), error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, headers: {}, body: Buffer.alloc(0), error: e.code ?? e.message }));
    req.end(c.body);
  });
}

/** The reply's body as data, by its content type. */
function decode(a: Answer): unknown {
  const type = String(a.headers['content-type'] ?? '');
  if (type.startsWith('application/msgpack')) return unpackr.unpack(a.body);
  if (type.startsWith('application/json')) return JSON.parse(a.body.toString('utf8'));
  if (type.startsWith('application/x-ndjson')) return a.body.toString('utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown);
  throw new Error(`content-type ${JSON.stringify(type)} where data was expected`);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v);
const finite = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
const numbers = (v: unknown): number[] | undefined => (Array.isArray(v) ? (v as number[]) : ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : undefined);

function need(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

/** Every number anywhere in a reply is finite (MessagePack can carry NaN; JSON would say null). */
function allFinite(v: unknown, at = 'body'): void {
  if (typeof v === 'number') need(Number.isFinite(v), `${at} is ${v}`);
  else if (ArrayBuffer.isView(v)) Array.from(v as Float32Array).forEach((x, i) => need(Number.isFinite(x), `${at}[${i}] is ${x}`));
  else if (Array.isArray(v)) v.forEach((x, i) => allFinite(x, `${at}[${i}]`));
  else if (isObj(v)) for (const [k, x] of Object.entries(v)) allFinite(x, `${at}.${k}`);
}

/** A scored row: an id and finite score and cosines. */
function scoredRow(r: unknown, at: string): void {
  need(isObj(r) && typeof r.id === 'string', `${at}: not a row with an id`);
  for (const f of ['score', 'cosGlobal', 'cosLocal']) need(finite((r as Obj)[f]), `${at}.${f} is ${JSON.stringify((r as Obj)[f])}`);
}

/** What a success of each route must hold, beyond being finite. */
const SUCCESS: Record<string, (b: unknown, c: FuzzCase) => void> = {
  'POST /v1/recommend': (b) => {
    need(isObj(b) && Array.isArray(b.items) && Number.isInteger(b.candidates), 'not {items, candidates}');
    (b as { items: unknown[] }).items.forEach((r, i) => scoredRow(r, `items[${i}]`));
  },
  'POST /v1/score': (b) => {
    need(isObj(b) && Array.isArray(b.items), 'not {items, scores}');
    const o = b as Obj;
    for (const f of ['scores', 'cosGlobal', 'cosLocal']) {
      const v = numbers(o[f]);
      need(v !== undefined && v.length === (o.items as unknown[]).length, `${f}: not one number per item`);
      (v as number[]).forEach((x, i) => need(finite(x), `${f}[${i}] is ${JSON.stringify(x)}`));
    }
  },
  'POST /v1/events': (b) => need(isObj(b) && Number.isInteger(b.accepted) && Number.isInteger(b.duplicates), 'not {accepted, duplicates}'),
  'PUT /v1/users/:id': (b) => need(isObj(b) && b.stored === true && typeof b.id === 'string', 'not {id, stored: true}'),
  'GET /v1/users/:id': (b) => {
    need(isObj(b) && typeof b.id === 'string', 'not a user');
    const u = numbers((b as Obj).universal);
    need(u !== undefined && u.length > 0 && u.every(finite), 'universal: not a finite vector');
  },
  'PUT /v1/items/:id': (b) => need(isObj(b) && typeof b.id === 'string' && Number.isInteger(b.seedCount), 'not {id, seedCount}'),
  'GET /v1/items/:id': (b) => need(isObj(b) && typeof b.id === 'string' && ['waiting-for-seeds', 'cold', 'servable'].includes(b.state as string), 'not an item with a state'),
  'POST /v1/audiences': (b) => {
    need(isObj(b), 'not an object');
    const o = b as Obj;
    if (Array.isArray(o.users)) o.users.forEach((r, i) => scoredRow(r, `users[${i}]`));
    else need(typeof o.id === 'string' && typeof o.status === 'string', 'neither users nor a job');
  },
  'GET /v1/audiences/:id': (b) => need(isObj(b) && typeof b.id === 'string' && typeof b.status === 'string', 'not a job'),
  'GET /v1/audiences/:id/users': (b) => {
    if (Array.isArray(b)) b.forEach((r, i) => scoredRow(r, `line ${i + 1}`));
    else {
      need(isObj(b) && Array.isArray(b.users) && Number.isInteger(b.total), 'not a page {total, users}');
      (b as { users: unknown[] }).users.forEach((r, i) => scoredRow(r, `users[${i}]`));
    }
  },
  'DELETE /v1/audiences/:id': (b) => need(isObj(b) && typeof b.action === 'string', 'not {id, action, status}'),
  'POST /v1/admin/recluster': (b) => need(isObj(b), 'not an object'),
  'POST /v1/admin/model': (b) => need(isObj(b) && typeof b.modelVersion === 'string' && Number.isInteger(b.items), 'not {modelVersion, items}'),
  'GET /healthz': (b) => need(isObj(b) && b.status === 'ok', 'not {status: ok}'),
  'GET /readyz': (b) => need(isObj(b) && b.ready === true, 'not ready'),
};

/** Codes whose message names a field or part of the request and what was expected there. */
const CLIENT_FIELD_CODES = new Set(['RALM_ERR_VALIDATION', 'RALM_ERR_NON_FINITE', 'RALM_ERR_DIMENSION', 'RALM_ERR_MALFORMED_BODY', 'RALM_ERR_UNSUPPORTED_MEDIA_TYPE', 'RALM_ERR_BODY_TOO_LARGE']);

/**
 * A deadline the client set itself (x-ralm-deadline-ms) this short may pass before the work is
 * done, and the documented answer is then 504: the client's own choice, counted apart, not a fault.
 * A 504 on any longer deadline is one.
 */
export const TIGHT_DEADLINE_MS = 50;

function askedDeadline(c: FuzzCase): number {
  const asked = Number(c.headers['x-ralm-deadline-ms']);
  return asked > 0 ? asked : Infinity;
}

export type Verdict = 'ok' | '5xx' | 'uncoded' | 'malformed' | 'no answer';

/** Judges one answer: 'ok', or what is wrong and why. */
export function judge(c: FuzzCase, a: Answer & { error?: string }): { verdict: Verdict; why?: string; code?: string } {
  if (a.status === 0) return { verdict: 'no answer', why: a.error };
  const head = c.method === 'HEAD';
  if (a.status >= 400) {
    let code: string | undefined;
    try {
      if (head) return a.status >= 500 ? { verdict: '5xx', why: `HEAD answered ${a.status}` } : { verdict: 'ok' };
      const b = decode(a);
      need(isObj(b) && isObj(b.error), 'not {error: {…}}');
      const e = (b as { error: Obj }).error;
      code = typeof e.code === 'string' ? e.code : undefined;
      need(code !== undefined && /^RALM_ERR_[A-Z_]+$/.test(code), `code ${JSON.stringify(e.code)}`);
      need(STATUS[code as ServiceErrorCode] === a.status, `${code} with status ${a.status}, the table says ${STATUS[code as ServiceErrorCode]}`);
      need(typeof e.message === 'string' && e.message.length > 0, 'no message');
      // What Node's HTTP server answers before any request is routed has no request id, and says so by having none.
      const unrouted = c.wire !== undefined && a.headers['x-request-id'] === undefined && e.requestId === undefined;
      need(unrouted || (typeof e.requestId === 'string' && e.requestId === a.headers['x-request-id']), 'requestId is not the x-request-id header');
      if (CLIENT_FIELD_CODES.has(code as string)) need(/^\S.*?: \S/s.test(e.message as string), `message ${JSON.stringify(e.message)} names no field`);
    } catch (err) {
      return { verdict: 'uncoded', why: `${a.status}: ${(err as Error).message}; body ${a.body.toString('utf8').slice(0, 200)}`, code };
    }
    if (code === 'RALM_ERR_DEADLINE_EXCEEDED' && askedDeadline(c) < TIGHT_DEADLINE_MS) return { verdict: 'ok', code: `${code} (asked under ${TIGHT_DEADLINE_MS} ms)` };
    return a.status >= 500 ? { verdict: '5xx', why: `${a.status} ${code}: ${a.body.toString('utf8').slice(0, 300)}`, code } : { verdict: 'ok', code };
  }
  if (head || c.route === 'stray') return { verdict: 'ok' };
  try {
    if (c.route === 'GET /metrics') return need(a.body.length > 0 && !/\bNaN\b/.test(a.body.toString()), 'empty, or a NaN sample'), { verdict: 'ok' };
    if (c.route === 'GET /docs') return { verdict: 'ok' };
    const b = decode(a);
    allFinite(b);
    SUCCESS[c.route]?.(b, c);
  } catch (err) {
    return { verdict: 'malformed', why: `${a.status}: ${(err as Error).message}; body ${a.body.toString('utf8').slice(0, 300)}` };
  }
  return { verdict: 'ok' };
}

/** Counts over a run, and the first few failures in full. */
export class FuzzTally {
  cases = 0;
  readonly statuses = new Map<number, number>();
  readonly codes = new Map<string, number>();
  readonly verdicts = new Map<Verdict, number>();
  readonly byKind = new Map<string, number>();
  readonly routes = new Map<string, number>();
  /** 2xx answers per route: the cases that got past every check into the service's work. */
  readonly successes = new Map<string, number>();
  readonly failures: string[] = [];

  add(c: FuzzCase, a: Answer & { error?: string }, label: string): void {
    const j = judge(c, a);
    this.cases++;
    const bump = <K>(m: Map<K, number>, k: K): void => void m.set(k, (m.get(k) ?? 0) + 1);
    bump(this.statuses, a.status);
    bump(this.verdicts, j.verdict);
    bump(this.byKind, `${c.encoding}/${c.kind}`);
    bump(this.routes, c.route);
    if (a.status >= 200 && a.status < 300) bump(this.successes, c.route);
    if (j.code) bump(this.codes, j.code);
    if (j.verdict !== 'ok' && this.failures.length < 20) {
      const value = c.value === undefined ? '' : ` value ${describe(c.value)}`;
      this.failures.push(`[${label}] ${j.verdict}: ${c.method} ${c.path.slice(0, 200)} (${c.route}, ${c.encoding}/${c.kind}) headers ${JSON.stringify(c.headers).slice(0, 300)}${value} → ${j.why}`);
    }
  }

  count(v: Verdict): number {
    return this.verdicts.get(v) ?? 0;
  }

  get bad(): number {
    return this.cases - this.count('ok');
  }

  summary(): string {
    const sorted = <K>(m: Map<K, number>, top = 30): string => {
      const all = [...m].sort((a, b) => b[1] - a[1]);
      const rest = all.slice(top).reduce((n, [, c]) => n + c, 0);
      return all.slice(0, top).map(([k, n]) => `${String(k)} ${n}`).join(', ') + (rest > 0 ? `, ${all.length - top} others ${rest}` : '');
    };
    const asked = [...this.codes].filter(([k]) => k.includes('(asked')).reduce((n, [, c]) => n + c, 0);
    return [
      `cases ${this.cases}; 5xx ${this.count('5xx')}${asked > 0 ? ` (besides ${asked} 504s on deadlines the client set under ${TIGHT_DEADLINE_MS} ms)` : ''}; uncoded ${this.count('uncoded')}; malformed 2xx ${this.count('malformed')}; no answer ${this.count('no answer')}`,
      `statuses: ${[...this.statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s} ${n}`).join(', ')}`,
      `codes: ${sorted(this.codes)}`,
      `kinds: ${sorted(this.byKind)}`,
      `routes: ${sorted(this.routes)}`,
      `2xx by route: ${sorted(this.successes)}`,
    ].join('\n');
  }
}

/** A short, printable form of a case's body. */
function describe(v: unknown): string {
  try {
    const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : typeof x === 'number' && !Number.isFinite(x) ? String(x) : x instanceof Map ? `Map(${x.size})` : x));
    return s === undefined ? String(v) : s.length > 300 ? `${s.slice(0, 300)}…` : s;
  } catch {
    return String(v).slice(0, 300);
  }
}

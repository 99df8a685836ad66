/**
 * `ralm events import FILE`: a click log into a store — the embedded LMDB store directly
 * (`--data-dir`, a store no running service has open), a shared Valkey/Redis store (`--store`,
 * which running replicas share), or a running service over HTTP (`--url`),
 * in batches of `POST /v1/events`. Each batch is one durable write, the unit of progress and of
 * retry; every event carries an id, so a retried batch or a second import of the same file
 * stores each click once.
 */
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { RalmError } from '../../util/errors.js';
import { asDefault, int, oneOf, str, UsageError, type OptionTable } from '../../util/options.js';
import { defineCommand, type CommandGroup } from '../command.js';
import { emit } from '../output.js';
import { DATASET_OPTIONS, openCommandStore, STORE_OPTIONS, storeSpec } from '../shared-options.js';
import type { ClickEventRow } from '../../data/click-events.js';

/** Defaults of `ralm events import`: 5,000 events a request is about 0.5 MB of JSON, well under the service's body limit. */
export const EVENTS_IMPORT_DEFAULTS = { batch: 5000, retries: 5, timestamp: 'ms' } as const;

const d = EVENTS_IMPORT_DEFAULTS;

const OPTIONS = {
  dataDir: { ...STORE_OPTIONS.dataDir, help: 'the embedded store to write (no service may have it open)' },
  store: { ...STORE_OPTIONS.store, help: 'the store to write instead of --data-dir: lmdb:DIR, or a Valkey/Redis store running replicas share (redis://HOST:PORT[/DB], redis-cluster://HOST:PORT,…)' },
  storeDurability: STORE_OPTIONS.storeDurability,
  storeReplicas: STORE_OPTIONS.storeReplicas,
  url: { flag: 'url', arg: 'URL', help: 'send the events to this running service (POST /v1/events) instead of a store', parse: str() },
  token: { flag: 'token', arg: 'T', help: '--url: the bearer token to send', parse: str() },
  tokenFile: { flag: 'token-file', arg: 'FILE', help: '--url: read the bearer token from the first line of FILE (kept out of the process list)', parse: str() },
  batch: { flag: 'batch', arg: 'N', default: asDefault(d.batch), help: 'events per write (per request with --url)', parse: int(1, 100_000) },
  retries: { flag: 'retries', arg: 'N', default: asDefault(d.retries), help: '--url: tries per batch while the service is busy or unreachable', parse: int() },
  timestamp: { flag: 'timestamp', arg: 'ms|s|iso', defaultText: d.timestamp, help: 'a plain CSV: the unit of its ts column', parse: oneOf(['ms', 's', 'iso'] as const) },
  maxBadShare: DATASET_OPTIONS.maxBadShare,
  maxBadRows: DATASET_OPTIONS.maxBadRows,
} as const satisfies OptionTable;

interface Counts {
  accepted: number;
  duplicates: number;
  unknownUserEvents: number;
}

type Sender = (events: ClickEventRow[]) => Promise<Counts>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** POSTs batches to `<url>/v1/events`, retrying 429, 503 and connection failures with backoff (ids make a retry safe). */
function httpSender(base: string, token: string | undefined, tries: number): Sender {
  const url = `${base.replace(/\/+$/, '')}/v1/events`;
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) };
  return async (events) => {
    for (let attempt = 1; ; attempt++) {
      const wait = Math.min(5000, 200 * 2 ** (attempt - 1));
      let res: Response;
      try {
        res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ events }) });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        if (attempt < tries) {
          await sleep(wait);
          continue;
        }
        throw new RalmError('RALM_ERR_CLOSED', `POST ${url}: cannot reach the service (${cause?.code ?? cause?.message ?? (err as Error).message}) after ${attempt} tries`);
      }
      if (res.ok) return await res.json() as Counts;
      const text = await res.text();
      let what = text.slice(0, 300);
      try {
        const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
        if (e?.code) what = `${e.code}: ${e.message ?? ''}`;
      } catch {
        // Not JSON: the text itself says what went wrong.
      }
      if ((res.status === 429 || res.status === 503) && attempt < tries) {
        const after = Number(res.headers.get('retry-after'));
        await sleep(Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 30_000) : wait);
        continue;
      }
      const hint = res.status === 401 ? ' (give --token or --token-file)' : res.status === 413 ? ' (give a smaller --batch)' : '';
      throw new RalmError(res.status >= 500 ? 'RALM_ERR_CLOSED' : 'RALM_ERR_VALIDATION', `POST ${url}: ${res.status} ${what}${hint}`);
    }
  };
}

const importEvents = defineCommand({
  name: 'events import',
  usage: 'events import FILE [--data-dir DIR | --store SPEC | --url URL [--token T]] [options]',
  summary: 'Loads a click log into a store (embedded, or shared by replicas) or a running service, in idempotent batches.',
  notes: [
    'FILE is a schema file (its click log, read as the schema says) or a CSV/TSV (.gz) with the header user,item,ts[,id].',
    'Rows without an event id get one from (user, item, time), so importing a file twice stores each click once.',
    'Import in time order: each item keeps its latest seeds in arrival order.',
  ],
  options: OPTIONS,
  positionals: true,
  async run({ values: v, positionals, given }) {
    if (positionals.length !== 1) throw new UsageError('events import: give one click file (a schema file or a CSV/TSV)');
    if (v.url !== undefined && given.has('data-dir')) throw new UsageError('events import: give --data-dir or --url, not both');
    if (v.url !== undefined && v.store !== null) throw new UsageError('events import: give --store or --url, not both');
    if (v.url === undefined) storeSpec('events import', v, given);
    for (const flag of ['token', 'token-file', 'retries']) if (given.has(flag) && v.url === undefined) throw new UsageError(`events import: --${flag} applies with --url`);
    if (v.token !== undefined && v.tokenFile !== undefined) throw new UsageError('events import: give --token or --token-file, not both');
    const schemaFile = extname(positionals[0]).toLowerCase() === '.json';
    if (schemaFile && v.timestamp !== undefined) throw new UsageError('events import: --timestamp applies to a plain CSV; a schema file gives its own time unit');
    if (v.url !== undefined) {
      let u: URL;
      try {
        u = new URL(v.url);
      } catch {
        throw new UsageError(`events import: --url: expected an http:// or https:// URL, got ${JSON.stringify(v.url)}`);
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`events import: --url: expected an http:// or https:// URL, got ${JSON.stringify(v.url)}`);
    }
    const token = v.tokenFile !== undefined ? (await readFile(resolve(v.tokenFile), 'utf8')).split(/\r?\n/)[0].trim() : v.token;
    const { clickEventSource, readClickEvents } = await import('../../data/click-events.js');
    const { ReadReport, reportLines } = await import('../../data/report.js');
    const src = await clickEventSource(resolve(positionals[0]), v.timestamp);
    const report = new ReadReport({ maxBadShare: v.maxBadShare, maxBadRows: v.maxBadRows });
    let send: Sender;
    let close = async (): Promise<void> => undefined;
    if (v.url !== undefined) {
      send = httpSender(v.url, token, v.retries);
    } else {
      const store = await openCommandStore('events import', { ...v, dataDir: resolve(v.dataDir) }, given);
      send = (events) => store.ingest(events);
      close = () => store.close();
    }
    const totals: Counts = { accepted: 0, duplicates: 0, unknownUserEvents: 0 };
    let batches = 0;
    const t0 = performance.now();
    const progress = (): void => {
      if (!v.json) process.stderr.write(`\rimported ${totals.accepted + totals.duplicates} events: ${totals.accepted} accepted, ${totals.duplicates} duplicates; ${report.badRows} bad rows`);
    };
    let counts;
    try {
      counts = await readClickEvents(src, report, v.batch, async (events) => {
        const r = await send(events);
        totals.accepted += r.accepted;
        totals.duplicates += r.duplicates;
        totals.unknownUserEvents += r.unknownUserEvents;
        batches++;
        progress();
      });
      if (!v.json && batches > 0) process.stderr.write('\n');
      report.check();
    } catch (err) {
      if (!v.json && batches > 0) process.stderr.write('\n');
      if (err instanceof RalmError && totals.accepted + totals.duplicates > 0) {
        throw new RalmError(err.code, `${err.message}; ${totals.accepted} events were stored before this (rerunning after the fix is safe: event ids make the import idempotent)`, err.details);
      }
      throw err;
    } finally {
      await close();
    }
    const seconds = (performance.now() - t0) / 1000;
    const doc = {
      file: positionals[0], clickFile: src.path, target: v.url ?? v.store ?? resolve(v.dataDir), ...totals, ...counts, batches,
      seconds, eventsPerSecond: counts.events / Math.max(seconds, 1e-9), report: report.toJSON(),
    };
    const [read, ...warnings] = reportLines(doc.report);
    emit(v.json, doc, [
      `imported ${doc.events} events into ${doc.target} in ${seconds.toFixed(1)} s (${Math.round(doc.eventsPerSecond)} events/s, ${batches} batch${batches === 1 ? '' : 'es'}): ${doc.accepted} accepted, ${doc.duplicates} duplicates (already stored)${doc.unknownUserEvents ? `; ${doc.unknownUserEvents} from users the store does not know yet (kept; they count once the users are imported)` : ''}${doc.nonClicks ? `; ${doc.nonClicks} labelled non-clicks not sent` : ''}`,
      `  ${read}`, ...warnings.map((w) => `  ${w}`),
      ...(doc.outOfOrder ? [`  note: ${doc.outOfOrder} rows are earlier than a row before them; each item keeps its latest seeds in arrival order, so import logs in time order`] : []),
    ].join('\n'));
  },
});

export const command: CommandGroup = {
  kind: 'group', name: 'events', noun: 'subcommand',
  summary: 'Click events in the store.',
  subcommands: { import: importEvents },
};

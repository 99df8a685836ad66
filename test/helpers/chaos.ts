/**
 * What the chaos tests (test/server/chaos.test.ts) drive a real `ralm serve` with: a writer that
 * keeps posting click events and remembers which were acknowledged, and the unhandled-rejection
 * guard every server process of those tests runs under.
 */
import assert from 'node:assert/strict';
import { DEMO_TOPICS } from '../../src/server/demo.js';

/**
 * Node options that make an unhandled rejection a logged warning (and exit code 1) instead of a
 * crash: the process keeps running, so the test reads it in the log rather than guessing at an exit.
 */
export const REJECTION_GUARD = '--unhandled-rejections=warn-with-error-code';

/** The environment of a guarded server process. */
export function guardedEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { NODE_OPTIONS: [process.env.NODE_OPTIONS, REJECTION_GUARD].filter(Boolean).join(' '), ...extra };
}

/** What Node writes for an unhandled rejection under the guard. */
export const UNHANDLED = /UnhandledPromiseRejection|unhandled rejection|unhandledRejection/i;

export function assertNoUnhandledRejection(log: string, what: string): void {
  const line = log.split('\n').find((l) => UNHANDLED.test(l));
  assert.equal(line, undefined, `${what} logged an unhandled rejection:\n${log}`);
}

/** Demo users, all known to the store, so every event of theirs counts as a click. */
export const CHAOS_USERS = DEMO_TOPICS.flatMap((t) => Array.from({ length: 20 }, (_, i) => `demo-${t}-${i}`));

/** Events per batch: one batch is one item's clicks, from this many distinct users. */
export const BATCH_EVENTS = 20;

/** The item a batch clicks on; each batch has its own, so its click count tells whether it was stored, whole. */
export const batchItem = (round: number, writer: number, batch: number): string => `chaos-r${round}-w${writer}-b${batch}`;

export interface WriterResult {
  /** Batches the server answered 200 for: they must survive anything. */
  acked: string[];
  /** Batches sent and not answered (the kill came first): stored whole or not at all. */
  unanswered: string[];
  /** Batches refused with a coded status (e.g. 503 while closing): stored not at all. */
  refused: string[];
}

/** Posts batches of click events, one item each, until `stop` is set; never throws. */
export async function writer(url: URL, round: number, index: number, stop: { now: boolean }): Promise<WriterResult> {
  const r: WriterResult = { acked: [], unanswered: [], refused: [] };
  for (let b = 0; !stop.now; b++) {
    const item = batchItem(round, index, b);
    const ts = Date.now();
    const events = Array.from({ length: BATCH_EVENTS }, (_, k) => ({ user: CHAOS_USERS[(b * 7 + k) % CHAOS_USERS.length], item, ts: ts + k, id: `${item}-e${k}` }));
    try {
      const res = await fetch(new URL('/v1/events', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) });
      const body = (await res.json()) as { accepted?: number };
      if (res.status === 200) {
        assert.equal(body.accepted, BATCH_EVENTS, `batch ${item}: ${JSON.stringify(body)}`);
        r.acked.push(item);
      } else {
        r.refused.push(item);
      }
    } catch {
      r.unanswered.push(item);
      return r; // the server is gone
    }
  }
  return r;
}

/** An item's click count on a server: 0 when it does not exist. */
export async function clicksOf(url: URL, item: string): Promise<number> {
  const res = await fetch(new URL(`/v1/items/${encodeURIComponent(item)}`, url));
  if (res.status === 404) return 0;
  assert.equal(res.status, 200, `GET item ${item}: ${res.status}`);
  return ((await res.json()) as { clicks: number }).clicks;
}

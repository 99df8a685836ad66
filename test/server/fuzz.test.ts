/**
 * A property fuzzer over every route of the HTTP API, in JSON and MessagePack: the real service
 * (startService, as `ralm serve` runs it) on a loopback port over the demo world, with bearer
 * tokens configured, answers fast-check's requests (test/helpers/fuzz-requests.ts), each held to
 * the API's promises (test/helpers/fuzz-check.ts): no 5xx from client input, every error coded,
 * every success well-formed and finite — and no unhandled rejection in the process meanwhile.
 *
 * `npm test` runs a few thousand cases with a fixed seed; `npm run fuzz` runs 10,000 with a new
 * seed each time. RALM_FUZZ_CASES and RALM_FUZZ_SEED set either, RALM_FUZZ_BACKEND the backend
 * (cpu by default); the summary (cases, statuses,
 * codes, 5xx, uncoded) is printed, and a failing case names its seed and batch.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { loadConfig } from '../../src/server/config.js';
import { startService, type RunningService } from '../../src/server/server.js';
import { DEMO_TOPICS } from '../../src/server/demo.js';
import { defaultModelDir } from '../../src/util/paths.js';
import { fuzzCases, type FuzzWorld } from '../helpers/fuzz-requests.js';
import { FuzzTally, send } from '../helpers/fuzz-check.js';
import { sendWire, wireCases } from '../helpers/fuzz-wire.js';

const LONG_RUN = process.env.npm_lifecycle_event === 'fuzz';
const CASES = Number(process.env.RALM_FUZZ_CASES ?? (LONG_RUN ? 10_000 : 4_000));
const SEED = Number(process.env.RALM_FUZZ_SEED ?? (LONG_RUN ? Date.now() % 1_000_000_007 : 20_260_513));
/** Cases generated (and sent, `PARALLEL` at a time) per batch; each batch sees the jobs the earlier ones created. */
const BATCH = 250;
const PARALLEL = 4;
/** The compute backend of the fuzzed service (RALM_FUZZ_BACKEND: cpu, webgpu or auto). */
const BACKEND = process.env.RALM_FUZZ_BACKEND ?? 'cpu';

/** fast-check's seed for batch `b` of a run: batches of nearby runs share no cases. */
function batchSeed(seed: number, b: number): number {
  return (Math.imul(seed, 0x9e3779b1) + Math.imul(b + 1, 0x85ebca6b)) | 0;
}

describe(`HTTP fuzzer: ${CASES} cases, seed ${SEED}, ${BACKEND} backend`, () => {
  let dir: string;
  let svc: RunningService;
  let config: ReturnType<typeof loadConfig>;
  let world: FuzzWorld;
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => void rejections.push(reason);

  before(async () => {
    process.on('unhandledRejection', onRejection);
    dir = await mkdtemp(join(tmpdir(), 'ralm-fuzz-'));
    const tokens = { all: 'fuzz-admin-token', read: 'fuzz-read-token' };
    config = loadConfig({}, {
      port: '0', backend: BACKEND, 'data-dir': dir, 'log-level': 'silent', 'api-tokens': `admin:${tokens.all},read:${tokens.read}`,
      // Load shedding answers the machine's state, not the request: off, so every answer is the request's.
      'max-event-loop-delay-ms': '0',
      // A request that can never complete (a raw case with a body shorter than its Content-Length,
      // under Upgrade headers, where Node's parser does not see the end) is answered with the coded
      // 408 once this passes: short, so the fuzzer waits seconds, not the default 30.
      'http-request-timeout-ms': '1000', 'headers-timeout-ms': '1000',
    });
    svc = await startService(config);
    const manifest = JSON.parse(await readFile(join(defaultModelDir, 'manifest.json'), 'utf8')) as { h: number; m: number; userFields: Array<{ name: string; kind: string }> };
    const vocab = (JSON.parse(await readFile(join(defaultModelDir, 'vocab.json'), 'utf8')) as { fields: Record<string, string[]> }).fields;
    world = {
      users: DEMO_TOPICS.flatMap((t) => [0, 1, 2, 7, 149].map((i) => `demo-${t}-${i}`)),
      items: DEMO_TOPICS.flatMap((t) => [0, 3, 7].map((i) => `demo-${t}-article-${i}`)),
      h: manifest.h,
      m: manifest.m,
      vocab: Object.fromEntries(Object.entries(vocab).map(([k, v]) => [k, v.slice(0, 6)])),
      continuous: manifest.userFields.filter((f) => f.kind === 'continuous').map((f) => f.name),
      jobs: [],
      tokens,
      modelDir: basename(defaultModelDir),
    };
    // One finished audience job, so its users' pages have something to serve.
    const res = await fetch(`${svc.url}/v1/audiences`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.all}` },
      body: JSON.stringify({ seeds: world.users.slice(0, 5), size: 20, async: true }),
    });
    const job = (await res.json()) as { id: string };
    world.jobs.push(job.id);
    for (let status = ''; status !== 'done';) {
      status = ((await (await fetch(`${svc.url}/v1/audiences/${job.id}`, { headers: { authorization: `Bearer ${tokens.all}` } })).json()) as { status: string }).status;
      assert.ok(['queued', 'running', 'done'].includes(status), status);
      if (status !== 'done') await new Promise((r) => setTimeout(r, 20));
    }
  });

  after(async () => {
    process.off('unhandledRejection', onRejection);
    await svc?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('no 5xx, every error coded, every success well-formed and finite, no unhandled rejection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: PARALLEL });
    const url = new URL(svc.url);
    const tally = new FuzzTally();
    const t0 = performance.now();
    for (let b = 0; b * BATCH < CASES; b++) {
      const seed = batchSeed(SEED, b);
      const arbitrary = fc.oneof({ weight: 15, arbitrary: fuzzCases(world) }, { weight: 1, arbitrary: wireCases(world) });
      const cases = fc.sample(arbitrary, { seed, numRuns: Math.min(BATCH, CASES - b * BATCH) });
      let next = 0;
      await Promise.all(Array.from({ length: PARALLEL }, async () => {
        while (next < cases.length) {
          const i = next++;
          const c = cases[i];
          const a = c.wire ? await sendWire(url, c) : await send(url, agent, c);
          tally.add(c, a, `seed ${SEED} batch ${b} (fast-check seed ${seed}) case ${i}`);
          if (a.status === 202 && c.route === 'POST /v1/audiences') {
            try {
              world.jobs.push((JSON.parse(a.body.toString()) as { id: string }).id);
            } catch {
              // A MessagePack reply: the job is reached through the others.
            }
          }
        }
      }));
    }
    agent.destroy();
    const summary = `${tally.summary()}\nseed ${SEED}, ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    console.log(summary);
    assert.deepEqual(rejections.map(String), [], 'unhandled rejections in the server process');
    assert.equal(tally.bad, 0, `${summary}\n${tally.failures.join('\n')}`);
  });

  it('the next start over the store the fuzzer left succeeds and serves every user finite scores', async () => {
    await svc.close();
    svc = await startService(config);
    const auth = { authorization: `Bearer ${world.tokens.all}` };
    assert.equal((await fetch(`${svc.url}/readyz`)).status, 200);
    for (const id of world.users) {
      const res = await fetch(`${svc.url}/v1/recommend`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ user: { id }, k: 5 }) });
      const body = (await res.json()) as { items: Array<{ score: unknown }> };
      assert.equal(res.status, 200, `${id}: ${JSON.stringify(body)}`);
      assert.ok(body.items.length > 0 && body.items.every((i) => typeof i.score === 'number' && Number.isFinite(i.score)), `${id}: ${JSON.stringify(body)}`);
    }
    for (const id of world.items) assert.equal((await fetch(`${svc.url}/v1/items/${id}`, { headers: auth })).status, 200, id);
  });
});

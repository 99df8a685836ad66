/**
 * /docs in a real browser: headless Chromium (Debian's `chromium` package, driven by
 * playwright-core pointed at it; nothing is downloaded) opens the page from a service on
 * loopback, and the operations render from the OpenAPI document. Skipped, saying so, where
 * Chromium is absent; RALM_REQUIRE_BROWSER=1 (set by .ci/run) makes its absence a failure.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/server/app.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { loadModel } from '../../src/model/model.js';
import { defaultModelDir } from '../../src/util/paths.js';

const CHROMIUM = '/usr/bin/chromium';
const required = process.env.RALM_REQUIRE_BROWSER === '1';
const present = existsSync(CHROMIUM);
const skip = present ? false : `no Chromium at ${CHROMIUM} (Debian: apt-get install chromium); RALM_REQUIRE_BROWSER=1 makes this a failure`;

// The flags that run Chromium headless in a container without a display, a GPU, a sandbox or a network.
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('/docs in headless Chromium', () => {
  it('Chromium is present where it is required', { skip: required ? false : 'RALM_REQUIRE_BROWSER is not 1' }, () => {
    assert.ok(present, `RALM_REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM}`);
  });

  describe('the page', { skip }, () => {
    let dir: string;
    let store: LmdbStore;
    let engine: RalmEngine;
    let app: FastifyInstance;
    let browser: Browser;
    let url: string;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ralm-docs-'));
      store = LmdbStore.open(dir);
      engine = await RalmEngine.create(await loadModel(defaultModelDir), { backend: 'cpu' });
      app = buildApp({ engine, store, seeds: new SeedService(store, engine, {}), apiToken: 'a-token-for-the-page', bodyLimit: 1 << 20, maxEventLoopDelayMs: 0 }).app;
      url = await app.listen({ host: '127.0.0.1', port: 0 });
      // launch() gives the browser a fresh profile directory of its own, removed on close.
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
    });
    after(async () => {
      await browser?.close();
      await app?.close();
      await engine?.close();
      await store?.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('renders every operation, with no script error, and the routes that need a token show a lock', async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      await page.goto(`${url}/docs`);
      const paths = page.locator('.opblock-summary-path');
      await paths.filter({ hasText: '/v1/recommend' }).first().waitFor({ timeout: 30_000 });
      const shown = (await paths.allTextContents()).map((s) => s.trim());
      for (const p of ['/v1/recommend', '/v1/score', '/v1/events', '/v1/users/{id}', '/v1/items/{id}', '/v1/audiences', '/v1/admin/model', '/healthz', '/metrics']) {
        assert.ok(shown.includes(p), `${p} missing from ${JSON.stringify(shown)}`);
      }
      assert.ok(await page.locator('.opblock .authorization__btn').count() >= 13, 'locks on the routes that need a token');
      assert.deepEqual(errors, []);
      await page.close();
    });
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/server/config.js';
import { openStore } from '../../src/store/open-store.js';
import type { LmdbStore } from '../../src/store/lmdb-store.js';

describe('service configuration', () => {
  it('defaults, environment, and flags over environment', () => {
    const d = loadConfig({});
    assert.equal(d.host, '127.0.0.1');
    assert.equal(d.port, 8080);
    assert.equal(d.backend, 'auto');
    assert.equal(d.apiToken, null);
    assert.equal(d.reclusterIntervalMs, 300_000);
    const c = loadConfig({ RALM_PORT: '9000', RALM_BACKEND: 'cpu', RALM_API_TOKEN: 't' }, { port: '9100', 'max-batch': '8' });
    assert.equal(c.port, 9100);
    assert.equal(c.backend, 'cpu');
    assert.equal(c.apiToken, 't');
    assert.equal(c.maxBatch, 8);
    // The popularity prior: the model's unless overridden.
    assert.equal(d.popularityPrior, null);
    assert.equal(loadConfig({ RALM_POPULARITY_PRIOR: '0.1' }).popularityPrior, 0.1);
    assert.equal(loadConfig({ RALM_POPULARITY_PRIOR: '0.1' }, { 'popularity-prior': 'model' }).popularityPrior, null);
  });

  it('rejects bad settings, naming the variable or flag and what was expected', () => {
    assert.throws(() => loadConfig({ RALM_PORT: 'eighty' }), /configuration RALM_PORT: port: expected an integer in \[0, 65535\], got "eighty"/);
    assert.throws(() => loadConfig({}, { backend: 'cuda' }), /configuration --backend: backend: expected one of auto, webgpu, cpu, got "cuda"/);
    assert.throws(() => loadConfig({ RALM_RECLUSTER_INTERVAL_MS: '5' }), /recluster-interval-ms: expected an integer in \[1000, 86400000\]/);
    assert.throws(() => loadConfig({ RALM_MAX_QUEUE: '0' }), /RALM_MAX_QUEUE: max-queue/);
    assert.throws(() => loadConfig({ RALM_DEMO: 'yes' }), /demo: expected one of true, false/);
    assert.throws(() => loadConfig({ RALM_POPULARITY_PRIOR: 'lots' }), /configuration RALM_POPULARITY_PRIOR: popularity-prior: expected a number in \[-10, 10\], got "lots"/);
    assert.throws(() => loadConfig({ RALM_STORE: 'mysql://h' }), /configuration RALM_STORE: store: expected lmdb:DIR, redis:\/\/HOST:PORT\[\/DB\]/);
    assert.throws(() => loadConfig({}, { 'store-durability': 'sometimes' }), /store-durability: expected one of auto, fsync, waitaof, none/);
  });

  it('the store: the embedded one in --data-dir by default, lmdb:DIR, or a Valkey/Redis address', () => {
    assert.equal(loadConfig({}).store, null);
    assert.equal(loadConfig({ RALM_STORE: 'lmdb:some/dir' }).store, `lmdb:${join(process.cwd(), 'some', 'dir')}`);
    const r = loadConfig({ RALM_STORE: 'redis://10.0.0.5:6380/2', RALM_STORE_DURABILITY: 'waitaof', RALM_STORE_REPLICAS: '1' });
    assert.deepEqual([r.store, r.storeDurability, r.storeReplicas], ['redis://10.0.0.5:6380/2', 'waitaof', 1]);
    assert.equal(loadConfig({}, { store: 'redis-cluster://a:1,b:2' }).store, 'redis-cluster://a:1,b:2');
  });

  it('event-id retention: a setting of the service that reaches the store it opens', async () => {
    assert.equal(loadConfig({}).eventIdRetentionMs, 7 * 24 * 3600 * 1000);
    assert.equal(loadConfig({ RALM_EVENT_ID_RETENTION_MS: '600000' }).eventIdRetentionMs, 600_000);
    assert.throws(() => loadConfig({ RALM_EVENT_ID_RETENTION_MS: '-1' }), /RALM_EVENT_ID_RETENTION_MS/);
    const dir = await mkdtemp(join(tmpdir(), 'ralm-retention-'));
    const { store } = await openStore(`lmdb:${dir}`, { eventIdRetentionMs: 600_000 });
    try {
      assert.equal((store as LmdbStore).eventIdRetentionMs, 600_000);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('tokens from a list and a file, log level, rate limit, models root and --insecure', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-config-'));
    try {
      await writeFile(join(dir, 'tokens'), '# the ingester\nwrite:w-0123456789\n\n read+write:rw-0123456789 \n');
      const c = loadConfig({ RALM_API_TOKENS: 'read:r-0123456789,admin:a-0123456789', RALM_API_TOKENS_FILE: join(dir, 'tokens'), RALM_LOG_LEVEL: 'silent', RALM_RATE_LIMIT: '600', RALM_MODELS_ROOT: dir }, { insecure: true });
      assert.deepEqual(c.apiTokens.map((t) => [...t.scopes]), [['read'], ['admin']]);
      assert.deepEqual(c.apiTokensFile.map((t) => [...t.scopes]), [['write'], ['read', 'write']]);
      assert.equal(c.logLevel, 'silent');
      assert.equal(c.rateLimit, 600);
      assert.equal(c.modelsRoot, dir);
      assert.equal(c.insecure, true);
      const d = loadConfig({});
      assert.deepEqual([d.apiTokens, d.apiTokensFile, d.logLevel, d.rateLimit, d.modelsRoot, d.insecure], [[], [], 'info', 0, null, false]);
      await writeFile(join(dir, 'bad'), 'read:ok-token\nwrite only-a-token\n');
      assert.throws(() => loadConfig({ RALM_API_TOKENS_FILE: join(dir, 'bad') }), /RALM_API_TOKENS_FILE: api-tokens-file: line 2: expected scope\[\+scope\]:token/);
      assert.throws(() => loadConfig({ RALM_LOG_LEVEL: 'loud' }), /log-level: expected one of fatal, error, warn, info, debug, trace, silent/);
      assert.throws(() => loadConfig({ RALM_API_TOKEN: 'two words' }), /api-token: a token is letters, digits/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

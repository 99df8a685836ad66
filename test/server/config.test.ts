import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/server/config.js';

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
  });

  it('rejects bad settings, naming the variable or flag and what was expected', () => {
    assert.throws(() => loadConfig({ RALM_PORT: 'eighty' }), /configuration RALM_PORT: port: expected an integer in \[0, 65535\], got "eighty"/);
    assert.throws(() => loadConfig({}, { backend: 'cuda' }), /configuration --backend: backend: expected one of auto, webgpu, cpu, got "cuda"/);
    assert.throws(() => loadConfig({ RALM_RECLUSTER_INTERVAL_MS: '5' }), /recluster-interval-ms: expected an integer in \[1000, 86400000\]/);
    assert.throws(() => loadConfig({ RALM_MAX_QUEUE: '0' }), /RALM_MAX_QUEUE: max-queue/);
    assert.throws(() => loadConfig({ RALM_DEMO: 'yes' }), /demo: expected one of true, false/);
  });
});

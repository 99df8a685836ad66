import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { smallModel, randomItems, webgpuSkipReason } from '../helpers/fixtures.js';
import { RalmEngine, type EngineEvent } from '../../src/engine/engine.js';
import { Rng } from '../../src/util/rng.js';

const skip = await webgpuSkipReason();

describe('device loss', { skip }, () => {
  it('keeps serving on the CPU, then recovers the device with the same results', async () => {
    const model = smallModel({ seed: 71 });
    const events: EngineEvent[] = [];
    let recovered!: () => void;
    const recoveredP = new Promise<void>((r) => (recovered = r));
    const engine = await RalmEngine.create(model, {
      backend: 'webgpu',
      recoveryDelayMs: 20,
      onEvent: (ev) => {
        events.push(ev);
        if (ev.type === 'device-recovered') recovered();
      },
    });
    const items = randomItems(model, 300, 72);
    await engine.upsertItems(items);
    const req = { user: { embedding: new Rng(73).normals(model.manifest.h) }, k: 20 };
    const [before] = await engine.rank([req]);
    assert.equal(before.backend, 'webgpu');

    // A request in flight when the device goes away is answered (on the CPU), not failed.
    const inFlight = engine.rank([req]);
    engine.simulateDeviceLoss();
    const [during] = await inFlight;
    const [after] = await engine.rank([req]);
    assert.equal(after.backend, 'cpu');
    for (const r of [during, after]) {
      assert.deepEqual(r.items.map((i) => i.id), before.items.map((i) => i.id));
    }
    // Updates made while on the CPU must reach the recovered device.
    await engine.upsertItems([{ id: 'added-during-loss', centroids: items[0].centroids }]);

    // The recovery timer is unref'd (it must not keep a finished process alive); keep this test's loop alive.
    const keepAlive = setInterval(() => undefined, 1000);
    await recoveredP;
    clearInterval(keepAlive);
    const [back] = await engine.rank([req]);
    assert.equal(back.backend, 'webgpu');
    assert.deepEqual(back.items.map((i) => i.id), before.items.map((i) => i.id));
    const [s] = await engine.score([{ user: req.user, items: ['added-during-loss', items[0].id] }]);
    assert.equal(s.backend, 'webgpu');
    assert.equal(s.scores[0], s.scores[1]);
    assert.equal(engine.stats.deviceLosses, 1);
    assert.equal(engine.stats.deviceRecoveries, 1);
    assert.ok(events.some((e) => e.type === 'device-lost'));
    await engine.close();
  });

  it('without recovery stays on the CPU', async () => {
    const model = smallModel({ seed: 74 });
    const engine = await RalmEngine.create(model, { backend: 'webgpu', recoverDevice: false });
    await engine.upsertItems(randomItems(model, 10, 75));
    engine.simulateDeviceLoss();
    await new Promise((r) => setTimeout(r, 50));
    const [r] = await engine.rank([{ user: { embedding: new Rng(76).normals(model.manifest.h) }, k: 3 }]);
    assert.equal(r.backend, 'cpu');
    assert.equal(r.items.length, 3);
    await engine.close();
  });
});

describe('backend choice', () => {
  it('auto skips a software rasteriser (slower than the CPU backend) and says so', { skip }, async () => {
    const events: EngineEvent[] = [];
    const engine = await RalmEngine.create(smallModel(), { backend: 'auto', onEvent: (e) => events.push(e) });
    const software = events.find((e) => e.type === 'software-adapter-skipped');
    if (software) assert.equal(engine.backendKind, 'cpu');
    else assert.equal(engine.backendKind, 'webgpu'); // a hardware adapter
    await engine.close();
  });

  it('cpu is honoured even when an adapter exists', async () => {
    const engine = await RalmEngine.create(smallModel(), { backend: 'cpu' });
    assert.equal(engine.backendKind, 'cpu');
    assert.match(engine.adapterName, /^cpu /);
    await engine.close();
  });

  it('rejects an unknown backend or storage with the field named', async () => {
    await assert.rejects(RalmEngine.create(smallModel(), { backend: 'cuda' as never }), /backend: expected "auto", "webgpu" or "cpu", got "cuda"/);
    await assert.rejects(RalmEngine.create(smallModel(), { storage: 'int4' as never }), /storage: expected "f32", "f16" or "int8", got "int4"/);
  });

  it('a closed engine refuses work', async () => {
    const engine = await RalmEngine.create(smallModel(), { backend: 'cpu' });
    await engine.close();
    await assert.rejects(engine.rank([{ user: { embedding: new Float32Array(16) }, k: 1 }]), /engine is closed/);
  });
});

describe('cpu kernels', () => {
  it('the engine reports which CPU kernel and how many threads it uses', async () => {
    const a = await RalmEngine.create(smallModel(), { backend: 'cpu', cpuKernel: 'wasm', cpuThreads: 1 });
    assert.equal(a.adapterName, 'cpu (wasm simd, 1 thread)');
    const b = await RalmEngine.create(smallModel(), { backend: 'cpu', cpuKernel: 'scalar' });
    assert.equal(b.adapterName, 'cpu (scalar)');
    await a.close();
    await b.close();
    await assert.rejects(RalmEngine.create(smallModel(), { backend: 'cpu', cpuThreads: 0 }), /cpuThreads: expected an integer in \[1, 256\], got 0/);
    const many = await RalmEngine.create(smallModel(), { backend: 'cpu', cpuKernel: 'wasm', cpuThreads: 3 });
    assert.equal(many.adapterName, 'cpu (wasm simd, 3 threads)');
    await many.close();
    await assert.rejects(RalmEngine.create(smallModel(), { backend: 'cpu', cpuKernel: 'avx' as never }), /cpuKernel: expected "wasm-fma", "wasm" or "scalar"/);
  });
});

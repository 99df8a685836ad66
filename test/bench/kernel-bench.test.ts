/** The benchmark harness on tiny sizes: result shape, peers checked against the engine, plots, comparison. Timings are never asserted. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runKernelBench, planConfigs, type KernelBenchResult } from '../../bench/kernel.js';
import { importOptional, loadPeers, PeerUnavailable, topKOfRow } from '../../bench/peers/peer.js';
import { verifyTopK } from '../../bench/verify.js';
import { makeWorkload, userBatch } from '../../bench/workload.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { engineItems } from '../../bench/workload.js';
import { kernelCharts, renderLogLogChart } from '../../bench/plot.js';
import { compareKernelResults } from '../../bench/compare.js';
import { analyseScaling } from '../../bench/scaling.js';
import { knownPeakBandwidth } from '../../bench/gpu-peaks.js';
import { probeBackends } from '../../src/engine/probe.js';
import { describeAdapter } from '../../src/gpu/device.js';

describe('kernel benchmark harness', () => {
  let result: KernelBenchResult;

  it('runs a tiny plan on the CPU backends with every peer, each checked against the engine', async () => {
    result = await runKernelBench({
      backends: ['cpu', 'cpu-scalar'], peers: ['onnxruntime-cpu', 'tfjs-wasm', 'typescript-loop'],
      plan: { sizes: [150, 400], ks: [3], hs: [16], batches: [1, 2], storages: ['f32'] }, minMs: 10, topK: 5,
    });
    assert.equal(result.kind, 'ralm-bench-kernel');
    assert.equal(result.formatVersion, 2);
    assert.ok(result.machine.memoryReadGBps > 0);
    assert.ok('onnxruntime-node' in result.machine.versions);
    const subjects = new Set<string>(result.rows.map((r) => r.subject));
    for (const s of ['ralm-cpu', 'ralm-cpu-scalar']) assert.ok(subjects.has(s), s);
    for (const m of result.missingPeers) assert.match(m.fix, /npm/);
    for (const p of ['onnxruntime-cpu', 'tfjs-wasm', 'typescript-loop']) {
      assert.ok(subjects.has(p) || result.missingPeers.some((m) => m.name === p), `${p}: neither run nor reported missing`);
    }
    assert.equal(result.rows.length, subjects.size * 4);
    for (const r of result.rows) {
      assert.equal(r.error, undefined, `${r.subject}: ${r.error}`);
      assert.ok(r.timing.medianMs > 0 && r.roofline.medianMs > 0 && r.rooflineRatio > 0);
      if (r.subject === 'ralm-cpu') assert.equal(r.verified, null);
      else assert.equal(r.verified?.ok, true, `${r.subject} N=${r.n} B=${r.batch}: ${r.verified?.detail}`);
    }
    assert.ok(result.scaling.fits.some((f) => f.subject === 'ralm-cpu'));
    assert.ok(result.scaling.crossovers.length > 0);
    assert.ok(result.scaling.effects.some((e) => e.parameter === 'batch'));
  });

  it('runs ONNX Runtime\'s int8 graph beside the engine\'s int8 storage, checked against the engine\'s int8 scores', async () => {
    const r = await runKernelBench({
      backends: ['cpu'], peers: ['onnxruntime-cpu-int8'],
      plan: { sizes: [300], ks: [4], hs: [32], batches: [1, 3], storages: ['int8'] }, minMs: 10, topK: 5,
    });
    if (r.missingPeers.some((m) => m.name === 'onnxruntime-cpu-int8')) return;
    const peerRows = r.rows.filter((x) => x.subject === 'onnxruntime-cpu-int8');
    assert.equal(peerRows.length, 2);
    for (const row of peerRows) {
      assert.equal(row.storage, 'int8');
      assert.equal(row.error, undefined, row.error);
      assert.equal(row.verified?.ok, true, row.verified?.detail);
    }
  });

  it('renders the SVG plots from the JSON, and compares two results', () => {
    const { latency, roofline } = kernelCharts(JSON.parse(JSON.stringify(result)) as KernelBenchResult);
    for (const chart of [latency, roofline]) {
      const svg = renderLogLogChart(chart);
      assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      assert.match(svg, /ralm-cpu/);
      assert.ok((svg.match(/<polyline/g) ?? []).length >= 2);
      assert.ok(svg.trimEnd().endsWith('</svg>'));
    }
    assert.match(renderLogLogChart({ title: 't', subtitle: '', xLabel: 'x', yLabel: 'y', series: [] }), /no data/);
    const c = compareKernelResults(result, result);
    assert.equal(c.outside, 0);
    assert.equal(c.within, result.rows.length);
  });

  it('a wrong peer answer is caught by the check', async () => {
    const w = makeWorkload(120, 3, 16);
    const engine = await RalmEngine.create(w.model, { backend: 'cpu' });
    await engine.upsertItems(engineItems(w, 0, w.n));
    const users = userBatch(1, 16);
    const [ours] = await engine.score([{ user: { embedding: users }, items: w.ids }]);
    const { peers } = await loadPeers(['typescript-loop']);
    const session = await peers[0].open(w, 5);
    const out = await session.run(users, 1);
    assert.equal(verifyTopK([ours.scores], out, 5).ok, true);
    const shifted = { index: Array.from(out.index, (i) => (i + 1) % w.n), score: out.score };
    assert.equal(verifyTopK([ours.scores], shifted, 5).ok, false);
    const lowered = { index: out.index, score: out.score.map((s) => s - 0.01) };
    assert.equal(verifyTopK([ours.scores], lowered, 5).ok, false);
    await engine.close();
  });

  it('a peer whose package is missing is reported with the command that installs it', async () => {
    await assert.rejects(importOptional('ralm-no-such-package', 'run npm install'), (err: unknown) => err instanceof PeerUnavailable && /not installed/.test(err.message) && err.fix === 'run npm install');
  });

  it('peer top-K keeps the tie rule; the default plan is a star around N = 10,000', () => {
    const idx = new Int32Array(3);
    const sc = new Float32Array(3);
    topKOfRow(Float32Array.of(1, 3, 3, 2, 3), 3, idx, sc, 0);
    assert.deepEqual(Array.from(idx), [1, 2, 4]);
    const plan = planConfigs('default');
    assert.deepEqual(plan.filter((c) => c.k === 20 && c.h === 128 && c.batch === 1 && c.storage === 'f32').map((c) => c.n), [1000, 10_000, 100_000, 1_000_000]);
    assert.ok(plan.every((c) => c.n === 10_000 || (c.k === 20 && c.h === 128 && c.batch === 1 && c.storage === 'f32')));
    assert.equal(planConfigs('full').length, 4 * 3 * 3 * 3 * 3);
  });

  it('states a crossover inside the measured range', () => {
    const row = (subject: string, n: number, ms: number): KernelBenchResult['rows'][number] => ({
      subject: subject as 'ralm-cpu', kind: 'ralm', label: subject, n, k: 20, h: 128, batch: 1, storage: 'f32', bytes: 1,
      timing: { runs: 7, medianMs: ms, p90Ms: ms, p99Ms: ms, minMs: ms, maxMs: ms, spread: 0 }, candidatesPerSec: 1, roofline: { runs: 7, medianMs: 1, p90Ms: 1, p99Ms: 1, minMs: 1, maxMs: 1, spread: 0 }, rooflineRatio: ms, verified: null,
    });
    const s = analyseScaling([row('ralm-cpu', 1000, 1), row('ralm-cpu', 100_000, 100), row('ralm-webgpu', 1000, 5), row('ralm-webgpu', 100_000, 20)]);
    const c = s.crossovers.find((x) => x.at.includes('k=20'));
    assert.ok(c && c.crossesAtN !== null && c.crossesAtN > 1000 && c.crossesAtN < 100_000, JSON.stringify(c));
    assert.match(c.statement, /ralm-cpu is faster below N ≈/);
  });

  it('WebGPU rows report the kernel time from timestamp queries, the bytes per call and the bandwidth share by adapter family', async (t) => {
    assert.equal(knownPeakBandwidth('NVIDIA H200')?.gbPerSec, 4800);
    assert.equal(knownPeakBandwidth('NVIDIA H100 PCIe')?.gbPerSec, 2000);
    assert.equal(knownPeakBandwidth('llvmpipe (LLVM 15.0.6, 256 bits)'), null);
    // What Dawn's Vulkan backend reports on an H200 (description names only the driver; the device
    // name names the GPU), and on lavapipe: the adapter name carries both, so the family is found.
    const h200 = describeAdapter({ description: 'NVIDIA: 580.159.04 580.159.4.0', device: 'nvidia-h200', vendor: 'nvidia', architecture: 'hopper' });
    assert.equal(h200, 'NVIDIA: 580.159.04 580.159.4.0 [nvidia-h200]');
    assert.equal(knownPeakBandwidth(h200)?.family, 'NVIDIA H200');
    assert.equal(knownPeakBandwidth(describeAdapter({ description: 'NVIDIA: 580', device: 'nvidia-h100-pcie', vendor: 'nvidia', architecture: 'hopper' }))?.gbPerSec, 2000);
    const lvp = describeAdapter({ description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) 0.0.1', device: 'llvmpipe-llvm-15-0-6-256-bits-', vendor: 'mesa', architecture: 'software' });
    assert.equal(knownPeakBandwidth(lvp), null);
    assert.equal(describeAdapter({ description: '', device: '', vendor: 'acme', architecture: '' }), 'acme');
    if (!(await probeBackends()).includes('webgpu')) {
      t.skip('no WebGPU adapter on this host');
      return;
    }
    const r = await runKernelBench({ backends: ['webgpu'], plan: { sizes: [300], ks: [4], hs: [16], batches: [2], storages: ['f32'] }, minMs: 50, maxMs: 2000 });
    const gpu = r.rows[0].gpu;
    assert.ok(gpu && gpu.kernelMs > 0 && gpu.kernelMs <= r.rows[0].timing.maxMs, JSON.stringify(r.rows[0]));
    assert.equal(gpu.bytesPerCall, 2 * 300 * (4 * 16 * 4 + 16 * 4 + 8 + 32));
    assert.ok(gpu.gbPerSec > 0);
    if (/llvmpipe|lavapipe/i.test(r.rows[0].label)) assert.equal(gpu.bandwidthShare, null);
  });
});

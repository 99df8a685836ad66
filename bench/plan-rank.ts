/**
 * `node dist/bench/plan-rank.js [N] [B]`: the host's share of a WebGPU ranking call, planning the
 * scorer's work list (src/gpu/kernels/rank.ts planRank), for B requests of N candidates over
 * 16,384-slot pages (default N = 100,000, B = 16): each request with a list of its own (the same
 * candidates, each list in another order) or all sharing one array (what SharedCandidates gives a
 * batch ranked against one list; equal copies group the same way), and the work list in a
 * fresh array per call or in a kept scratch; then, with a popularity prior per slot, the shared
 * list in a kept scratch with every request keeping the level offsets and with half leaving them
 * out (`itemLevels: false`, a mixed batch). Three warm-up calls, then the median of 15. No GPU is
 * needed: this is the part of the call that runs on the host processor.
 */
import { planRank, SCRATCH_MAX_WORDS } from '../src/gpu/kernels/rank.js';
import type { PreparedRequest } from '../src/core/backend.js';

const N = Number(process.argv[2] ?? 100_000);
const B = Number(process.argv[3] ?? 16);
const stride = 128;
const slotsPerPage = 16_384;
const shape = { stride, slotsPerPage, pageCount: Math.ceil(N / slotsPerPage), k: 20, alpha: 0.5, beta: 0.5, priors: null };
// A scattered list (candidates in no slot order), as candidate generation upstream would give.
const scattered = (r: number): Uint32Array => Uint32Array.from({ length: N }, (_, i) => ((i + r) * 7919) % N);
const list = scattered(0);
const request = (slots: Uint32Array, levels = true): PreparedRequest => ({ slots, q: new Float32Array(stride), e: new Float32Array(stride), eNorm: 1, topK: 10, levels });

function median(f: () => void): number {
  for (let w = 0; w < 3; w++) f();
  const t: number[] = [];
  for (let r = 0; r < 15; r++) {
    const t0 = performance.now();
    f();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[7];
}

console.log(`planRank, N = ${N}, B = ${B} (median of 15 calls, ms)`);
for (const lists of ['own', 'shared'] as const) {
  const reqs = Array.from({ length: B }, (_, r) => request(lists === 'own' ? scattered(r) : list));
  const fresh = median(() => planRank(reqs, shape));
  const scratch = { work: new Uint32Array(0), maxWords: SCRATCH_MAX_WORDS };
  const kept = median(() => planRank(reqs, shape, scratch));
  console.log(`  ${lists === 'own' ? 'a list per request ' : 'one shared list    '}  fresh work list ${fresh.toFixed(1).padStart(6)}   kept scratch ${kept.toFixed(1).padStart(6)}`);
}
const priors = Float32Array.from({ length: N }, (_, i) => 0.05 * Math.log1p(i % 500));
const withPriors = { ...shape, priors, priorsWithoutLevels: priors.map((v, i) => (i % 3 === 0 ? v : v + 0.1)) };
for (const mixed of [false, true]) {
  const reqs = Array.from({ length: B }, (_, r) => request(list, !mixed || r % 2 === 0));
  const scratch = { work: new Uint32Array(0), maxWords: SCRATCH_MAX_WORDS };
  const kept = median(() => planRank(reqs, withPriors, scratch));
  console.log(`  with a prior, one shared list, ${(mixed ? 'half without level offsets' : 'every request alike').padEnd(26)}   kept scratch ${kept.toFixed(1).padStart(6)}`);
}

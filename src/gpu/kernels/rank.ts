/**
 * Ranking a batch of requests (score.wgsl, then top-k.wgsl): one command buffer per batch with
 * one scorer dispatch per table page the batch touches (a single dispatch when the table fits one
 * page), the top-K select passes and a gather; only K rows per request are read back.
 */
import type { PreparedRequest, ScoredRows } from '../../core/backend.js';
import type { ItemTable } from '../../core/item-table.js';
import { sameCandidates } from '../../core/same-candidates.js';
import { rowsFromScores } from '../../core/top-k.js';
import { ZERO_NORM } from '../../model/reference.js';
import { ItemMirror } from '../item-mirror.js';
import { GPU_LIMITS } from '../limits.js';
import { scoreProgram, type GpuScorer, type ScoreProgram, type UniformsOf } from '../programs.js';
import { Usage, UniformPool, type GpuRuntime, type GrowableBuffer } from '../runtime.js';
import type { TopKKernel } from './top-k.js';

type ScoreParams = UniformsOf<ScoreProgram>;

export interface RankPlan {
  /** offsets[r]: the first output position of request r; offsets[B] is the total. */
  readonly offsets: Uint32Array;
  /** Per request, q then e (stride floats each). */
  readonly users: Float32Array;
  /** |e| per request. */
  readonly norms: Float32Array;
  /** Work items (slot within page, request, output position, the item's prior as f32 bits), grouped by page. */
  readonly work: Uint32Array;
  /** One scorer dispatch per page with work, in page order. */
  readonly dispatches: ReadonlyArray<{ readonly page: number; readonly count: number; readonly params: ScoreParams }>;
  /** True when every score is read back (a request wants all scores, or a K past the GPU's). */
  readonly readAll: boolean;
}

export interface RankShape {
  /** int8 storage: vec4 index of the row scales in a page's centroid buffer (0 otherwise). */
  readonly i8Scales?: number;
  readonly stride: number;
  readonly slotsPerPage: number;
  readonly pageCount: number;
  readonly k: number;
  readonly alpha: number;
  readonly beta: number;
  /** Per table slot, the popularity prior the scorer adds to the blend (ItemTable.priors); null for none. */
  readonly priors?: Float32Array | null;
  /** The same without the level offsets (ItemTable.priorsFor(false)), for requests with `levels: false`. */
  readonly priorsWithoutLevels?: Float32Array | null;
}

/** Work-list words a RankKernel keeps between batches (64 MB); a larger batch plans into an array of its own. */
export const SCRATCH_MAX_WORDS = 16 * 2 ** 20;

/** Where planRank writes the work list when it fits `maxWords`: kept, and grown, across batches. */
export interface RankScratch {
  work: Uint32Array;
  readonly maxWords: number;
}

/**
 * Lays out a batch for the scorer: user vectors, the work list grouped by page, one dispatch per
 * page. `scratch` holds the work list when it fits: a fresh one per batch is megabytes of memory
 * (16 bytes per candidate per request: 25.6 MB at B = 16, N = 100,000), which, when the allocator
 * hands back new pages, costs more to fault in than to write (bench/plan-rank.ts: up to 72 against 5 ms).
 */
export function planRank(requests: readonly PreparedRequest[], shape: RankShape, scratch?: RankScratch): RankPlan {
  const { stride, slotsPerPage: spp, pageCount } = shape;
  const B = requests.length;
  const offsets = new Uint32Array(B + 1);
  for (let r = 0; r < B; r++) offsets[r + 1] = offsets[r] + requests[r].slots.length;
  const total = offsets[B];

  const users = new Float32Array(B * 2 * stride);
  const norms = new Float32Array(Math.max(1, B));
  requests.forEach((r, i) => {
    users.set(r.q.subarray(0, stride), i * 2 * stride);
    users.set(r.e.subarray(0, stride), i * 2 * stride + stride);
    norms[i] = r.eNorm;
  });

  // Requests are grouped by candidate list (sameCandidates: the same array, as SharedCandidates
  // gives a batch ranked against one list, or equal contents); each list is sorted by page once,
  // by a counting sort of its positions. The work list is written page by page, group by group
  // (in order of each group's first request), and within a group candidate by candidate, each
  // candidate's requests side by side: workgroups launched together then read the same item rows,
  // so a batch sharing candidates can find most of them in the cache (on an H200 the per-item
  // scorer gained from it, 55 → 42 ms at B = 16; the cooperative one, bound by latency rather than
  // memory, did not). The scorer writes by output position, so the order changes no result.
  const groups = sameCandidates(requests, 0).map((members) => {
    const slots = requests[members[0]].slots;
    const pageOf = new Uint32Array(slots.length);
    const start = new Uint32Array(pageCount + 1);
    for (let c = 0; c < slots.length; c++) start[(pageOf[c] = Math.floor(slots[c] / spp)) + 1]++;
    for (let p = 0; p < pageCount; p++) start[p + 1] += start[p];
    const fill = start.slice(0, pageCount);
    const order = new Uint32Array(slots.length);
    for (let c = 0; c < slots.length; c++) order[fill[pageOf[c]]++] = c;
    return { slots, start, order, members };
  });
  const perPage = new Uint32Array(pageCount);
  for (const g of groups) for (let p = 0; p < pageCount; p++) perPage[p] += (g.start[p + 1] - g.start[p]) * g.members.length;
  const pageStart = new Uint32Array(pageCount + 1);
  for (let p = 0; p < pageCount; p++) pageStart[p + 1] = pageStart[p] + perPage[p];
  const words = Math.max(4, total * 4);
  const kept = scratch !== undefined && words <= scratch.maxWords;
  if (kept && scratch.work.length < words) scratch.work = new Uint32Array(Math.min(scratch.maxWords, Math.max(words, Math.ceil(scratch.work.length * 1.5))));
  const work = kept ? scratch.work.subarray(0, words) : new Uint32Array(words);
  const bitsOf = (p: Float32Array | null | undefined): Uint32Array | null => (p ? new Uint32Array(p.buffer, p.byteOffset, p.length) : null);
  const priorBits = bitsOf(shape.priors);
  const plainBits = bitsOf(shape.priorsWithoutLevels);
  // Per request: 1 adds prior + level offset, 0 the prior alone (itemLevels false). A batch that
  // does not mix the two (the usual case) reads one array, as if there were one. The two loops
  // below stay apart on purpose: one loop choosing per request costs the unmixed batch 1.2-1.3x
  // (bench/plan-rank.ts, B = 16, N = 100,000: 8.0-8.7 ms against 6.6-6.7).
  const withLevels = Uint8Array.from(requests, (r) => (r.levels === false ? 0 : 1));
  const mixed = withLevels.some((v) => v !== withLevels[0]);
  const firstBits = withLevels[0] === 1 ? priorBits : plainBits;
  let at = 0;
  for (let p = 0; p < pageCount; p++) {
    const base = p * spp;
    for (const { slots, start, order, members } of groups) {
      for (let j = start[p]; j < start[p + 1]; j++) {
        const c = order[j];
        const s = slots[c];
        // Read once per candidate, not per request; written even when 0: the scratch holds an earlier batch's words.
        if (!mixed) {
          const term = firstBits ? firstBits[s] : 0;
          for (let m = 0; m < members.length; m++, at += 4) {
            const ri = members[m];
            work[at] = s - base;
            work[at + 1] = ri;
            work[at + 2] = offsets[ri] + c;
            work[at + 3] = term;
          }
          continue;
        }
        const prior = priorBits ? priorBits[s] : 0;
        const plain = plainBits ? plainBits[s] : 0;
        for (let m = 0; m < members.length; m++, at += 4) {
          const ri = members[m];
          work[at] = s - base;
          work[at + 1] = ri;
          work[at + 2] = offsets[ri] + c;
          work[at + 3] = withLevels[ri] === 1 ? prior : plain;
        }
      }
    }
  }

  const dispatches: Array<RankPlan['dispatches'][number]> = [];
  for (let p = 0; p < pageCount; p++) {
    if (perPage[p] === 0) continue;
    dispatches.push({
      page: p,
      count: perPage[p],
      params: { work_start: pageStart[p], work_count: perPage[p], k: shape.k, row_vec4: stride / 4, alpha: shape.alpha, beta: shape.beta, zero_norm: ZERO_NORM, i8_scales: shape.i8Scales ?? 0 },
    });
  }
  const readAll = requests.every((r) => r.topK === 0) || requests.some((r) => r.topK > GPU_LIMITS.maxTopK);
  return { offsets, users, norms, work, dispatches, readAll };
}

/** Every request's scores from the scorer's results (score, cos_g, cos_l, 0 per position), as the host selects them. */
export function rowsFromResults(results: Float32Array, requests: readonly PreparedRequest[], offsets: Uint32Array): ScoredRows[] {
  return requests.map((r, ri) => {
    const n = r.slots.length;
    const score = new Float32Array(n);
    const cosGlobal = new Float32Array(n);
    const cosLocal = new Float32Array(n);
    for (let c = 0; c < n; c++) {
      const at = (offsets[ri] + c) * 4;
      score[c] = results[at];
      cosGlobal[c] = results[at + 1];
      cosLocal[c] = results[at + 2];
    }
    return rowsFromScores(score, cosGlobal, cosLocal, r.topK);
  });
}

export class RankKernel {
  private readonly program: ScoreProgram;
  private readonly users: GrowableBuffer;
  private readonly norms: GrowableBuffer;
  private readonly work: GrowableBuffer;
  private readonly results: GrowableBuffer;
  private readonly uniforms: UniformPool;
  private readonly scratch: RankScratch = { work: new Uint32Array(0), maxWords: SCRATCH_MAX_WORDS };

  constructor(
    private readonly runtime: GpuRuntime,
    private readonly items: ItemMirror,
    private readonly topK: TopKKernel,
    f16: boolean,
    private readonly blend: { readonly alpha: number; readonly beta: number },
    scorer: GpuScorer = 'per-item',
    private readonly int8 = false,
  ) {
    this.program = scoreProgram(f16, scorer, int8);
    this.users = runtime.growable('users', Usage.STORAGE | Usage.COPY_DST);
    this.norms = runtime.growable('user norms', Usage.STORAGE | Usage.COPY_DST);
    this.work = runtime.growable('work list', Usage.STORAGE | Usage.COPY_DST);
    this.results = runtime.growable('scores', Usage.STORAGE | Usage.COPY_SRC);
    this.uniforms = new UniformPool(runtime, 'score uniforms');
  }

  /** Ranks (or scores) `requests` against `table`. Runs inside the runtime's exclusive section. */
  async run(requests: readonly PreparedRequest[], table: ItemTable): Promise<ScoredRows[]> {
    const rt = this.runtime;
    rt.assertAlive();
    this.items.ensurePages(table);
    const plan = planRank(requests, {
      stride: table.stride, slotsPerPage: table.slotsPerPage, pageCount: table.pages.length, k: table.k, alpha: this.blend.alpha, beta: this.blend.beta,
      i8Scales: this.int8 ? ItemMirror.int8ScalesAt(table) : 0, priors: table.priors, priorsWithoutLevels: table.priorsFor(false),
    }, this.scratch);
    const total = plan.offsets[requests.length];
    rt.write(this.users.ensure(plan.users.byteLength), 0, plan.users);
    rt.write(this.norms.ensure(plan.norms.byteLength), 0, plan.norms);
    rt.write(this.work.ensure(plan.work.byteLength), 0, plan.work);
    const results = this.results.ensure(Math.max(16, total * 16));

    const encoder = rt.device.createCommandEncoder({ label: 'ralm batch' });
    const pass = rt.timedPass(encoder, 'score + top-k');
    plan.dispatches.forEach((d, i) => {
      const page = this.items.pages[d.page];
      const params = this.uniforms.at(i);
      rt.writeUniforms(params, this.program, d.params);
      rt.dispatch(pass, this.program, {
        params, centroids: page.centroids, globals: page.globals, item_meta: page.meta,
        users: this.users.buffer, user_norms: this.norms.buffer, work: this.work.buffer, results,
      }, d.count);
    });

    if (plan.readAll) {
      pass.end();
      const [raw] = await rt.readBack([{ src: results, bytes: total * 16 }], encoder);
      return rowsFromResults(new Float32Array(raw), requests, plan.offsets);
    }
    return this.topK.select(requests.map((r) => ({ count: r.slots.length, keep: r.topK })), plan.offsets, encoder, pass, results);
  }
}

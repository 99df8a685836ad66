/**
 * Audience expansion's user scan (audience.wgsl): the users of a table snapshot (or a pool)
 * scored against one or several prepared seed sets, one dispatch per user-table page (all sets
 * at once), each page its own submission so that progress is reported, cancellation is honoured
 * and ranking requests interleave; then top-N on the GPU (N ≤ GPU_LIMITS.maxTopK) or a host
 * selection over every score read back.
 */
import type { ScoredRows } from '../../core/backend.js';
import { cancelled, scanPositions, type ScanHits, type ScanJob, type ScanSet } from '../../core/scan.js';
import { TopSelector } from '../../core/top-k.js';
import { ZERO_NORM } from '../../model/reference.js';
import { RalmError } from '../../util/errors.js';
import type { GpuContext } from '../device.js';
import { GPU_LIMITS } from '../limits.js';
import { audienceProgram, type UniformsOf } from '../programs.js';
import { Usage, UniformPool, type GpuRuntime, type GrowableBuffer } from '../runtime.js';
import { UserMirror } from '../user-mirror.js';
import type { TopKKernel } from './top-k.js';

/** Scores at or below this are the kernel's sentinel SKIPPED_SCORE; real scores lie in [−(α+β), α+β]. */
const SKIPPED_ABOVE = -1e38;

/** Bytes of the score buffer of a scan of `positions` × `sets`, and whether this device can hold it. */
export function scanFits(positions: number, sets: number, limits: Pick<GpuContext['limits'], 'maxStorageBufferBindingSize' | 'maxBufferSize'>): boolean {
  const bytes = positions * sets * 16;
  return bytes <= limits.maxStorageBufferBindingSize && bytes <= limits.maxBufferSize;
}

export interface ScanPlan {
  /** Positions scored per set (users of the snapshot, or of the pool). */
  readonly positions: number;
  /** User-table pages the scan covers. */
  readonly pages: number;
  /** Per set, two vec4<u32>: (c, first D row, first G element, kPad), (first skip word, 0, 0, 0). */
  readonly sets: Uint32Array;
  /** Every set's D, back to back (rows of the table stride). */
  readonly d: Float32Array;
  /** Every set's G, back to back. */
  readonly gram: Float32Array;
  /** Dense scans: per set, 1 bit per row, set for a dead or excluded row. */
  readonly skip: Uint32Array;
  /** Pool scans: (page-local row, position) pairs grouped by page. */
  readonly list: Uint32Array;
  /** One dispatch per page with users to score, in page order. */
  readonly dispatches: ReadonlyArray<{ readonly page: number; readonly count: number; readonly params: UniformsOf<typeof audienceProgram> }>;
  /** True when every set's top-N is selected on the GPU. */
  readonly gpuSelect: boolean;
}

/** Lays out a scan for the kernel: set descriptors, D and G, skip masks or the pool list, one dispatch per page. */
export function planScan(job: Pick<ScanJob, 'table' | 'snapshot' | 'pool' | 'sets' | 'alpha' | 'beta'>): ScanPlan {
  const { table, snapshot, pool, sets } = job;
  const P = pool ? pool.length : snapshot.rowCount;
  const S = sets.length;
  const rpp = table.rowsPerPage;
  const pages = Math.ceil(snapshot.rowCount / rpp);

  const setsData = new Uint32Array(S * 8);
  const dRows = sets.reduce((a, s) => a + s.set.rows, 0);
  const d = new Float32Array(dRows * table.stride);
  const gram = new Float32Array(Math.max(1, sets.reduce((a, s) => a + s.set.gram.length, 0)));
  const words = Math.ceil(snapshot.rowCount / 32);
  const skip = new Uint32Array(Math.max(1, pool ? 1 : S * words));
  let dAt = 0;
  let gAt = 0;
  sets.forEach((s, i) => {
    setsData.set([s.set.count, dAt, gAt, s.set.kPad, pool ? 0 : i * words, 0, 0, 0], i * 8);
    d.set(s.set.d, dAt * table.stride);
    gram.set(s.set.gram, gAt);
    dAt += s.set.rows;
    gAt += s.set.gram.length;
    if (!pool) {
      for (let w = 0; w < words; w++) skip[i * words + w] = snapshot.dead[w] | (s.skip?.[w] ?? 0);
    }
  });

  const perPage = new Uint32Array(pages + 1);
  let list = new Uint32Array(2);
  if (pool) {
    for (let i = 0; i < pool.length; i++) perPage[Math.floor(pool[i] / rpp) + 1]++;
    for (let p = 0; p < pages; p++) perPage[p + 1] += perPage[p];
    const fill = perPage.slice(0, pages);
    list = new Uint32Array(Math.max(2, pool.length * 2));
    for (let i = 0; i < pool.length; i++) {
      const p = Math.floor(pool[i] / rpp);
      const at = fill[p]++ * 2;
      list[at] = pool[i] - p * rpp;
      list[at + 1] = i;
    }
  }

  const dispatches: Array<ScanPlan['dispatches'][number]> = [];
  for (let p = 0; p < pages; p++) {
    const count = pool ? perPage[p + 1] - perPage[p] : Math.min(rpp, snapshot.rowCount - p * rpp);
    if (count === 0) continue;
    dispatches.push({
      page: p,
      count,
      params: {
        count, set_count: S, row_vec4: table.stride / 4, pool_mode: pool ? 1 : 0, row_base: 0, pos_base: p * rpp, list_base: pool ? perPage[p] : 0,
        positions: P, page_first_row: p * rpp, alpha: job.alpha, beta: job.beta, zero_norm: ZERO_NORM,
      },
    });
  }
  return { positions: P, pages, sets: setsData, d, gram, skip, list, dispatches, gpuSelect: sets.every((s) => s.topN <= GPU_LIMITS.maxTopK) };
}

/** Host selection over every score read back ((score, cos_g, cos_l, 0) per set and position). */
export function selectOnHost(results: Float32Array, sets: readonly ScanSet[], positions: number): ScoredRows[] {
  return sets.map((s, si) => {
    const sel = new TopSelector(s.topN, s.threshold);
    for (let i = 0; i < positions; i++) {
      const at = (si * positions + i) * 4;
      if (results[at] > SKIPPED_ABOVE) sel.offer(results[at], i, results[at + 1], results[at + 2]);
    }
    const h = sel.result();
    return { index: h.position, score: h.score, cosGlobal: h.cosGlobal, cosLocal: h.cosLocal };
  });
}

/** Drops skipped rows (sentinel scores) and, after a GPU selection, scores under the threshold. */
export function keptHits(rows: readonly ScoredRows[], sets: readonly ScanSet[]): ScanHits[] {
  return rows.map((r, si) => {
    const sel = new TopSelector(sets[si].topN, sets[si].threshold);
    for (let i = 0; i < r.index.length; i++) if (r.score[i] > SKIPPED_ABOVE) sel.offer(r.score[i], r.index[i], r.cosGlobal[i], r.cosLocal[i]);
    return sel.result();
  });
}

export class AudienceKernel {
  private readonly mirror: UserMirror;
  private readonly list: GrowableBuffer;
  private readonly sets: GrowableBuffer;
  private readonly d: GrowableBuffer;
  private readonly gram: GrowableBuffer;
  private readonly skip: GrowableBuffer;
  private readonly results: GrowableBuffer;
  private readonly uniforms: UniformPool;
  /** Scans run one at a time (they share these buffers); other GPU work interleaves between their pages. */
  private scanTail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly runtime: GpuRuntime,
    private readonly topK: TopKKernel,
  ) {
    this.mirror = new UserMirror(runtime);
    this.list = runtime.growable('audience pool list', Usage.STORAGE | Usage.COPY_DST);
    this.sets = runtime.growable('audience sets', Usage.STORAGE | Usage.COPY_DST);
    this.d = runtime.growable('audience D', Usage.STORAGE | Usage.COPY_DST);
    this.gram = runtime.growable('audience Gram', Usage.STORAGE | Usage.COPY_DST);
    this.skip = runtime.growable('audience skip masks', Usage.STORAGE | Usage.COPY_DST);
    this.results = runtime.growable('audience scores', Usage.STORAGE | Usage.COPY_SRC);
    this.uniforms = new UniformPool(runtime, 'audience uniforms');
  }

  canScan(positions: number, sets: number): boolean {
    return scanFits(positions, sets, this.runtime.limits);
  }

  scan(job: ScanJob): Promise<ScanHits[]> {
    const run = this.scanTail.then(() => this.scanNow(job));
    this.scanTail = run.catch(() => undefined);
    return run;
  }

  private async scanNow(job: ScanJob): Promise<ScanHits[]> {
    const { sets } = job;
    const P = scanPositions(job);
    const S = sets.length;
    if (P === 0 || S === 0) return sets.map(() => new TopSelector(0, 0).result());
    if (!this.canScan(P, S)) throw new RalmError('RALM_ERR_BACKEND_UNAVAILABLE', `a scan of ${P} users × ${S} seed sets exceeds this device's buffer limit`);
    for (const s of sets) {
      if (s.set.count > GPU_LIMITS.maxK) throw new RalmError('RALM_ERR_BACKEND_UNAVAILABLE', `the WebGPU audience kernel supports k <= ${GPU_LIMITS.maxK}`);
    }
    const plan = planScan(job);
    const rt = this.runtime;

    const results = await rt.exclusive(async () => {
      rt.assertAlive();
      this.mirror.sync(job.table, plan.pages);
      rt.write(this.sets.ensure(plan.sets.byteLength), 0, plan.sets);
      rt.write(this.d.ensure(plan.d.byteLength), 0, plan.d);
      rt.write(this.gram.ensure(plan.gram.byteLength), 0, plan.gram);
      rt.write(this.skip.ensure(plan.skip.byteLength), 0, plan.skip);
      rt.write(this.list.ensure(plan.list.byteLength), 0, plan.list);
      return this.results.ensure(P * S * 16);
    });

    let done = 0;
    for (const d of plan.dispatches) {
      if (job.signal?.aborted) throw cancelled();
      await rt.exclusive(async () => {
        rt.assertAlive();
        const page = this.mirror.pages[d.page];
        const params = this.uniforms.at(0);
        rt.writeUniforms(params, audienceProgram, d.params);
        const encoder = rt.device.createCommandEncoder({ label: `audience page ${d.page}` });
        const pass = encoder.beginComputePass();
        rt.dispatch(pass, audienceProgram, {
          params, rows: page.rows, norms: page.norms, list: this.list.buffer, sets: this.sets.buffer, dmat: this.d.buffer, gram: this.gram.buffer,
          skip: this.skip.buffer, results,
        }, d.count * S);
        pass.end();
        rt.device.queue.submit([encoder.finish()]);
        await rt.device.queue.onSubmittedWorkDone();
      });
      done += d.count * S;
      job.onProgress?.(done, P * S);
    }
    if (job.signal?.aborted) throw cancelled();

    const offsets = Uint32Array.from({ length: S + 1 }, (_, i) => i * P);
    const kept = await rt.exclusive(async (): Promise<ScoredRows[]> => {
      const encoder = rt.device.createCommandEncoder({ label: 'audience selection' });
      const pass = encoder.beginComputePass();
      if (plan.gpuSelect) return this.topK.select(sets.map((s) => ({ count: P, keep: s.topN })), offsets, encoder, pass, results);
      pass.end();
      const [raw] = await rt.readBack([{ src: results, bytes: P * S * 16 }], encoder);
      return selectOnHost(new Float32Array(raw), sets, P);
    });
    return keptHits(kept, sets);
  }
}

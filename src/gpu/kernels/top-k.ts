/**
 * Top-K on the GPU (top-k.wgsl), shared by ranking and the audience scan: select passes that
 * sort tiles of candidates and keep the best of each until every list fits one tile, then a
 * gather into result rows, so that only K rows per list are read back.
 */
import type { ScoredRows } from '../../core/backend.js';
import { GPU_LIMITS } from '../limits.js';
import { topKGatherProgram, topKSelectProgram, type UniformsOf } from '../programs.js';
import { Usage, UniformPool, type GpuRuntime, type GrowableBuffer } from '../runtime.js';

type TopKParams = UniformsOf<typeof topKSelectProgram>;

/** A list to select from: `count` scores in the results buffer, keep the best `keep`. */
export interface TopKSource {
  readonly count: number;
  readonly keep: number;
}

export interface TopKPlan {
  /** Tile descriptors of every pass, then the gather's list descriptors (vec4<u32> each). */
  readonly descs: Uint32Array;
  /** One select dispatch per pass: its uniforms and its workgroup (tile) count. */
  readonly passes: ReadonlyArray<{ readonly params: TopKParams; readonly tiles: number }>;
  readonly gather: { readonly params: TopKParams; readonly lists: number };
  /** Pairs the largest pass writes (each ping-pong buffer holds this many). */
  readonly pairs: number;
  /** Result rows the gather writes; list r's rows follow list r − 1's. */
  readonly rowCount: number;
  /** Rows kept per list. */
  readonly kept: readonly number[];
}

/**
 * Plans the select passes for `sources` (list r starts at results[offsets[r]]): the first pass
 * reads the scores, each later one re-tiles the survivors of the previous, until every list fits
 * one tile. keep ≤ GPU_LIMITS.maxTopK ≤ tile / 2 makes every pass at least halve a long list.
 */
export function planTopK(sources: readonly TopKSource[], offsets: Uint32Array, tile: number = GPU_LIMITS.topKTile): TopKPlan {
  const keep = sources.map((r) => Math.min(r.keep, r.count));
  const descs: number[] = [];
  const passes: Array<{ params: TopKParams; tiles: number }> = [];
  // lists[r] = (start, length) of list r's candidates in the current source.
  let lists = sources.map((r, i) => ({ start: offsets[i], length: r.count }));
  let first = true;
  let pairs = 0;
  for (;;) {
    const descOffset = descs.length / 4;
    let tiles = 0;
    let dst = 0;
    let more = false;
    const next: Array<{ start: number; length: number }> = [];
    lists.forEach((l, r) => {
      const nTiles = Math.max(1, Math.ceil(l.length / tile));
      if (nTiles > 1) more = true;
      const start = dst;
      for (let t = 0; t < nTiles; t++) {
        const count = Math.min(tile, l.length - t * tile);
        descs.push(l.start + t * tile, count, dst, t * tile, keep[r], 0, 0, 0);
        dst += Math.min(keep[r], count);
        tiles++;
      }
      next.push({ start, length: dst - start });
    });
    pairs = Math.max(pairs, dst);
    passes.push({ params: { tile_count: tiles, desc_offset: descOffset, first_pass: first ? 1 : 0, _pad: 0 }, tiles });
    lists = next;
    first = false;
    if (!more) break;
  }
  const gatherOffset = descs.length / 4;
  let rowCount = 0;
  lists.forEach((l, r) => {
    descs.push(l.start, l.length, offsets[r], rowCount);
    rowCount += l.length;
  });
  return {
    descs: Uint32Array.from(descs),
    passes,
    gather: { params: { tile_count: sources.length, desc_offset: gatherOffset, first_pass: 0, _pad: 0 }, lists: sources.length },
    pairs,
    rowCount,
    kept: lists.map((l) => l.length),
  };
}

/** Splits the gathered rows (position, score, cos_g, cos_l) into one ScoredRows per list. */
export function unpackRows(raw: ArrayBuffer, kept: readonly number[]): ScoredRows[] {
  const u = new Uint32Array(raw);
  const f = new Float32Array(raw);
  let at = 0;
  return kept.map((n) => {
    const out = { index: new Uint32Array(n), score: new Float32Array(n), cosGlobal: new Float32Array(n), cosLocal: new Float32Array(n) };
    for (let i = 0; i < n; i++, at++) {
      out.index[i] = u[at * 4];
      out.score[i] = f[at * 4 + 1];
      out.cosGlobal[i] = f[at * 4 + 2];
      out.cosLocal[i] = f[at * 4 + 3];
    }
    return out;
  });
}

export class TopKKernel {
  private readonly tiles: GrowableBuffer;
  private readonly pairsA: GrowableBuffer;
  private readonly pairsB: GrowableBuffer;
  private readonly rows: GrowableBuffer;
  private readonly uniforms: UniformPool;

  constructor(private readonly runtime: GpuRuntime) {
    this.tiles = runtime.growable('top-k tiles', Usage.STORAGE | Usage.COPY_DST);
    this.pairsA = runtime.growable('top-k pairs A', Usage.STORAGE);
    this.pairsB = runtime.growable('top-k pairs B', Usage.STORAGE);
    this.rows = runtime.growable('top-k rows', Usage.STORAGE | Usage.COPY_SRC);
    this.uniforms = new UniformPool(runtime, 'top-k pass uniforms');
  }

  /**
   * Encodes the select passes and the gather for `sources` into `pass` (after the dispatches that
   * wrote `results`), ends the pass, submits `encoder` and reads back the kept rows. Runs inside
   * the runtime's exclusive section.
   */
  async select(
    sources: readonly TopKSource[],
    offsets: Uint32Array,
    encoder: GPUCommandEncoder,
    pass: GPUComputePassEncoder,
    results: GPUBuffer,
  ): Promise<ScoredRows[]> {
    const rt = this.runtime;
    const plan = planTopK(sources, offsets);
    rt.write(this.tiles.ensure(plan.descs.byteLength), 0, plan.descs);
    const pairBytes = Math.max(16, plan.pairs * 8);
    const pairs = [this.pairsA.ensure(pairBytes), this.pairsB.ensure(pairBytes)];
    const rows = this.rows.ensure(Math.max(16, plan.rowCount * 16));
    const tiles = this.tiles.buffer;
    plan.passes.forEach((p, i) => {
      const params = this.uniforms.at(i);
      rt.writeUniforms(params, topKSelectProgram, p.params);
      rt.dispatch(pass, topKSelectProgram, { params, tiles, results, src: pairs[(i + 1) % 2], dst: pairs[i % 2] }, p.tiles);
    });
    const params = this.uniforms.at(plan.passes.length);
    rt.writeUniforms(params, topKGatherProgram, plan.gather.params);
    rt.dispatch(pass, topKGatherProgram, { params, tiles, results, src: pairs[(plan.passes.length - 1) % 2], rows }, plan.gather.lists);
    pass.end();
    const [raw] = await rt.readBack([{ src: rows, bytes: plan.rowCount * 16 }], encoder);
    return unpackRows(raw, plan.kept);
  }
}

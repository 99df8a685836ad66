/**
 * A request's candidates ordered by item page, so the kernel walks one page's memory at a time:
 * page runs of local slots, and each one's position in the request.
 */
import type { ItemTable } from '../core/item-table.js';
import type { Segment } from './workers/messages.js';

export interface PageRuns {
  /** Local slots (within their page), page by page. */
  localSlots: Uint32Array;
  /** For each entry of localSlots, its position in the request; null when the order is the request's (one page). */
  order: Uint32Array | null;
  /** Each page's range in localSlots. */
  runs: Segment[];
}

/** Orders candidate lists by page (a counting sort), reusing its buffers between calls. */
export class PageOrder {
  private counts = new Uint32Array(0);
  private order = new Uint32Array(0);
  private local = new Uint32Array(0);

  /**
   * The runs of `slots` in `table`. Into this object's buffers (valid until the next call), or,
   * with `own`, into new arrays that a job outliving the call can keep; `slots` itself is never
   * written and must not change while the runs are used.
   */
  of(slots: Uint32Array, table: ItemTable, own: boolean): PageRuns {
    const n = slots.length;
    const P = table.pages.length;
    const spp = table.slotsPerPage;
    // One page: the request's own slots, which live as long as the request (no copy, owned or not).
    if (P === 1) return { localSlots: slots, order: null, runs: [{ page: 0, from: 0, count: n }] };
    if (this.counts.length < P + 1) this.counts = new Uint32Array(P + 1);
    if (!own && this.order.length < n) {
      this.order = new Uint32Array(n);
      this.local = new Uint32Array(n);
    }
    const order = own ? new Uint32Array(n) : this.order;
    const localSlots = own ? new Uint32Array(n) : this.local;
    const counts = this.counts;
    counts.fill(0);
    for (let c = 0; c < n; c++) counts[((slots[c] / spp) | 0) + 1]++;
    for (let p = 0; p < P; p++) counts[p + 1] += counts[p];
    const fill = counts.slice(0, P);
    for (let c = 0; c < n; c++) {
      const slot = slots[c];
      const p = (slot / spp) | 0;
      const at = fill[p]++;
      order[at] = c;
      localSlots[at] = slot - p * spp;
    }
    const runs: Segment[] = [];
    for (let p = 0; p < P; p++) if (counts[p + 1] > counts[p]) runs.push({ page: p, from: counts[p], count: counts[p + 1] - counts[p] });
    return { localSlots, order, runs };
  }
}

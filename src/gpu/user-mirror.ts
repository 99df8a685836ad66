/**
 * The user table's pages (rows and norms) mirrored into device buffers for the audience scan,
 * uploading only the rows written since the last scan. A different table replaces the mirror.
 */
import type { UserPage, UserTable } from '../core/user-table.js';
import { Usage, type GpuRuntime } from './runtime.js';

export interface DeviceUserPage {
  readonly rows: GPUBuffer;
  readonly norms: GPUBuffer;
}

/**
 * Rows [lo, hi) of page `page` to upload: what was written since the last upload, or every row
 * in use when the page is new to the device.
 */
export function rowsToUpload(host: Pick<UserPage, 'dirtyLo' | 'dirtyHi'>, page: number, isNew: boolean, rowsPerPage: number, rowCount: number): [number, number] {
  if (isNew) return [0, Math.min(rowsPerPage, rowCount - page * rowsPerPage)];
  return [host.dirtyLo, host.dirtyHi];
}

export class UserMirror {
  private tableId: number | undefined;
  readonly pages: DeviceUserPage[] = [];

  constructor(private readonly runtime: GpuRuntime) {}

  /** Brings the first `pages` pages of `table` up to date on the device. */
  sync(table: UserTable, pages: number): void {
    const rt = this.runtime;
    if (this.tableId !== table.tableId) {
      for (const p of this.pages) {
        rt.release(p.rows);
        rt.release(p.norms);
      }
      this.pages.length = 0;
      this.tableId = table.tableId;
    }
    const rpp = table.rowsPerPage;
    const stride = table.stride;
    for (let p = 0; p < pages; p++) {
      const host = table.pages[p];
      const isNew = p >= this.pages.length;
      if (isNew) {
        this.pages.push({
          rows: rt.createBuffer(`user page ${p} rows`, rpp * stride * 4, Usage.STORAGE | Usage.COPY_DST),
          norms: rt.createBuffer(`user page ${p} norms`, rpp * 4, Usage.STORAGE | Usage.COPY_DST),
        });
      }
      const [lo, hi] = rowsToUpload(host, p, isNew, rpp, table.rowCount);
      if (lo < hi) {
        const dev = this.pages[p];
        rt.write(dev.rows, lo * stride * 4, host.rows.subarray(lo * stride, hi * stride));
        rt.write(dev.norms, lo * 4, host.norms.subarray(lo, hi));
      }
      host.dirtyLo = 0;
      host.dirtyHi = 0;
    }
  }
}

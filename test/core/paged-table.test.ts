import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PageSpace } from '../../src/core/paged-table.js';
import { ItemTable } from '../../src/core/item-table.js';
import { UserTable } from '../../src/core/user-table.js';

describe('PageSpace', () => {
  const make = (scratchBytes?: number) => new PageSpace<'a' | 'b', { bytes: number; shared: boolean }>(
    { what: 'a test page', unit: 'rows', field: 'rowsPerPage', rowsPerPage: 10, regions: { a: 40, b: 6 }, scratchBytes },
    (page) => ({ bytes: page.buffer.byteLength, shared: page.memory !== undefined }),
  );

  it('lays regions out in order and aligns the scratch to 64 bytes', () => {
    const s = make(100);
    assert.deepEqual(s.layout.offsets, { a: 0, b: 40 });
    assert.equal(s.layout.scratchOffset, 64);
    assert.equal(s.layout.totalBytes, 164);
  });

  it('pages are plain buffers without scratch and shared WebAssembly memories with it', () => {
    const plain = make();
    plain.addPage();
    assert.deepEqual(plain.pages[0], { bytes: 64, shared: false });
    const shared = make(100);
    assert.equal(shared.addPage(), 0);
    assert.equal(shared.addPage(), 1);
    assert.equal(shared.pages[1].shared, true);
    assert.equal(shared.pages[1].bytes, 65536, 'a shared page is whole 64 KiB WebAssembly pages');
    assert.equal(shared.capacity, 20);
    assert.equal(shared.pageOf(19), shared.pages[1]);
  });

  it('refuses a page above the WebAssembly memory limit, naming the option', () => {
    assert.throws(() => new ItemTable({ h: 128, k: 20, storage: 'f32', slotsPerPage: 1 << 20, wasmScratchBytes: 0 }), /a page of 1048576 slots needs \d+ bytes.*fewer slots per page/);
    assert.throws(() => new UserTable({ h: 128, maxCentroids: 20, rowsPerPage: 1 << 23 }), /a user page of 8388608 rows needs \d+ bytes.*fewer rows per page/);
    assert.throws(() => new ItemTable({ h: 8, k: 2, storage: 'f32', slotsPerPage: 0 }), (e: Error & { code?: string }) => e.code === 'RALM_ERR_VALIDATION' && /slotsPerPage/.test(e.message));
  });

  it('both tables share the layout: item regions and user regions at the offsets their kernels read', () => {
    const items = new ItemTable({ h: 6, k: 3, storage: 'f32', slotsPerPage: 4, wasmScratchBytes: 128 });
    assert.deepEqual(items.layout, { centroidsOffset: 0, globalsOffset: 4 * 3 * 8 * 4, metaOffset: 4 * 3 * 8 * 4 + 4 * 8 * 4, scratchOffset: 576, totalBytes: 704 });
    const users = new UserTable({ h: 6, maxCentroids: 3, rowsPerPage: 5 });
    assert.equal(users.layout.normsOffset, 5 * 8 * 4);
    assert.equal(users.layout.scratchOffset, 192);
  });
});

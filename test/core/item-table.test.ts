import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ItemTable, paddedStride } from '../../src/core/item-table.js';
import { gramBlockFloats, writeGram, writeGramBlocks } from '../../src/core/quantize.js';
import { floatToHalfBits, halfBitsToFloat } from '../../src/util/half.js';

function table(spp = 4): ItemTable {
  return new ItemTable({ h: 3, k: 2, storage: 'f32', slotsPerPage: spp });
}

function put(t: ItemTable, ids: string[], value = 1): number[] {
  const { slots } = t.allocate(ids.length);
  slots.forEach((s) => t.writeSlot(s, Float32Array.of(value, value, value), 1, Float32Array.of(value, 0, 0), value));
  t.publish(ids, slots);
  return slots;
}

describe('item table', () => {
  it('pads rows to a multiple of 8 and adds pages as it grows', () => {
    const t = table(4);
    assert.equal(t.stride, 8);
    assert.equal(paddedStride(128), 128);
    put(t, ['a', 'b', 'c', 'd', 'e']);
    assert.equal(t.pages.length, 2);
    assert.equal(t.size, 5);
    assert.equal(t.pages[0].centroids.length, 4 * 2 * 8);
  });

  it('writes zero padding past the item count', () => {
    const t = table();
    const [slot] = t.allocate(1).slots;
    t.pages[0].centroids.fill(9);
    t.writeSlot(slot, Float32Array.of(1, 2, 3), 1, Float32Array.of(4, 5, 6), 7);
    const base = (slot % 4) * 2 * 8;
    assert.deepEqual(Array.from(t.pages[0].centroids.subarray(base, base + 16)), [1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(t.pages[0].meta[(slot % 4) * 2], 1);
    assert.equal(t.pages[0].metaF32[(slot % 4) * 2 + 1], 7);
  });

  it('int8 storage: codes with a scale per row, float32 rows holding their values, the Gram matrix of the rows', () => {
    const t = new ItemTable({ h: 3, k: 2, storage: 'int8', slotsPerPage: 4 });
    const [, slot] = t.allocate(2).slots;
    t.writeSlot(slot, Float32Array.of(0.5, -1.27, 0.01, 2, 0, -0.3), 2, Float32Array.of(1, 0, 0), 1);
    const page = t.pages[0];
    const { rowBytes, kPad } = t.layout.int8 ?? assert.fail('no int8 layout');
    assert.deepEqual([rowBytes, kPad], [16, 4]);
    const local = slot % 4;
    const codes = Array.from((page.codes as Int8Array).subarray(local * 2 * rowBytes, local * 2 * rowBytes + rowBytes + 3));
    assert.deepEqual(codes, [50, -127, 1, ...new Array(13).fill(0), 127, 0, -19]);
    const [s0, s1] = (page.scales as Float32Array).subarray(local * kPad, local * kPad + kPad);
    assert.equal(s0, Math.fround(1.27 / 127));
    assert.equal(s1, Math.fround(2 / 127));
    const rows = page.centroids.subarray(local * 2 * t.stride, local * 2 * t.stride + t.stride + 3);
    assert.deepEqual(Array.from(rows.subarray(0, 3)), [50, -127, 1].map((c) => Math.fround(c * s0)));
    assert.deepEqual(Array.from(rows.subarray(t.stride, t.stride + 3)), [127, 0, -19].map((c) => Math.fround(c * s1)));
    // kPad 4: one block, stored as its four rows (writeGramBlocks).
    assert.equal(gramBlockFloats(kPad), 16);
    const g = (page.gram as Float32Array).subarray(local * 16, (local + 1) * 16);
    const dot = (a: number, b: number): number => Math.fround([0, 1, 2].reduce((acc, i) => acc + rows[a * t.stride + i] * rows[b * t.stride + i], 0));
    assert.deepEqual([g[0], g[1], g[4], g[5], g[2], g[15]], [dot(0, 0), dot(0, 1), dot(1, 0), dot(1, 1), 0, 0]);
  });

  it('stores the Gram matrix as its blocks on and right of the diagonal, each block column by column', () => {
    // 7 rows of width 5: side 8, blocks (0,0), (0,1), (1,1); row 6 and the padding row 7 are zero past count.
    const h = 5;
    const count = 6;
    const rows = Float32Array.from({ length: 7 * h }, (_, i) => Math.sin(i * 1.7) * 2);
    const full = new Float32Array(64);
    writeGram(rows, 0, h, h, count, 8, full, 0);
    assert.equal(gramBlockFloats(8), 48);
    const out = new Float32Array(2 + 48).fill(NaN);
    writeGramBlocks(rows, 0, h, h, count, 8, out, 2);
    const want: number[] = [];
    for (const [a, b] of [[0, 0], [0, 4], [4, 4]]) for (let i = 0; i < 4; i++) for (let l = 0; l < 4; l++) want.push(full[(b + i) * 8 + a + l]);
    assert.deepEqual(Array.from(out.subarray(2)), want);
    assert.ok(Number.isNaN(out[1]));
    // Symmetric, so vector i of block (0, 1) is G[4 + i][0..4) = column 4 + i of rows 0..3.
    assert.equal(out[2 + 16 + 4 * 1 + 2], full[2 * 8 + 5]);
    assert.equal(out[2 + 32 + 15], 0);
  });

  it('an upsert never reuses a slot that a live snapshot can still read', () => {
    const t = table(4);
    const [a0] = put(t, ['a']);
    const snap = t.acquire();
    const resolved = t.resolve(['a']);
    assert.equal(resolved[0], a0);
    // Replace "a" many times while the snapshot is pinned: its slot must stay untouched.
    const seen = new Set<number>();
    for (let i = 0; i < 10; i++) seen.add(put(t, ['a'], i + 2)[0]);
    assert.ok(!seen.has(a0));
    assert.equal(t.pages[0].meta[(a0 % 4) * 2], 1);
    assert.equal(t.pages[0].metaF32[(a0 % 4) * 2 + 1], 1);
    assert.ok(t.pendingReclaim >= 1);
    snap.release();
    snap.release(); // idempotent
    assert.equal(t.pendingReclaim, 0);
    // After release the old slots come back instead of growing the table.
    const before = t.capacity;
    put(t, ['z1', 'z2']);
    assert.equal(t.capacity, before);
  });

  it('a slot a snapshot pins keeps naming its item after a replacement or removal, until it is reclaimed', () => {
    const t = table(4);
    const [a0, b0] = put(t, ['a', 'b']);
    const snap = t.acquire();
    const [a1] = put(t, ['a'], 5);
    t.remove(['b']);
    assert.deepEqual([t.idOf(a0), t.idOf(b0), t.idOf(a1)], ['a', 'b', 'a']);
    assert.equal(t.has('b'), false);
    snap.release();
    assert.deepEqual([t.idOf(a0), t.idOf(b0), t.idOf(a1)], [undefined, undefined, 'a']);
  });

  it('removal hides an item at once and resolves unknown ids into one error naming them', () => {
    const t = table();
    put(t, ['a', 'b']);
    assert.deepEqual(t.remove(['a', 'x']), ['x']);
    assert.throws(() => t.resolve(['b', 'a', 'q']), /candidates: 2 unknown item ids: "a", "q"/);
    assert.deepEqual(t.allSlots().ids, ['b']);
  });

  it('candidates: ids to slots in one pass; repeats (first wins) and exclusions dropped with their ids; unknown ids refused before anything else', () => {
    const t = table();
    const [a, b, c, d] = put(t, ['a', 'b', 'c', 'd']);
    const given = ['c', 'a', 'd'];
    const plain = t.candidates(given, undefined);
    assert.deepEqual(Array.from(plain.slots), [c, a, d]);
    assert.equal(plain.ids, given, 'no repeat: the request\'s own list is kept, not copied');
    const some = t.candidates(['b', 'a', 'b', 'c', 'a', 'd'], ['c', 'zz']);
    assert.deepEqual(Array.from(some.slots), [b, a, d]);
    assert.deepEqual(some.ids, ['b', 'a', 'd']);
    const repeatFirst = t.candidates(['a', 'a', 'b'], []);
    assert.deepEqual([Array.from(repeatFirst.slots), repeatFirst.ids], [[a, b], ['a', 'b']]);
    const allBut = t.candidates(undefined, ['b']);
    assert.deepEqual([Array.from(allBut.slots), allBut.ids], [[a, c, d].sort((x, y) => x - y), ['a', 'c', 'd']]);
    assert.equal(t.candidates(undefined, undefined).slots.length, 4);
    assert.equal(t.candidates(undefined, ['nope']).slots.length, 4);
    assert.throws(() => t.candidates(['a', 'x', 'a', 'y'], ['a'], 'req.candidates'), (e: Error & { code: string; details: { unknown: string[] } }) =>
      e.code === 'RALM_ERR_UNKNOWN_ITEM' && /^req\.candidates: 2 unknown item ids: "x", "y"$/.test(e.message) && e.details.unknown.join() === 'x,y');
  });

  it('float → half rounding matches IEEE round-to-nearest-even', () => {
    const cases: Array<[number, number]> = [
      [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [1e-8, 0x0000], [2 ** -24, 0x0001],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [Infinity, 0x7c00], [-0, 0x8000],
    ];
    for (const [v, bits] of cases) assert.equal(floatToHalfBits(v), bits, `f16(${v})`);
    assert.ok(Number.isNaN(halfBitsToFloat(floatToHalfBits(NaN))));
    for (let i = 0; i < 0x7c00; i += 7) assert.equal(floatToHalfBits(halfBitsToFloat(i)), i);
  });
});

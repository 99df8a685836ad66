import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSafetensors, serializeSafetensors, halfToFloat } from '../../src/model/safetensors.js';

/** Builds a file by hand from a header object and raw data bytes. */
function build(header: unknown, data: Uint8Array, headerLenOverride?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLenOverride ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips float32 tensors and metadata, with an 8-byte aligned data section', () => {
    const a = Float32Array.from([1, -2.5, 3.25, 0, 1e-30, -1e30]);
    const bytes = serializeSafetensors({ a: { shape: [2, 3], data: a }, b: { shape: [1], data: Float32Array.of(7) } }, { note: 'x' });
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal((8 + headerLen) % 8, 0);
    const f = parseSafetensors(bytes);
    assert.deepEqual(f.metadata, { note: 'x' });
    assert.deepEqual(f.tensors.get('a')?.shape, [2, 3]);
    assert.deepEqual(Array.from(f.tensors.get('a')?.data ?? []), Array.from(a));
    assert.equal(f.tensors.get('b')?.data[0], 7);
  });

  it('reads F16, BF16 and F64 (a model exported from PyTorch in half precision)', () => {
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001]).buffer); // 1, -2, ~0.333, smallest subnormal
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc040]).buffer); // 1, -3
    const f64 = new Uint8Array(new Float64Array([0.5, -1e10]).buffer);
    const data = new Uint8Array([...f16, ...bf16, ...f64]);
    const file = build({ h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] }, b: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] }, d: { dtype: 'F64', shape: [2], data_offsets: [12, 28] } }, data);
    const t = parseSafetensors(file).tensors;
    assert.deepEqual(Array.from(t.get('h')?.data ?? []).slice(0, 2), [1, -2]);
    assert.ok(Math.abs((t.get('h')?.data[2] ?? 0) - 1 / 3) < 1e-3);
    assert.equal(t.get('h')?.data[3], 2 ** -24);
    assert.deepEqual(Array.from(t.get('b')?.data ?? []), [1, -3]);
    assert.deepEqual(Array.from(t.get('d')?.data ?? []), [0.5, Math.fround(-1e10)]);
    assert.equal(halfToFloat(0x7c00), Infinity);
    assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  });

  const cases: Array<[string, () => Uint8Array, RegExp]> = [
    ['a file shorter than the length prefix', () => new Uint8Array(4), /at least an 8-byte header length/],
    ['a header length past the end', () => build({}, new Uint8Array(0), 1000), /header length 1000 does not fit/],
    ['a header that is not JSON', () => { const b = build({}, new Uint8Array(0)); b[8] = 0x7b; b[9] = 0x7b; return b; }, /not valid UTF-8 JSON/],
    ['an unsupported dtype', () => build({ w: { dtype: 'I8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), /tensor "w": dtype "I8" is not supported/],
    ['a size that does not match the shape', () => build({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /tensor "w": holds 8 bytes but shape \[3\] of F32 needs 12/],
    ['offsets past the data section', () => build({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)), /tensor "w": data_offsets \[0, 16\] run past/],
    ['a hole between tensors', () => build({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, new Uint8Array(12)), /tensor "b": leaves a hole before byte 8/],
    ['overlapping tensors', () => build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /overlaps the previous tensor/],
    ['trailing bytes', () => build({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8)), /4 trailing bytes/],
    ['a negative dimension', () => build({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }, new Uint8Array(0)), /tensor "a": shape must be an array of non-negative integers/],
  ];
  for (const [name, make, message] of cases) {
    it(`rejects ${name}, naming the problem`, () => {
      assert.throws(() => parseSafetensors(make()), (err: Error & { code?: string }) => err.code === 'RALM_ERR_MODEL_FORMAT' && message.test(err.message));
    });
  }
});

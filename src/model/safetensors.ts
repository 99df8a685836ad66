/**
 * Reader and writer for the safetensors format (huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON `{name: {dtype, shape, data_offsets}}`
 * (plus an optional `__metadata__` map of strings), then the raw little-endian tensor bytes.
 * Offsets are relative to the start of the data section and must tile it without holes
 * or overlaps. We read F32, F16, BF16 and F64 (converted to Float32Array, so a model
 * exported from PyTorch in half precision loads as is) and write F32.
 */
import { RalmError } from '../util/errors.js';
import { halfBitsToFloat } from '../util/half.js';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64';

export interface Tensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Values as float32, row-major. */
  readonly data: Float32Array;
}

export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, Tensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
/** Refuse absurd headers before parsing them (the reference implementation caps at 100 MB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function formatError(message: string, tensor?: string): RalmError {
  return new RalmError('RALM_ERR_MODEL_FORMAT', tensor ? `tensor "${tensor}": ${message}` : message, tensor ? { tensor } : undefined);
}

/** IEEE 754 half to float (re-exported for callers of this module). */
export { halfBitsToFloat as halfToFloat } from '../util/half.js';

function decode(bytes: Uint8Array, dtype: SafetensorsDtype, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = halfBitsToFloat(view.getUint16(i * 2, true));
      break;
    case 'BF16': {
      const tmp = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        tmp.setUint32(0, view.getUint16(i * 2, true) << 16, true);
        out[i] = tmp.getFloat32(0, true);
      }
      break;
    }
  }
  return out;
}

/** Parses a whole safetensors file. Every structural problem is reported with the tensor it concerns. */
export function parseSafetensors(file: Uint8Array): SafetensorsFile {
  if (file.byteLength < 8) throw formatError(`file is ${file.byteLength} bytes, expected at least an 8-byte header length`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > file.byteLength) {
    throw formatError(`header length ${headerLen} does not fit in a ${file.byteLength}-byte file`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(8, 8 + headerLen)));
  } catch (err) {
    throw formatError(`header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw formatError('header is not a JSON object');

  const dataStart = 8 + headerLen;
  const dataLen = file.byteLength - dataStart;
  const tensors = new Map<string, Tensor>();
  let metadata: Record<string, string> = {};
  const ranges: Array<[number, number, string]> = [];

  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Object.values(entry).some((v) => typeof v !== 'string')) {
        throw formatError('__metadata__ must be an object of strings');
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) throw formatError('entry is not an object', name);
    if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) {
      throw formatError(`dtype ${JSON.stringify(e.dtype)} is not supported, expected one of ${Object.keys(DTYPE_BYTES).join(', ')}`, name);
    }
    const dtype = e.dtype as SafetensorsDtype;
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw formatError('shape must be an array of non-negative integers', name);
    }
    const shape = e.shape as number[];
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1]) {
      throw formatError('data_offsets must be [begin, end] with 0 <= begin <= end', name);
    }
    const [begin, end] = offs as [number, number];
    if (end > dataLen) throw formatError(`data_offsets [${begin}, ${end}] run past the ${dataLen}-byte data section`, name);
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * DTYPE_BYTES[dtype]) {
      throw formatError(`holds ${end - begin} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${count * DTYPE_BYTES[dtype]}`, name);
    }
    ranges.push([begin, end, name]);
    tensors.set(name, { dtype, shape, data: decode(file.subarray(dataStart + begin, dataStart + end), dtype, count) });
  }

  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cursor = 0;
  for (const [begin, end, name] of ranges) {
    if (begin !== cursor) {
      throw formatError(begin < cursor ? `overlaps the previous tensor at byte ${begin}` : `leaves a hole before byte ${begin}`, name);
    }
    cursor = end;
  }
  if (cursor !== dataLen) throw formatError(`data section has ${dataLen - cursor} trailing bytes not covered by any tensor`);
  return { tensors, metadata };
}

export interface TensorToWrite {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Serialises float32 tensors (in the given key order) with optional string metadata. */
export function serializeSafetensors(tensors: Record<string, TensorToWrite>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw formatError(`shape [${t.shape.join(', ')}] needs ${count} values, got ${t.data.length}`, name);
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + count * 4] };
    offset += count * 4;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data section starts 8-byte aligned, as the reference writer does.
  const headerBytes = new TextEncoder().encode(json);
  const padded = Math.ceil(headerBytes.byteLength / 8) * 8;
  json += ' '.repeat(padded - headerBytes.byteLength);
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(padded), true);
  out.set(new TextEncoder().encode(json), 8);
  let cursor = 8 + padded;
  for (const t of Object.values(tensors)) {
    for (let i = 0; i < t.data.length; i++) view.setFloat32(cursor + i * 4, t.data[i], true);
    cursor += t.data.length * 4;
  }
  return out;
}

/**
 * Large replies (an audience's users: up to 100,000 in a page, 200,000 in a synchronous answer)
 * encoded in slices and sent as a stream, so that encoding them never holds the event loop for
 * long: one JSON.stringify of 100,000 users took ~240 ms. The bytes are the same as the one-shot
 * encoding's, in JSON and in MessagePack (an object is a map; the rows' array is written with its
 * length first, then the rows, which the format allows to be concatenated).
 */
import type { FastifyReply } from 'fastify';
import { Packr } from 'msgpackr';
import { Readable } from 'node:stream';
import { TimeSlicer } from '../util/time-slice.js';
import { jsonSerializer, MSGPACK } from './plugins/encoding.js';

/** Replies with fewer rows than this are encoded at once, as any other reply. */
export const STREAM_ROWS_FROM = 5000;

/** Rows encoded between checks of the time slice. */
const ROWS_PER_PIECE = 2048;

const packr = new Packr({ useRecords: false, moreTypes: true });

/** A reply object with one large array: the fields before it, its name and rows, the fields after it. */
export interface RowsReply {
  head: Record<string, unknown>;
  field: string;
  count: number;
  row: (i: number) => unknown;
  tail?: Record<string, unknown>;
}

/**
 * Sends `r` in the encoding the request chose (the content type the encoding plugin set): as a
 * plain object when small, else as a stream encoded in time slices.
 */
export function sendRows(reply: FastifyReply, r: RowsReply): FastifyReply {
  const msgpack = String(reply.getHeader('content-type') ?? '').startsWith(MSGPACK);
  if (r.count < STREAM_ROWS_FROM) {
    return reply.send({ ...r.head, [r.field]: Array.from({ length: r.count }, (_, i) => r.row(i)), ...r.tail });
  }
  reply.type(msgpack ? MSGPACK : 'application/json; charset=utf-8');
  return reply.send(Readable.from(msgpack ? msgpackPieces(r) : jsonPieces(r), { objectMode: false }));
}

async function* jsonPieces(r: RowsReply): AsyncGenerator<Buffer> {
  const head = jsonSerializer(r.head).slice(0, -1);
  yield Buffer.from(`${head}${head.length > 1 ? ',' : ''}${JSON.stringify(r.field)}:[`);
  const slicer = new TimeSlicer();
  for (let i = 0; i < r.count; ) {
    let s = '';
    for (const end = Math.min(r.count, i + ROWS_PER_PIECE); i < end; i++) s += (i > 0 ? ',' : '') + JSON.stringify(r.row(i));
    yield Buffer.from(s);
    await slicer.tick();
  }
  const tail = r.tail && Object.keys(r.tail).length > 0 ? `,${jsonSerializer(r.tail).slice(1)}` : '}';
  yield Buffer.from(`]${tail}`);
}

async function* msgpackPieces(r: RowsReply): AsyncGenerator<Buffer> {
  const before = Object.entries(r.head);
  const after = Object.entries(r.tail ?? {});
  const parts: Buffer[] = [mapHeader(before.length + 1 + after.length)];
  for (const [k, v] of before) parts.push(packr.pack(k), packr.pack(v));
  parts.push(packr.pack(r.field), arrayHeader(r.count));
  yield Buffer.concat(parts);
  const slicer = new TimeSlicer();
  for (let i = 0; i < r.count; ) {
    const list: Buffer[] = [];
    for (const end = Math.min(r.count, i + ROWS_PER_PIECE); i < end; i++) list.push(packr.pack(r.row(i)));
    yield Buffer.concat(list);
    await slicer.tick();
  }
  yield Buffer.concat(after.flatMap(([k, v]) => [packr.pack(k), packr.pack(v)]));
}

function mapHeader(n: number): Buffer {
  if (n < 16) return Buffer.from([0x80 | n]);
  const b = Buffer.alloc(3);
  b[0] = 0xde;
  b.writeUInt16BE(n, 1);
  return b;
}

function arrayHeader(n: number): Buffer {
  if (n < 16) return Buffer.from([0x90 | n]);
  if (n < 65536) {
    const b = Buffer.alloc(3);
    b[0] = 0xdc;
    b.writeUInt16BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = 0xdd;
  b.writeUInt32BE(n, 1);
  return b;
}

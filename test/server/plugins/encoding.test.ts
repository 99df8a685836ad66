/**
 * The encoding plugin on its own, in a bare Fastify app: MessagePack typed arrays and raw float32
 * bytes become number arrays before the schema validates them, wherever the schema has a vector
 * and nowhere else; replies are JSON or MessagePack as asked.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { Packr, pack, unpack } from 'msgpackr';
import { checkPlainData, encoding, vectorPaths } from '../../../src/server/plugins/encoding.js';
import { errorHandlers } from '../../../src/server/plugins/error-handler.js';
import { validation } from '../../../src/server/plugins/validation.js';
import { Metrics } from '../../../src/server/metrics.js';

const vec = { type: 'array', items: { type: 'number' } };
const body = {
  type: 'object',
  properties: { v: vec, nested: { type: 'object', properties: { list: { type: 'array', items: vec } } }, blob: {}, note: { type: 'string' } },
};

describe('encoding plugin', () => {
  let app: FastifyInstance;
  let seen: Record<string, unknown> = {};

  before(async () => {
    app = Fastify();
    validation(app);
    encoding(app);
    errorHandlers(app, { metrics: new Metrics(), bodyLimit: 1 << 20 });
    app.post('/echo', { schema: { body } }, async (req) => {
      seen = req.body as Record<string, unknown>;
      return { out: Float32Array.of(1.5, -2) };
    });
    await app.ready();
  });
  after(() => app.close());

  const post = (payload: unknown, accept = 'application/msgpack') =>
    app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/msgpack', accept }, payload: pack(payload) });

  it('finds the vectors of a schema: properties, and every element of an array of vectors', () => {
    assert.deepEqual(vectorPaths(body), [['v'], ['nested', 'list', '*']]);
    assert.deepEqual(vectorPaths({ type: 'object', properties: { k: { type: 'integer' } } }), []);
    assert.deepEqual(vectorPaths(undefined), []);
  });

  it('typed arrays (msgpackr extension) and raw float32 bytes reach validation and the handler as number arrays', async () => {
    // Plain pack sends a typed array as its bytes; moreTypes as msgpackr's typed-array extension.
    const typed = new Packr({ useRecords: false, moreTypes: true });
    const bytes = Float32Array.of(0.25, -1, 3);
    const res = await app.inject({
      method: 'POST', url: '/echo', headers: { 'content-type': 'application/msgpack', accept: 'application/msgpack' },
      payload: typed.pack({ v: Float32Array.of(0.5, 2), nested: { list: [Buffer.from(bytes.buffer), Float64Array.of(7)] } }),
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(seen.v, [0.5, 2]);
    assert.deepEqual((seen.nested as { list: unknown[] }).list, [[0.25, -1, 3], [7]]);
    assert.ok(unpack(res.rawPayload).out instanceof Float32Array, 'typed arrays go out as typed arrays in MessagePack');
  });

  it('bytes outside a vector field are left as they came', async () => {
    const res = await post({ v: [1], blob: Buffer.from([1, 2, 3]) });
    assert.equal(res.statusCode, 200, res.body);
    assert.ok(seen.blob instanceof Uint8Array);
    assert.equal((seen.blob as Uint8Array).length, 3);
  });

  it('bytes that are not whole float32s, and a NaN, are coded errors naming the field', async () => {
    const odd = await post({ nested: { list: [[1], Buffer.from([1, 2, 3, 4, 5])] } });
    assert.equal(odd.statusCode, 400);
    const e1 = unpack(odd.rawPayload).error;
    assert.equal(e1.code, 'RALM_ERR_VALIDATION');
    assert.match(e1.message, /^nested\.list\[1\]: binary vectors are little-endian float32, so their length must be a multiple of 4 bytes, got 5/);
    const nan = await post({ v: Float32Array.of(1, 2, NaN) }, 'application/json');
    assert.equal(nan.statusCode, 400);
    assert.deepEqual(nan.json().error.details, { field: 'v', index: 2 });
    assert.equal(nan.json().error.code, 'RALM_ERR_NON_FINITE');
    assert.match(nan.json().error.message, /^v\[2\]: expected a finite number, got NaN/);
  });

  it('a vector of the wrong element type is refused by the schema', async () => {
    const res = await post({ v: ['a'] }, 'application/json');
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.message, 'v[0]: expected a number, got "a"');
  });

  it('JSON replies carry typed arrays as number arrays; an Accept picks the encoding', async () => {
    const res = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: { v: [1] } });
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(res.json(), { out: [1.5, -2] });
    const mp = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json', accept: 'application/msgpack' }, payload: { v: [1] } });
    assert.equal(mp.headers['content-type'], 'application/msgpack');
  });

  it('the plain-data check passes long lists of leaves and still names the first bad value among them', async () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => `i${i}`);
    await checkPlainData({ candidates: ids, flags: [true, false, null], k: 10, user: { embedding: [0.5, -1] } });
    await assert.rejects(checkPlainData({ candidates: ids, blob: { list: ['a', 1, Infinity, 'b'] } }),
      (e: Error & { code: string }) => e.code === 'RALM_ERR_NON_FINITE' && /^blob\.list\[2\]: expected a finite number, got Infinity$/.test(e.message));
    await assert.rejects(checkPlainData({ candidates: [...ids.slice(0, 3), new Date(0)] }),
      (e: Error & { code: string }) => e.code === 'RALM_ERR_VALIDATION' && /^candidates\[3\]: a Date is not a value/.test(e.message));
    let deep: unknown = 'leaf';
    for (let i = 0; i < 40; i++) deep = [deep];
    await assert.rejects(checkPlainData({ deep }), (e: Error & { code: string }) => e.code === 'RALM_ERR_VALIDATION' && /nested deeper than 32 levels/.test(e.message));
  });
});

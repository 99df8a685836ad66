/**
 * Requests for the HTTP fuzzer (test/server/fuzz.test.ts): fast-check arbitraries for every route
 * of the API, each body sent as JSON, as MessagePack or as raw bytes, and each either valid for the
 * small world the server holds or mutated — a field replaced by a value of the wrong type, a huge,
 * deep or odd one, a non-finite or float32-overflowing number, a MessagePack type the API does not
 * take (ext, Map, Set, Date, binary, bigint, typed arrays), a field dropped or added — with odd ids
 * in paths, odd query strings and odd headers.
 */
import fc from 'fast-check';
import { Packr, addExtension } from 'msgpackr';

/** What the fuzzer knows of the world the server holds. */
export interface FuzzWorld {
  users: readonly string[];
  items: readonly string[];
  /** Widths of the look-alike (h) and universal (m) embeddings. */
  h: number;
  m: number;
  /** The user tower's fields: a few values of each vocabulary, and the continuous fields. */
  vocab: Readonly<Record<string, readonly string[]>>;
  continuous: readonly string[];
  /** Audience jobs known to exist (the fuzzer adds those it creates). */
  jobs: string[];
  /** Bearer tokens: one with every scope, one that may only read. */
  tokens: { all: string; read: string };
  /** A model directory a reload may name (relative to the models root). */
  modelDir: string;
}

export type Encoding = 'json' | 'msgpack' | 'raw';

export interface FuzzCase {
  /** The route as the API names it (`GET /v1/users/:id`), or what was aimed at. */
  route: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  encoding: Encoding;
  /** What the case is, for reports: valid, mutated, raw … */
  kind: string;
  /** The request's body before encoding (a report shows it). */
  value?: unknown;
  /** A raw-socket case: the request's bytes as written (test/helpers/fuzz-wire.ts). */
  wire?: Buffer;
}

/** A MessagePack extension the API has never heard of (type 0x42). */
class Unknown {
  constructor(readonly bytes: Buffer) {}
}
addExtension({ Class: Unknown, type: 0x42, write: (u: Unknown) => u.bytes, read: (b: Buffer) => new Unknown(b) });

const packr = new Packr({ useRecords: false, moreTypes: true });

// ---- values --------------------------------------------------------------------------------------

/** Numbers that break naive code: float32 overflow, subnormals, the edges of safe integers. */
const ODD_NUMBERS = [
  // At and around the engine's accepted magnitude (VALUE_LIMIT, 1e12): accepted, then transformed.
  1e11, 9.99e11, 1e12, -1e12, 1.0000001e12,
  0, -0, 1, -1, 0.5, 1e-45, 5e-324, 1.17e-38, 3e38, 3.4028234e38, 3.4028236e38, 3.5e38, -3.5e38, 1e39, 1e300, -1e308, Number.MAX_VALUE,
  Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, -Number.MAX_SAFE_INTEGER - 2, 2 ** 31, 2 ** 32, -(2 ** 31) - 1, 1e21, NaN, Infinity, -Infinity,
];

const number = fc.oneof(
  { weight: 4, arbitrary: fc.double({ min: -2, max: 2, noNaN: true }) },
  { weight: 2, arbitrary: fc.constantFrom(...ODD_NUMBERS) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.integer() },
);

const oddString = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.constantFrom('', ' ', 'NaN', 'Infinity', '-Infinity', '1e999', '0x10', '__proto__', 'constructor', 'prototype', 'null', '\u0000', '\ud800', '../../etc/passwd', '/', '%', 'a'.repeat(256)),
  fc.integer({ min: 250, max: 300 }).map((n) => 'x'.repeat(n)),
  fc.constantFrom(10_000, 200_000).map((n) => 'y'.repeat(n)),
);

/** Nested `depth` levels deep, in arrays or objects. */
const deep = fc.tuple(fc.integer({ min: 20, max: 200 }), fc.boolean()).map(([depth, arrays]) => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = arrays ? [v] : { a: v };
  return v;
});

const bigArray = fc.tuple(fc.constantFrom(1000, 50_000, 300_000), fc.constantFrom<unknown>(0, 1.5, 'u', null, 3.5e38)).map(([n, v]) => new Array<unknown>(n).fill(v));

/** What MessagePack can carry and JSON cannot (JSON sends its nearest form; see toJson). */
const msgpackOnly = fc.oneof(
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.date({ noInvalidDate: false }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer()).map((d) => new Map(Object.entries(d))),
  fc.array(fc.integer(), { maxLength: 4 }).map((a) => new Map<unknown, unknown>([[1, 'one'], [a, 'array key'], [{ k: 1 }, 'object key']])),
  fc.array(fc.integer(), { maxLength: 4 }).map((a) => new Set(a)),
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
  fc.array(number, { maxLength: 80 }).map((a) => Float32Array.from(a)),
  fc.array(number, { maxLength: 80 }).map((a) => Float64Array.from(a)),
  fc.array(fc.integer({ min: -128, max: 127 }), { maxLength: 80 }).map((a) => Int8Array.from(a)),
  fc.uint8Array({ maxLength: 16 }).map((b) => new Unknown(Buffer.from(b))),
  fc.constant(/re+gexp/g),
  fc.constant(new Error('an error value')),
);

/** A value that does not belong where it is put. */
export const weird: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: number },
  { weight: 3, arbitrary: oddString },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, true, false, {}, [], [[]], [null], { __proto__: { polluted: 1 } }, JSON.parse('{"__proto__":{"polluted":1}}')) },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: bigArray },
  { weight: 2, arbitrary: fc.array(number, { maxLength: 70 }) },
  { weight: 2, arbitrary: msgpackOnly },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

// ---- valid bodies for the world ------------------------------------------------------------------

const vector = (n: number) => fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: n, maxLength: n }) },
  // The right width with odd values: large, tiny, float32-overflowing, non-finite.
  { weight: 2, arbitrary: fc.array(number, { minLength: n, maxLength: n }) },
  { weight: 1, arbitrary: fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: n, maxLength: n }).map((a) => Float32Array.from(a)) },
  { weight: 1, arbitrary: fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: n, maxLength: n }).map((a) => Buffer.from(Float32Array.from(a).buffer)) },
);

export function bodies(w: FuzzWorld): Record<string, fc.Arbitrary<unknown>> {
  const userId = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...w.users) }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) });
  // Unknown ids are rare: one in a list makes the whole request a 404, and the rest of it goes untried.
  const itemId = fc.oneof({ weight: 20, arbitrary: fc.constantFrom(...w.items) }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) });
  const featureValues = fc.record(Object.fromEntries([
    ...Object.entries(w.vocab).map(([field, values]) => [field, fc.oneof(fc.constantFrom(...values), fc.array(fc.constantFrom(...values, 'not-in-vocab'), { maxLength: 4 }))]),
    ...w.continuous.map((field) => [field, fc.oneof(fc.double({ min: 10, max: 80, noNaN: true }), number)]),
  ]), { requiredKeys: [] });
  const user = fc.oneof(
    { weight: 4, arbitrary: userId.map((id) => ({ id })) },
    { weight: 2, arbitrary: vector(w.h).map((embedding) => ({ embedding })) },
    { weight: 2, arbitrary: vector(w.m).map((universal) => ({ universal })) },
    { weight: 2, arbitrary: featureValues.map((features) => ({ features })) },
  );
  const ts = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: -86_400_000 * 30, max: 3_600_000 }).map((d) => Date.now() + d) }, { weight: 1, arbitrary: number });
  const event = fc.record({ user: userId, item: itemId, ts, id: fc.string({ minLength: 1, maxLength: 16 }) }, { requiredKeys: ['user', 'item', 'ts'] });
  return {
    'POST /v1/recommend': fc.record({ user, k: fc.integer({ min: 1, max: 60 }), candidates: fc.array(itemId, { maxLength: 8 }), exclude: fc.array(itemId, { maxLength: 3 }) }, { requiredKeys: ['user'] }),
    'POST /v1/score': fc.record({ user, items: fc.array(itemId, { maxLength: 10 }) }),
    'POST /v1/events': fc.oneof(fc.record({ events: fc.array(event, { maxLength: 6 }) }), fc.array(event, { maxLength: 4 })),
    'PUT /v1/users/:id': fc.oneof(
      fc.record({ universal: vector(w.m), features: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) }, { requiredKeys: ['universal'] }),
      featureValues.map((features) => ({ features })),
    ),
    'PUT /v1/items/:id': fc.record({ metadata: fc.oneof(fc.constant(null), fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 })), content: fc.oneof(fc.constant(null), vector(8)) }, { requiredKeys: [] }),
    'POST /v1/audiences': fc.record({
      seeds: fc.array(userId, { minLength: 1, maxLength: 12 }),
      seedEmbeddings: fc.array(vector(w.h), { maxLength: 3 }),
      size: fc.integer({ min: 1, max: 40 }),
      threshold: fc.double({ min: -1, max: 1, noNaN: true }),
      exclude: fc.array(userId, { maxLength: 3 }),
      excludeSeeds: fc.boolean(),
      pool: fc.array(userId, { minLength: 1, maxLength: 20 }),
      seed: fc.integer({ min: 0, max: 1000 }),
      async: fc.boolean(),
    }, { requiredKeys: ['size'] }),
    'POST /v1/admin/model': fc.oneof(
      // A valid reload is rare: it re-clusters every item.
      { weight: 1, arbitrary: fc.constant({ dir: w.modelDir }) },
      { weight: 20, arbitrary: fc.record({ dir: fc.oneof(oddString, fc.constantFrom('/etc', '/etc/passwd', '..', '../..', '/nonexistent/model', '.', 'default/manifest.json', '/proc/self')) }) },
    ),
  };
}

// ---- mutation ------------------------------------------------------------------------------------

type Mutation = readonly [pick: number, value: unknown, how: 'replace' | 'delete' | 'add' | 'wrap'];

/** Every place in a body a mutation can hit, as paths of keys. */
function places(v: unknown, at: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(at);
  if (out.length > 400 || v === null || typeof v !== 'object' || ArrayBuffer.isView(v) || v instanceof Map || v instanceof Set || v instanceof Date) return out;
  if (Array.isArray(v)) v.slice(0, 20).forEach((c, i) => places(c, [...at, i], out));
  else for (const [k, c] of Object.entries(v)) places(c, [...at, k], out);
  return out;
}

/** A copy of the plain arrays and objects in `v` (other values as they are): a value fast-check hands out twice never makes a cycle. */
function copy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copy);
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: copy(x), enumerable: true, configurable: true, writable: true });
    return out;
  }
  return v;
}

function mutate(body: unknown, mutations: readonly Mutation[]): unknown {
  let root = copy(body);
  for (const [pick, shared, how] of mutations) {
    const value = copy(shared);
    const all = places(root);
    const path = all[pick % all.length];
    if (path.length === 0) {
      root = how === 'wrap' ? [root] : value;
      continue;
    }
    const parent = path.slice(0, -1).reduce<unknown>((n, k) => (n as Record<string | number, unknown>)[k], root) as Record<string | number, unknown> | unknown[];
    const key = path[path.length - 1];
    if (how === 'delete') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
    } else if (how === 'add') {
      if (Array.isArray(parent)) parent.push(value);
      else Object.defineProperty(parent, `extra${pick % 7}`, { value, enumerable: true, configurable: true, writable: true });
    } else if (how === 'wrap') {
      (parent as Record<string | number, unknown>)[key] = { value: (parent as Record<string | number, unknown>)[key] };
    } else {
      (parent as Record<string | number, unknown>)[key] = value;
    }
  }
  return root;
}

const mutations = fc.array(fc.tuple(fc.nat(), weird, fc.constantFrom('replace', 'replace', 'replace', 'delete', 'add', 'wrap')), { minLength: 1, maxLength: 3 }) as fc.Arbitrary<Mutation[]>;

// ---- encodings -----------------------------------------------------------------------------------

/**
 * JSON text of a value, written by hand so that what JSON has no form for still reaches the
 * server: ±Infinity as 1e999 (which parses as Infinity), NaN as a bare NaN (not JSON), a bigint
 * as its digits, a Map or Set as an object or array, bytes and typed arrays as number arrays.
 */
export function toJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : v === Infinity ? '1e999' : v === -Infinity ? '-1e999' : String(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string' || typeof v === 'boolean') return JSON.stringify(v);
  if (v instanceof Date) return JSON.stringify(Number.isNaN(v.getTime()) ? null : v.toISOString());
  if (v instanceof Map) return `{${[...v].map(([k, x]) => `${JSON.stringify(String(k))}:${toJson(x)}`).join(',')}}`;
  if (v instanceof Set) return toJson([...v]);
  if (ArrayBuffer.isView(v)) return toJson(Array.from(v as unknown as ArrayLike<number>));
  if (v instanceof Unknown || v instanceof RegExp || v instanceof Error) return '{}';
  if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`;
  return `{${Object.entries(v as object).map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(',')}}`;
}

function encode(value: unknown, encoding: 'json' | 'msgpack'): Buffer {
  return encoding === 'json' ? Buffer.from(toJson(value)) : packr.pack(value);
}

/** Bytes that are not a body either encoding can read, or are only almost one. */
const rawBody = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  fc.constantFrom('', '{', '[', '{"user":', 'null', '0', '"x"', 'true', '{"a":1}{"b":2}', '\ufeff{}', '{"user":{"id":"a"}', '[1,2', '1e999', 'NaN', '{"__proto__":{"x":1}}')
    .map((s) => Buffer.from(s)),
  fc.constantFrom(Buffer.from([0xc1]), Buffer.from([0xd4, 0x42, 0x01]), Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), Buffer.from([0xdf, 0x7f, 0xff, 0xff, 0xff]), Buffer.from([0xc7, 0xff, 0x01]), Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xf0])),
);

// ---- paths, queries and headers -------------------------------------------------------------------

/** An id for a path, percent-encoded or deliberately not. */
function pathId(known: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...known).map(encodeURIComponent) },
    { weight: 2, arbitrary: fc.string({ minLength: 1, maxLength: 20 }).map(encodeURIComponent) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }).map(encodeURIComponent) },
    { weight: 1, arbitrary: fc.constantFrom(255, 256, 257, 300, 2304, 2305, 3000).map((n) => 'i'.repeat(n)) },
    { weight: 1, arbitrary: fc.constantFrom(85, 86, 200).map((n) => encodeURIComponent('€'.repeat(n))) },
    { weight: 2, arbitrary: fc.constantFrom('%', '%zz', '%C0%AF', '%E0%A4%A', '%00', '%2F', '..', '.', '%2e%2e', '%ED%A0%80', '%FF', 'a%20b', '%25', '+', ';x', 'a:b', '~', '%F0%9F%98%80') },
  );
}

const queryValue = fc.oneof(
  fc.constantFrom('0', '1', '-1', '100000', '100001', '1e3', '0x10', '1.5', '', 'abc', '9007199254740993', '1e999', 'NaN', 'page', 'ndjson', 'NDJSON', 'xml', '%zz', '-0'),
  fc.nat().map(String),
);
const query = fc.array(fc.tuple(fc.constantFrom('offset', 'limit', 'format', 'offset[]', 'limit[a]', 'x', '%zz', '', '__proto__', '__proto__[offset]', 'constructor[prototype][limit]'), queryValue), { maxLength: 4 })
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`));

const CONTENT_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'APPLICATION/JSON', 'application/jsonx',
  'application/msgpack; x=y', 'application/x-msgpack', 'application/octet-stream', '*/*', 'application/json, application/msgpack', ''];
const ACCEPTS = ['application/msgpack', 'application/json', '*/*', 'text/html', 'application/json;q=0, application/msgpack', 'application/msgpack;q=0', 'garbage/garbage', ''];

/** Header values a client can send (what Node's client refuses never reaches the server). */
const headerText = fc.oneof(
  fc.string({ maxLength: 20 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
  fc.constantFrom('', ' ', '-1', '0', '1e309', '0.0001', 'abc', '99999999999999999999', 'x'.repeat(5000)),
);

const badHeaders = fc.record({
  'content-type': fc.constantFrom(...CONTENT_TYPES),
  accept: fc.constantFrom(...ACCEPTS),
  'x-ralm-deadline-ms': fc.oneof(headerText, fc.constantFrom('1', '5', '50', '1000')),
  'x-request-id': headerText,
  'content-encoding': fc.constantFrom('gzip', 'br', 'identity', 'x'),
}, { requiredKeys: [] });

// ---- cases ---------------------------------------------------------------------------------------

interface Route {
  method: string;
  route: string;
  path: (id: string) => string;
  ids?: 'users' | 'items' | 'jobs';
  body?: boolean;
  query?: boolean;
  /** The scope it needs: which token a valid request sends. */
  scope: 'read' | 'write' | 'admin' | 'none';
}

export const ROUTES: readonly Route[] = [
  { method: 'POST', route: '/v1/recommend', path: () => '/v1/recommend', body: true, scope: 'read' },
  { method: 'POST', route: '/v1/score', path: () => '/v1/score', body: true, scope: 'read' },
  { method: 'POST', route: '/v1/events', path: () => '/v1/events', body: true, scope: 'write' },
  { method: 'PUT', route: '/v1/users/:id', path: (id) => `/v1/users/${id}`, ids: 'users', body: true, scope: 'write' },
  { method: 'GET', route: '/v1/users/:id', path: (id) => `/v1/users/${id}`, ids: 'users', scope: 'read' },
  { method: 'PUT', route: '/v1/items/:id', path: (id) => `/v1/items/${id}`, ids: 'items', body: true, scope: 'write' },
  { method: 'GET', route: '/v1/items/:id', path: (id) => `/v1/items/${id}`, ids: 'items', scope: 'read' },
  { method: 'POST', route: '/v1/audiences', path: () => '/v1/audiences', body: true, scope: 'read' },
  { method: 'GET', route: '/v1/audiences/:id', path: (id) => `/v1/audiences/${id}`, ids: 'jobs', scope: 'read' },
  { method: 'GET', route: '/v1/audiences/:id/users', path: (id) => `/v1/audiences/${id}/users`, ids: 'jobs', query: true, scope: 'read' },
  { method: 'DELETE', route: '/v1/audiences/:id', path: (id) => `/v1/audiences/${id}`, ids: 'jobs', scope: 'write' },
  { method: 'POST', route: '/v1/admin/recluster', path: () => '/v1/admin/recluster', scope: 'admin' },
  { method: 'POST', route: '/v1/admin/model', path: () => '/v1/admin/model', body: true, scope: 'admin' },
  { method: 'GET', route: '/healthz', path: () => '/healthz', scope: 'none' },
  { method: 'GET', route: '/readyz', path: () => '/readyz', scope: 'none' },
  { method: 'GET', route: '/metrics', path: () => '/metrics', scope: 'none' },
  { method: 'GET', route: '/docs', path: () => '/docs', scope: 'none' },
  { method: 'GET', route: '/docs/json', path: () => '/docs/json', scope: 'none' },
];

/** A case for one route: a valid or mutated body in one encoding, an odd path, query or headers. */
function routeCase(w: FuzzWorld, r: Route, valid: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<FuzzCase> {
  const key = `${r.method} ${r.route}`;
  const known = r.ids === 'users' ? w.users : r.ids === 'items' ? w.items : r.ids === 'jobs' ? (w.jobs.length > 0 ? w.jobs : ['none']) : ['-'];
  const body = valid[key] ?? fc.constant(undefined);
  const shape = fc.oneof(
    { weight: 3, arbitrary: body.map((value) => ({ kind: 'valid', value })) },
    { weight: 5, arbitrary: fc.tuple(body, mutations).map(([value, m]) => ({ kind: 'mutated', value: mutate(value ?? {}, m) })) },
    { weight: 1, arbitrary: weird.map((value) => ({ kind: 'weird body', value })) },
  );
  // Mostly the token with every scope; sometimes one that may only read, or an odd header.
  const authorization = fc.oneof(
    { weight: 14, arbitrary: fc.constant(`Bearer ${w.tokens.all}`) },
    { weight: 2, arbitrary: fc.constant(`Bearer ${w.tokens.read}`) },
    { weight: 1, arbitrary: fc.oneof(headerText, fc.constantFrom(`bearer ${w.tokens.all}`, `BEARER ${w.tokens.all}`, `Bearer  ${w.tokens.all}`, `Bearer ${w.tokens.all}x`, `Basic ${w.tokens.all}`, 'Bearer', `Bearer ${w.tokens.all.slice(0, -1)}`)) },
  );
  return fc.record({
    shape,
    encoding: fc.constantFrom<Encoding>('json', 'json', 'msgpack', 'msgpack', 'raw'),
    raw: rawBody,
    id: pathId(known),
    query: r.query ? fc.oneof(query, fc.constantFrom('', '?limit=5', '?format=ndjson', '?offset=1&limit=2')) : fc.constantFrom('', '', '', '?x=1', '?%zz', '?a=%zz&&&', '?format[]=x'),
    authorization,
    bad: fc.oneof({ weight: 5, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: badHeaders }),
    method: fc.oneof({ weight: 12, arbitrary: fc.constant(r.method) }, { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD') }),
  }).map(({ shape, encoding, raw, id, query: q, authorization, bad, method }) => {
    const sendsBody = r.body === true && method !== 'GET' && method !== 'HEAD';
    const headers: Record<string, string> = authorization === '' ? {} : { authorization };
    let bytes: Buffer | undefined;
    if (sendsBody) {
      bytes = encoding === 'raw' ? raw : encode(shape.value, encoding);
      headers['content-type'] = encoding === 'msgpack' ? 'application/msgpack' : 'application/json';
      if (encoding === 'msgpack') headers.accept = 'application/msgpack';
    }
    for (const [k, v] of Object.entries(bad)) headers[k] = v as string;
    return {
      // Another method on the path is that route, if there is one (GET on PUT /v1/users/:id's path is GET /v1/users/:id).
      route: `${method} ${r.route}`, method, path: r.path(id) + q, headers, body: bytes, encoding: sendsBody ? encoding : 'json',
      kind: sendsBody ? (encoding === 'raw' ? 'raw' : shape.kind) : Object.keys(bad).length > 0 ? 'headers' : 'no body', value: sendsBody && encoding !== 'raw' ? shape.value : undefined,
    };
  });
}

/** Requests for a path no route has. */
const stray: fc.Arbitrary<FuzzCase> = fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), fc.constantFrom('/', '/v1', '/v1/', '/v2/recommend', '/v1/users', '/v1/users/', '/v1/items//x', '//v1/recommend', '/v1/recommend/', '/v1/audiences/x/users/y', '/docs/../v1/users/a', '/%zz', '/*', '/v1/admin',
  '/docs/static/nothing.js', '/docs/static/../../package.json', '/docs/static/%2e%2e/%2e%2e/package.json', '/docs/static/%zz', '/docs/yaml', '/docs/json/x', '/docs/static/index.html', '/docs/static/swagger-ui.css', '/docs/'))
  .map(([method, path]) => ({ route: 'stray', method, path, headers: {}, encoding: 'json' as const, kind: 'stray' }));

/** Every route, in both encodings, valid and mutated. */
export function fuzzCases(w: FuzzWorld): fc.Arbitrary<FuzzCase> {
  const valid = bodies(w);
  return fc.oneof(
    ...ROUTES.map((r) => ({ weight: r.body ? 6 : r.scope === 'none' ? 1 : 3, arbitrary: routeCase(w, r, valid) })),
    { weight: 1, arbitrary: stray },
  );
}

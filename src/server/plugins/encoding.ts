/**
 * JSON and MessagePack in and out. A body may come in either; the reply is MessagePack when the
 * client asks for it (or sent MessagePack without an Accept), else JSON, where typed arrays become
 * number arrays. A vector may come as a number array, as msgpackr's typed-array extension, or as
 * plain MessagePack bin (how msgpackr.pack sends a Float32Array by default) holding little-endian
 * float32s; before validation every vector of a route's body — an array of numbers in its schema —
 * becomes a number array, so the schema checks it like any other field.
 *
 * A body is plain data (checkPlainData): nested at most MAX_DEPTH levels, holding only what JSON
 * has (finite numbers: no NaN or ±Infinity, which MessagePack carries and `1e999` in JSON parses
 * to) plus byte and typed arrays — so no stored value can later fail to be encoded, and no
 * recursion downstream can run out of stack. All of this is installed in the API's own context
 * (app.ts), never on the documentation page's routes, whose HTML and scripts go out as they are.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { Packr, Unpackr } from 'msgpackr';
import { ServiceError } from '../errors.js';
import { TimeSlicer, TurnQueue } from '../../util/time-slice.js';
import type { SchemaNode } from './validation.js';
import { jsonBodies } from './json-body.js';

export const MSGPACK = 'application/msgpack';
// Typed arrays travel as msgpackr's typed-array extension; decoded copies are aligned. 64-bit
// integers decode as numbers (a BigInt has no JSON form, and every numeric field is a double).
const packr = new Packr({ useRecords: false, moreTypes: true });
const unpackr = new Unpackr({ useRecords: false, moreTypes: true, int64AsType: 'number' });

/**
 * Bodies from this size are parsed, checked and prepared in a turn of the event loop of their own
 * (TurnQueue), after the I/O ready before them; smaller ones at once. A ranking request over
 * 10,000 candidates (60–80 KB) takes a millisecond or two of the loop from parse to prepared;
 * without turns, a burst of them held every refusal and probe behind the whole burst. Small bodies
 * cost little each, and one turn a request would ration them when a flood of refusals fills every
 * turn (measured: `ralm bench http --sizes 1000`, docs/benchmarks.md).
 */
export const OWN_TURN_FROM_BYTES = 32 * 1024;

/** The deepest a request body may nest: the API's own bodies need 4 levels; metadata and features get the rest. */
export const MAX_DEPTH = 32;

/** JSON has no typed arrays: send them as number arrays. */
export function jsonSerializer(payload: unknown): string {
  return JSON.stringify(payload, (_k, v: unknown) => (ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v as Float32Array) : v));
}

function wantsMsgpack(req: FastifyRequest): boolean {
  const accept = req.headers.accept ?? '';
  if (accept.includes(MSGPACK)) return true;
  return accept === '' && (req.headers['content-type'] ?? '').startsWith(MSGPACK);
}

/** Replies in MessagePack when the client asks for it (or sent it without an Accept), else JSON. */
export function useEncoding(req: FastifyRequest, reply: FastifyReply): void {
  if (wantsMsgpack(req)) {
    reply.type(MSGPACK);
    // Fastify sends a Buffer from a serializer as is; its typing says string.
    reply.serializer((p: unknown) => packr.pack(p) as unknown as string);
  } else {
    reply.type('application/json; charset=utf-8');
    reply.serializer(jsonSerializer);
  }
}

/**
 * Installs the MessagePack parser, the plain-data check, the reply encoding, and vector
 * normalisation on every route with vectors. Only JSON and MessagePack bodies are parsed: any
 * other content type (text/plain included, which Fastify would parse as a string) is a 415.
 */
export function encoding(app: FastifyInstance): void {
  app.removeContentTypeParser('text/plain');
  app.addHook('preValidation', async (req) => checkPlainData(req.body));
  const turns = new TurnQueue();
  const parseBody = (bytes: number, parse: () => void): void => (bytes < OWN_TURN_FROM_BYTES ? parse() : turns.run(parse));
  jsonBodies(app, parseBody);
  app.addContentTypeParser(MSGPACK, { parseAs: 'buffer' }, (_req, body, done) => {
    parseBody((body as Buffer).length, () => {
      let value: unknown;
      try {
        value = unpackr.unpack(body as Buffer);
      } catch {
        done(new ServiceError('RALM_ERR_MALFORMED_BODY', 'body: not valid MessagePack'), undefined);
        return;
      }
      done(null, value);
    });
  });
  app.addHook('preHandler', async (req, reply) => useEncoding(req, reply));
  app.addHook('onRoute', (route: RouteOptions) => {
    const paths = vectorPaths(route.schema?.body as SchemaNode | undefined);
    if (paths.length === 0) return;
    const own = route.preValidation === undefined ? [] : Array.isArray(route.preValidation) ? route.preValidation : [route.preValidation];
    route.preValidation = [...own, async (req: FastifyRequest) => {
      for (const path of paths) normalise(req.body, path, '');
    }];
  });
}

/** Where a body schema has vectors (arrays of numbers): property names, `*` for every element. */
export function vectorPaths(s: SchemaNode | undefined, at: readonly string[] = [], out: string[][] = []): string[][] {
  if (!s) return out;
  if (s.type === 'array' && s.items?.type === 'number') {
    if (at.length > 0) out.push([...at]);
    return out;
  }
  for (const [name, p] of Object.entries(s.properties ?? {})) vectorPaths(p, [...at, name], out);
  if (s.type === 'array') vectorPaths(s.items, [...at, '*'], out);
  return out;
}

function normalise(node: unknown, path: readonly string[], field: string): void {
  if (node === null || typeof node !== 'object') return;
  const [head, ...rest] = path;
  if (head === '*') {
    if (!Array.isArray(node)) return;
    for (let i = 0; i < node.length; i++) {
      if (rest.length === 0) node[i] = asNumbers(node[i], `${field}[${i}]`);
      else normalise(node[i], rest, `${field}[${i}]`);
    }
    return;
  }
  if (Array.isArray(node) || ArrayBuffer.isView(node) || !Object.hasOwn(node, head)) return;
  const obj = node as Record<string, unknown>;
  const name = field === '' ? head : `${field}.${head}`;
  if (rest.length === 0) obj[head] = asNumbers(obj[head], name);
  else normalise(obj[head], rest, name);
}

/** A vector as a number array: bin bytes read as little-endian float32, typed arrays copied; anything else as it came. */
function asNumbers(v: unknown, field: string): unknown {
  if (v instanceof Uint8Array) {
    if (v.byteLength % 4 !== 0) {
      throw new ServiceError('RALM_ERR_VALIDATION', `${field}: binary vectors are little-endian float32, so their length must be a multiple of 4 bytes, got ${v.byteLength}`, { field });
    }
    const out = new Float32Array(v.byteLength / 4);
    new Uint8Array(out.buffer).set(v);
    return Array.from(out);
  }
  return ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v as unknown as ArrayLike<number>) : v;
}

/**
 * Refuses a body that is not plain data: nested deeper than MAX_DEPTH, or holding a value JSON
 * has no form for (MessagePack's Date, Set, Map with non-plain prototype, RegExp, Error …), or a
 * NaN or ±Infinity anywhere (RALM_ERR_NON_FINITE), or a key that would reach an object's
 * prototype (`__proto__`, or `constructor` holding `prototype`: RALM_ERR_MALFORMED_BODY, as
 * Fastify's JSON parser refuses them; the incremental parser for large bodies keeps them as keys).
 * Iterative, so a hostile depth cannot overflow the stack, and in time slices (a 100,000-event
 * body has 500,000 values); the path is only worked out on refusal.
 */
export async function checkPlainData(body: unknown): Promise<void> {
  const values: unknown[] = [body];
  const depths: number[] = [0];
  const slicer = new TimeSlicer();
  // Values looked at (leaves included) since the start, and when the next time-slice check is due.
  let seen = 1;
  let nextTick = 4096;
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop() as number;
    if (v === null || v === undefined || typeof v === 'string' || typeof v === 'boolean') continue;
    if (typeof v === 'number' || ArrayBuffer.isView(v)) {
      const bad = nonFinite(v);
      if (bad === undefined) continue;
      const field = `${pathTo(body, v)}${bad.index === undefined ? '' : `[${bad.index}]`}`;
      throw new ServiceError('RALM_ERR_NON_FINITE', `${field}: expected a finite number, got ${bad.value}`, { field });
    }
    const problem = typeof v !== 'object' ? `a ${typeof v} is not a value the API takes`
      : depth >= MAX_DEPTH ? `nested deeper than ${MAX_DEPTH} levels`
        : !Array.isArray(v) && Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null
          ? `a ${(v as object).constructor?.name ?? 'non-plain object'} is not a value the API takes (JSON values, byte and typed arrays only)` : undefined;
    if (problem !== undefined) {
      const field = pathTo(body, v);
      throw new ServiceError('RALM_ERR_VALIDATION', `${field}: ${problem}`, { field });
    }
    if (!Array.isArray(v) && reachesPrototype(v as Record<string, unknown>)) {
      const field = pathTo(body, v);
      throw new ServiceError('RALM_ERR_MALFORMED_BODY', `${field}: a key that reaches an object's prototype (__proto__, or constructor.prototype) is not allowed`, { field });
    }
    const children = Array.isArray(v) ? v : Object.values(v as object);
    for (const c of children) {
      // Leaves that cannot fail (a candidate list is 10,000 strings) are passed over here rather
      // than queued; a non-finite number is queued, so refusals come in the same order as before.
      if (c === null || c === undefined || typeof c === 'string' || typeof c === 'boolean' || (typeof c === 'number' && Number.isFinite(c))) continue;
      values.push(c);
      depths.push(depth + 1);
    }
    seen += children.length;
    if (seen >= nextTick) {
      nextTick = seen + 4096;
      await slicer.tick();
    }
  }
}

function reachesPrototype(o: Record<string, unknown>): boolean {
  if (Object.hasOwn(o, '__proto__')) return true;
  const c = Object.hasOwn(o, 'constructor') ? o.constructor : undefined;
  return c !== null && typeof c === 'object' && Object.hasOwn(c, 'prototype');
}

/**
 * The first NaN or ±Infinity in a number or a float typed array: JSON has no form for them, and an
 * opaque field (metadata, features) would store one and serve it back as null, or as NaN.
 */
function nonFinite(v: number | ArrayBufferView): { value: number; index?: number } | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : { value: v };
  if (!(v instanceof Float32Array || v instanceof Float64Array)) return undefined;
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return { value: v[i], index: i };
  return undefined;
}

/** Where `target` sits in `root`, named as the project names fields (`events[3].user`), found breadth-first. */
function pathTo(root: unknown, target: unknown): string {
  const queue: Array<[unknown, string]> = [[root, '']];
  for (let i = 0; i < queue.length; i++) {
    const [v, at] = queue[i];
    if (Object.is(v, target)) return at === '' ? 'body' : at;
    if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) continue;
    if (Array.isArray(v)) v.forEach((c, j) => queue.push([c, `${at}[${j}]`]));
    else for (const [k, c] of Object.entries(v)) queue.push([c, at === '' ? k : `${at}.${k}`]);
  }
  return 'body';
}

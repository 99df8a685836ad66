/**
 * Requests are validated by their route schemas (Ajv, as Fastify does), and a failure comes back
 * in the service's coded format: RALM_ERR_VALIDATION (or RALM_ERR_NON_FINITE for NaN/±Infinity
 * where a number belongs), a message that names the field the way the rest of the project does
 * (`events[0].ts`, `user.embedding[5]`), says what was expected and what came, and `details.field`.
 * What was expected is read from the schema itself: its `title` when it has one, else its type and
 * bounds — so the OpenAPI document, the check and the message say the same thing.
 */
import { Ajv, type ErrorObject, type Options } from 'ajv';
import type { FastifyInstance } from 'fastify';
import { ServiceError } from '../errors.js';

/** The parts of a JSON schema that messages are written from. */
export interface SchemaNode {
  type?: string;
  title?: string;
  enum?: unknown[];
  anyOf?: SchemaNode[];
  nullable?: boolean;
  items?: SchemaNode;
  properties?: Record<string, SchemaNode>;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
}

// Ajv stops at the first failure (allErrors would let one request make it try every rule); errors
// carry the failing value and schema (verbose) for the message; defaults from the schema are filled
// in, so a schema is the one home of a request default.
const COMMON: Options = { allErrors: false, verbose: true, useDefaults: true, removeAdditional: false, addUsedSchema: false };

/**
 * Installs the validators and the error formatter. Bodies are typed (JSON or MessagePack) and are
 * not coerced — `"k": "5"` is not a number — while params, query strings and headers are text and
 * must be; Ajv takes coercion per instance, hence two.
 */
export function validation(app: FastifyInstance): void {
  const typed = new Ajv({ ...COMMON, coerceTypes: false });
  const text = new Ajv({ ...COMMON, coerceTypes: true });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? typed : text).compile(schema));
  app.setSchemaErrorFormatter((errors, part) => validationError(errors as unknown as ErrorObject[], part));
}

const ROOTS: Record<string, string> = { body: 'body', querystring: 'query', params: 'params', headers: 'headers' };

/** Ajv's errors for one request part (`body`, `querystring`, `params`, `headers`) as one coded error. */
export function validationError(errors: readonly ErrorObject[], part: string): ServiceError {
  const root = ROOTS[part] ?? part;
  const nonFinite = errors.find((e) => e.keyword === 'type' && typeof e.data === 'number' && !Number.isFinite(e.data));
  if (nonFinite) {
    const path = pointer(nonFinite.instancePath);
    const field = fieldName(path, root);
    const last = path.at(-1) ?? '';
    // An element of a vector is reported as the vector and an index, as engine/validate.ts does.
    const details = /^\d+$/.test(last) ? { field: fieldName(path.slice(0, -1), root), index: Number(last) } : { field };
    return new ServiceError('RALM_ERR_NON_FINITE', `${field}: expected a finite number, got ${String(nonFinite.data)}`, details);
  }
  const e = mostSpecific(errors);
  const path = pointer(e.instancePath);
  const node = (e.parentSchema ?? {}) as SchemaNode;
  if (e.keyword === 'required') {
    const missing = String(e.params.missingProperty);
    const field = fieldName(path, root);
    const wanted = node.properties?.[missing];
    return new ServiceError('RALM_ERR_VALIDATION', `${field}: expected ${wanted ? expected(wanted) : 'a value'} in "${missing}"`, { field });
  }
  if (e.keyword === 'additionalProperties') {
    const field = fieldName([...path, String(e.params.additionalProperty)], root);
    return new ServiceError('RALM_ERR_VALIDATION', `${field}: unknown field (known: ${Object.keys(node.properties ?? {}).join(', ')})`, { field });
  }
  const field = fieldName(path, root);
  const rule = DESCRIBED.has(e.keyword) ? `expected ${expected(node)}` : (e.message ?? 'is not valid');
  return new ServiceError('RALM_ERR_VALIDATION', `${field}: ${rule}, got ${shown(e.data)}`, { field });
}

/** The keywords `expected()` puts in words; any other failure keeps Ajv's own wording. */
const DESCRIBED = new Set(['type', 'enum', 'anyOf', 'minimum', 'maximum', 'exclusiveMinimum', 'minLength', 'maxLength']);

/**
 * Ajv (allErrors off) reports one failure, except that a failing anyOf first lists each branch's
 * failure and then its own. The deepest is the most specific (the value took a branch and failed
 * inside it); on a tie the last, the anyOf's own, which names every branch.
 */
function mostSpecific(errors: readonly ErrorObject[]): ErrorObject {
  let best = errors[0];
  for (const e of errors) if (pointer(e.instancePath).length >= pointer(best.instancePath).length) best = e;
  return best;
}

/** What a schema accepts, in words: "an integer from 1 to 100000", "a user object", `"page" or "ndjson"`. */
export function expected(s: SchemaNode): string {
  const what = s.title !== undefined ? withArticle(s.title)
    : s.enum !== undefined ? s.enum.map((v) => JSON.stringify(v)).join(' or ')
      : s.anyOf !== undefined ? s.anyOf.map(expected).join(' or ')
        : ofType(s);
  return s.nullable === true ? `${what} or null` : what;
}

function ofType(s: SchemaNode): string {
  switch (s.type) {
    case 'object': return 'an object';
    case 'array': return s.items?.type === 'number' || s.items?.type === 'string' ? `an array of ${s.items.type}s` : 'an array';
    case 'integer': return bounded('an integer', s);
    case 'number': return bounded('a number', s);
    case 'string':
      if (s.minLength !== undefined && s.maxLength !== undefined) return `a string of ${s.minLength} to ${s.maxLength} characters`;
      return s.minLength !== undefined && s.minLength > 0 ? 'a non-empty string' : 'a string';
    case 'boolean': return 'a boolean';
    case 'null': return 'null';
    default: return 'a valid value';
  }
}

function bounded(noun: string, s: SchemaNode): string {
  if (s.minimum !== undefined && s.maximum !== undefined) return `${noun} from ${s.minimum} to ${s.maximum}`;
  if (s.minimum !== undefined) return `${noun} >= ${s.minimum}`;
  if (s.exclusiveMinimum !== undefined) return `${noun} > ${s.exclusiveMinimum}`;
  if (s.maximum !== undefined) return `${noun} <= ${s.maximum}`;
  return noun;
}

// The titles here that start with "u" are said "you" (user, universal): only a, e, i, o take "an".
const withArticle = (noun: string): string => `${/^[aeio]/i.test(noun) ? 'an' : 'a'} ${noun}`;

function shown(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    s = undefined; // a BigInt inside, or too deep to write out
  }
  // String() of an array recurses too; an object without a JSON form is named by its kind.
  s ??= v !== null && typeof v === 'object' ? (Array.isArray(v) ? 'an array' : 'an object') : String(v);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

function pointer(p: string): string[] {
  return p === '' ? [] : p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** A JSON pointer as the project names fields: `/events/0/ts` → `events[0].ts`; the root is the part. */
function fieldName(path: readonly string[], root: string): string {
  let out = '';
  for (const s of path) out += /^\d+$/.test(s) ? `[${s}]` : out === '' ? s : `.${s}`;
  return out === '' ? root : out.startsWith('[') ? root + out : out;
}

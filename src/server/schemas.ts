/**
 * Schema pieces the route families share. A route's schema sits next to its handler (routes/);
 * Fastify validates requests with it and the OpenAPI document is generated from it. A `title` is
 * the noun a validation message uses for what was expected ("body: expected a user object").
 * Vectors are number arrays here: MessagePack typed arrays and float32 bytes are made number
 * arrays before validation (plugins/encoding.ts). Their elements are the schema's to check (Ajv's
 * number type refuses NaN and ±Infinity, reported as RALM_ERR_NON_FINITE); their width depends on
 * the loaded model, so it stays a check in code (engine/validate.ts).
 */
import { MAX_UNKNOWN_REPORTED } from '../model/user-tower.js';

export const vector = (what: string) => ({
  description: `${what}: numbers (JSON array; in MessagePack also a Float32Array or little-endian float32 bytes)`,
  type: 'array',
  items: { type: 'number' },
});

/** The longest id — of a user, an item, an event or an audience job — in characters: one rule everywhere. */
export const ID_MAX_LENGTH = 256;

/**
 * The router's limit on a path segment, which it checks before any schema: the longest an id of
 * ID_MAX_LENGTH characters can be once percent-encoded (a UTF-16 unit is at most 3 bytes of
 * UTF-8, each escaped as 3 characters), so the schema's limit is the one a client meets.
 */
export const MAX_PARAM_LENGTH = ID_MAX_LENGTH * 9;

/** An id; `what` names it in messages ("expected a user id (1 to 256 characters)"). */
export const id = (what: string) => ({ type: 'string', minLength: 1, maxLength: ID_MAX_LENGTH, title: `${what} (1 to ${ID_MAX_LENGTH} characters)` });

/** A list of ids; `noun` names them in messages ("an array of item ids"). */
export const ids = (description: string, noun = 'item ids') => ({ type: 'array', title: `array of ${noun}`, items: id(noun.replace(/s$/, '')), description });

export const features = {
  type: 'object',
  description:
    "raw user features {fieldName: value} for the model's user tower (the manifest's userFields): a string (or number) for a categorical field, " +
    'an array of them for a multi-categorical one, a finite number for a continuous one; a field left out or null is missing; ' +
    'a value outside the vocabulary counts as missing and is reported in unknownValues',
  additionalProperties: {
    anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'number' }] } }, { type: 'null' }],
  },
};

export const user = {
  type: 'object',
  title: 'user object',
  description: 'Exactly one of: a stored user id, a look-alike embedding (width h), a universal embedding (width m), or raw features (needs a model with a user tower)',
  properties: { id: id('user id'), embedding: vector('look-alike embedding e, width h'), universal: vector('universal embedding x, width m'), features },
};

export const unknownValues = {
  type: 'object',
  description: `only when the user was given as features: per field, values not in the model's vocabulary (embedded as missing; at most ${MAX_UNKNOWN_REPORTED} per field)`,
  additionalProperties: { type: 'array', items: { type: 'string' } },
};

/** An id in a path: a user, an item or an audience job. */
export const idParams = {
  type: 'object',
  properties: { id: id('id') },
  required: ['id'],
};

export const error = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string', description: 'RALM_ERR_* (see the README error table)' }, message: { type: 'string' }, details: { type: 'object' }, requestId: { type: 'string' } },
    },
  },
};

/** The error replies most routes can give. */
export const errors = { 400: error, 404: error, 413: error, 415: error, 429: error, 503: error, 504: error };

/** A request's `itemLevels` switch (engine RankRequest.itemLevels): one home for its schema and text. */
export const itemLevels = {
  type: 'boolean',
  default: true,
  description: 'add the level offsets few-clicker items were published with; false for a list of fresh items only (docs/quality.md)',
};

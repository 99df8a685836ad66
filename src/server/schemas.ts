/**
 * JSON Schemas of the routes, for the OpenAPI document. Requests are validated in the handlers
 * (see app.ts: their errors name the field in the service's error format, and MessagePack
 * vectors may be typed arrays or raw float32 bytes, which JSON Schema cannot express), so these
 * describe the API rather than gate it.
 */
import { MAX_UNKNOWN_REPORTED } from '../model/user-tower.js';

const vector = (what: string) => ({
  description: `${what}: numbers (JSON array; in MessagePack also a Float32Array or little-endian float32 bytes)`,
  type: 'array',
  items: { type: 'number' },
});

const features = {
  type: 'object',
  description:
    "raw user features {fieldName: value} for the model's user tower (the manifest's userFields): a string (or number) for a categorical field, " +
    'an array of them for a multi-categorical one, a finite number for a continuous one; a field left out or null is missing; ' +
    'a value outside the vocabulary counts as missing and is reported in unknownValues',
  additionalProperties: {
    anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'number' }] } }],
  },
};

const user = {
  type: 'object',
  description: 'Exactly one of: a stored user id, a look-alike embedding (width h), a universal embedding (width m), or raw features (needs a model with a user tower)',
  properties: { id: { type: 'string' }, embedding: vector('look-alike embedding e, width h'), universal: vector('universal embedding x, width m'), features },
};

const unknownValues = {
  type: 'object',
  description: `only when the user was given as features: per field, values not in the model's vocabulary (embedded as missing; at most ${MAX_UNKNOWN_REPORTED} per field)`,
  additionalProperties: { type: 'array', items: { type: 'string' } },
};

const error = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string', description: 'RALM_ERR_* (see the README error table)' }, message: { type: 'string' }, details: { type: 'object' }, requestId: { type: 'string' } },
    },
  },
};

const ids = (what: string) => ({ type: 'array', items: { type: 'string' }, description: what });
const errors = { 400: error, 404: error, 413: error, 415: error, 429: error, 503: error, 504: error };

export const recommendSchema = {
  summary: 'Top-k items for a user',
  description: 'Concurrent requests are coalesced into one engine call. Header x-ralm-deadline-ms lowers the deadline.',
  body: {
    type: 'object',
    properties: { user, k: { type: 'integer', minimum: 1, default: 10 }, candidates: ids('item ids to rank (default: every servable item)'), exclude: ids('item ids never to return') },
    required: ['user'],
  },
  response: {
    200: {
      type: 'object',
      properties: {
        items: {
          type: 'array',
          items: { type: 'object', properties: { id: { type: 'string' }, score: { type: 'number' }, cosGlobal: { type: 'number' }, cosLocal: { type: 'number' }, cold: { type: 'boolean' } } },
        },
        candidates: { type: 'integer' }, backend: { type: 'string' }, adapter: { type: 'string' }, modelVersion: { type: 'string' }, unknownValues,
        timing: { type: 'object', properties: { engineMs: { type: 'number' }, totalMs: { type: 'number' } } },
      },
    },
    ...errors,
  },
};

export const scoreSchema = {
  summary: 'Scores of given items for a user, in input order',
  body: { type: 'object', properties: { user, items: ids('item ids (duplicates allowed)') }, required: ['user', 'items'] },
  response: {
    200: {
      type: 'object',
      properties: {
        items: ids('as given'), scores: vector('scores'), cosGlobal: vector('global cosines'), cosLocal: vector('local cosines'),
        cold: { type: 'array', items: { type: 'boolean' } }, backend: { type: 'string' }, adapter: { type: 'string' }, modelVersion: { type: 'string' }, unknownValues,
      },
    },
    ...errors,
  },
};

export const eventsSchema = {
  summary: 'Store click events (durable before the reply)',
  body: {
    type: 'object',
    properties: {
      events: {
        type: 'array',
        items: { type: 'object', properties: { user: { type: 'string' }, item: { type: 'string' }, ts: { type: 'number', description: 'epoch ms' }, id: { type: 'string', description: 'idempotency key' } }, required: ['user', 'item', 'ts'] },
      },
    },
    required: ['events'],
  },
  response: {
    200: { type: 'object', properties: { accepted: { type: 'integer' }, duplicates: { type: 'integer' }, unknownUserEvents: { type: 'integer' }, unknownUsers: ids('unknown user ids (at most 100)') } },
    ...errors,
  },
};

const idParams = { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] };

export const putUserSchema = {
  summary: 'Store a user (its look-alike embedding is computed with the current model)',
  description: "Give universal (stored as is, features kept as an opaque object), or only features: the model's user tower then computes universal from them.",
  params: idParams,
  body: {
    type: 'object',
    properties: { universal: vector('universal embedding, width m'), features: { type: 'object', description: `stored with the user as given; without universal, ${features.description}` } },
  },
  response: { 200: { type: 'object', properties: { id: { type: 'string' }, stored: { type: 'boolean' }, modelVersion: { type: 'string' }, unknownValues } }, ...errors },
};

export const getUserSchema = { summary: 'A stored user', params: idParams, response: { 404: error } };

export const putItemSchema = {
  summary: "Store an item's metadata and content features",
  params: idParams,
  body: { type: 'object', properties: { metadata: { type: 'object' }, content: vector('content features') } },
  response: { 400: error },
};

export const getItemSchema = {
  summary: "An item's metadata, seed counts, state (waiting-for-seeds, cold, servable) and last clustering",
  params: idParams,
  response: { 404: error },
};

export const reclusterSchema = {
  summary: 'Re-cluster every item whose seeds changed, now (needs the API token when one is set)',
  security: [{ bearer: [] }],
  response: { 401: error },
};

export const reloadSchema = {
  summary: 'Hot-reload the model: load, compile, re-cluster every item under it, warm up, then switch (requests in flight finish on the old one)',
  security: [{ bearer: [] }],
  body: { type: 'object', properties: { dir: { type: 'string', description: 'model directory (default: the configured one)' } } },
  response: {
    200: { type: 'object', properties: { modelVersion: { type: 'string' }, previousModelVersion: { type: 'string' }, items: { type: 'integer' }, backend: { type: 'string' } } },
    401: error, 409: error, 500: error,
  },
};

const audienceUser = { type: 'object', properties: { id: { type: 'string' }, score: { type: 'number' }, cosGlobal: { type: 'number' }, cosLocal: { type: 'number' } } };
const job = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    status: { type: 'string', enum: ['queued', 'running', 'done', 'failed', 'cancelled'] },
    progress: { type: ['object', 'null'], properties: { scored: { type: 'integer' }, total: { type: 'integer' }, fraction: { type: 'number' } } },
    createdAt: { type: 'number' }, startedAt: { type: ['number', 'null'] }, finishedAt: { type: ['number', 'null'] },
    error: { type: ['object', 'null'] }, summary: { type: ['object', 'null'] }, links: { type: 'object' },
  },
};

export const audienceSchema = {
  summary: 'Audience expansion: seed users in, the N most similar users out',
  description:
    'Seeds are matched against known users (unmatched ones are counted and left out), clustered into at most k centroids, and every user ' +
    '(or the pool) is scored against that seed set with the RALM score. Requests scoring more than the configured number of users, or with ' +
    '"async": true, run as jobs: 202 with the job, then GET /v1/audiences/{id}.',
  body: {
    type: 'object',
    properties: {
      seeds: ids('seed user ids'),
      seedEmbeddings: { type: 'array', items: vector('a seed given as its look-alike embedding, width h') },
      size: { type: 'integer', minimum: 1, description: 'users wanted (N); required unless threshold is given' },
      threshold: { type: 'number', description: 'keep only users scoring at least this' },
      exclude: ids('user ids never to return'),
      excludeSeeds: { type: 'boolean', default: true, description: 'leave the matched seeds out of the result' },
      pool: ids('score only these users (default: every user)'),
      seed: { type: 'integer', default: 1, description: 'k-means seed' },
      async: { type: 'boolean', description: 'run as a job even when small' },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        seeds: { type: 'object' }, pool: { type: ['object', 'null'] }, scored: { type: 'integer' }, excluded: { type: 'integer' },
        users: { type: 'array', items: audienceUser }, timing: { type: 'object' }, backend: { type: 'string' }, adapter: { type: 'string' }, modelVersion: { type: 'string' },
      },
    },
    202: job,
    ...errors,
  },
};

export const audienceJobSchema = {
  summary: 'An audience job: status, progress while running, and the summary once done',
  params: { type: 'object', properties: { id: { type: 'string' } } },
  response: { 200: job, ...errors },
};

export const audienceUsersSchema = {
  summary: "A finished audience's users, best first: a page (offset, limit ≤ 100,000) or the whole list as NDJSON (format=ndjson)",
  params: { type: 'object', properties: { id: { type: 'string' } } },
  querystring: { type: 'object', properties: { offset: { type: 'integer', minimum: 0 }, limit: { type: 'integer', minimum: 1, maximum: 100000 }, format: { type: 'string', enum: ['page', 'ndjson'] } } },
  response: { 409: error, ...errors },
};

export const audienceCancelSchema = {
  summary: 'Cancels a queued or running audience job (kept as cancelled), or deletes a finished one and its users',
  params: { type: 'object', properties: { id: { type: 'string' } } },
  response: { ...errors },
};

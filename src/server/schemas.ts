/**
 * JSON Schemas of the routes, for the OpenAPI document. Requests are validated in the handlers
 * (see app.ts: their errors name the field in the service's error format, and MessagePack
 * vectors may be typed arrays or raw float32 bytes, which JSON Schema cannot express), so these
 * describe the API rather than gate it.
 */
const vector = (what: string) => ({
  description: `${what}: numbers (JSON array; in MessagePack also a Float32Array or little-endian float32 bytes)`,
  type: 'array',
  items: { type: 'number' },
});

const user = {
  type: 'object',
  description: 'Exactly one of: a stored user id, a look-alike embedding (width h), or a universal embedding (width m)',
  properties: { id: { type: 'string' }, embedding: vector('look-alike embedding e, width h'), universal: vector('universal embedding x, width m') },
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
        candidates: { type: 'integer' }, backend: { type: 'string' }, adapter: { type: 'string' }, modelVersion: { type: 'string' },
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
        cold: { type: 'array', items: { type: 'boolean' } }, backend: { type: 'string' }, adapter: { type: 'string' }, modelVersion: { type: 'string' },
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
  params: idParams,
  body: { type: 'object', properties: { universal: vector('universal embedding, width m'), features: { type: 'object' } }, required: ['universal'] },
  response: { 200: { type: 'object', properties: { id: { type: 'string' }, stored: { type: 'boolean' }, modelVersion: { type: 'string' } } }, ...errors },
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

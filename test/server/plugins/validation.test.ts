/**
 * Schema validation on its own, in a bare Fastify app: bodies are not coerced while query strings
 * are, schema defaults are filled in, and every failure is one coded error whose message is
 * written from the schema and names the field.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { errorHandlers } from '../../../src/server/plugins/error-handler.js';
import { expected, validation } from '../../../src/server/plugins/validation.js';
import { Metrics } from '../../../src/server/metrics.js';

describe('validation plugin', () => {
  let app: FastifyInstance;
  let seen: unknown;

  before(async () => {
    app = Fastify();
    validation(app);
    errorHandlers(app, { metrics: new Metrics(), bodyLimit: 1 << 20 });
    const schema = {
      querystring: { type: 'object', properties: { n: { type: 'integer', minimum: 0, maximum: 9, default: 3 }, mode: { type: 'string', enum: ['a', 'b'] } } },
      body: {
        type: 'object',
        title: 'thing object',
        additionalProperties: false,
        properties: {
          n: { type: 'integer', minimum: 1, default: 10 },
          who: { type: 'object', title: 'person object', properties: { name: { type: 'string' } } },
          tags: { type: 'object', additionalProperties: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] } },
        },
        required: ['who'],
      },
    };
    app.post('/t', { schema }, async (req) => {
      seen = { body: req.body, query: { ...(req.query as object) } };
      return {};
    });
    await app.ready();
  });
  after(() => app.close());

  const post = (payload: unknown, query = '') => app.inject({ method: 'POST', url: `/t${query}`, payload: payload as object });
  const err = async (payload: unknown, query = ''): Promise<{ code: string; message: string; details: Record<string, unknown> }> => {
    const res = await post(payload, query);
    assert.equal(res.statusCode, 400, res.body);
    const { code, message, details } = res.json().error;
    return { code, message, details };
  };

  it('fills defaults, coerces the query string, never the body', async () => {
    assert.equal((await post({ who: {} }, '?n=7')).statusCode, 200);
    assert.deepEqual(seen, { body: { who: {}, n: 10 }, query: { n: 7 } });
    assert.deepEqual(await err({ who: {}, n: '5' }), { code: 'RALM_ERR_VALIDATION', message: 'n: expected an integer >= 1, got "5"', details: { field: 'n' } });
    assert.equal((await err({ who: {} }, '?n=12')).message, 'n: expected an integer from 0 to 9, got 12');
    assert.equal((await err({ who: {} }, '?mode=c')).message, 'mode: expected "a" or "b", got "c"');
  });

  it('names the container of a missing field, an unknown field, and the body itself', async () => {
    assert.deepEqual(await err({}), { code: 'RALM_ERR_VALIDATION', message: 'body: expected a person object in "who"', details: { field: 'body' } });
    assert.equal((await err({ who: {}, colour: 1 })).message, 'colour: unknown field (known: n, who, tags)');
    assert.equal((await err([1])).message, 'body: expected a thing object, got [1]');
    assert.equal((await err({ who: { name: 5 } })).message, 'who.name: expected a string, got 5');
  });

  it('reports an anyOf at the branch the value took, else naming every branch', async () => {
    assert.equal((await err({ who: {}, tags: { a: ['x', 2] } })).message, 'tags.a[1]: expected a string, got 2');
    assert.equal((await err({ who: {}, tags: { a: true } })).message, 'tags.a: expected a string or an array of strings, got true');
  });

  it('says what a schema accepts', () => {
    assert.equal(expected({ type: 'integer', minimum: 1, maximum: 5 }), 'an integer from 1 to 5');
    assert.equal(expected({ type: 'number', exclusiveMinimum: 0 }), 'a number > 0');
    assert.equal(expected({ type: 'string', minLength: 1, maxLength: 256 }), 'a string of 1 to 256 characters');
    assert.equal(expected({ type: 'object', nullable: true }), 'an object or null');
    assert.equal(expected({ type: 'array', items: { type: 'number' } }), 'an array of numbers');
    assert.equal(expected({ type: 'object', title: 'user object' }), 'a user object');
    assert.equal(expected({ type: 'string', title: 'id of 1 to 256 characters' }), 'an id of 1 to 256 characters');
  });
});

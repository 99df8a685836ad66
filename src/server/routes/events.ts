/** POST /v1/events: click events, stored durably before the reply. */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ClickEvent } from '../../store/store.js';
import type { ServiceContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { errors, id, ids } from '../schemas.js';

interface EventsRequest {
  Body: { events: ClickEvent[] };
}

/**
 * An event's time: whole epoch milliseconds from 1990-01-01T00:00:00Z, and (checked per request,
 * since a schema is fixed) at most a day past the server's clock. Earlier is a unit mistake
 * (epoch seconds read as milliseconds fall in 1970); a click from the far future would stay an
 * item's newest seed for ever.
 */
export const TS_MIN = Date.UTC(1990, 0, 1);
export const TS_MAX_AHEAD_MS = 86_400_000;
const ts = { type: 'integer', minimum: TS_MIN, title: 'timestamp: whole epoch milliseconds, from 1990-01-01 to a day past the server\'s clock' };

const schema = {
  summary: 'Store click events (durable before the reply)',
  description: 'The body is {events: [...]}, or the array of events alone.',
  body: {
    type: 'object',
    title: 'object {events}',
    properties: {
      events: {
        type: 'array',
        title: 'array of click events',
        items: {
          type: 'object',
          title: 'object {user, item, ts, id?}',
          properties: {
            user: id('user id'),
            item: id('item id'),
            ts,
            id: { ...id('event id'), description: 'idempotency key' },
          },
          required: ['user', 'item', 'ts'],
        },
      },
    },
    required: ['events'],
  },
  response: {
    200: { type: 'object', properties: { accepted: { type: 'integer' }, duplicates: { type: 'integer' }, unknownUserEvents: { type: 'integer' }, unknownUsers: ids('unknown user ids (at most 100)', 'user ids') } },
    ...errors,
  },
};

export const eventsRoutes: FastifyPluginAsync<ServiceContext> = async (app, ctx) => {
  app.post<EventsRequest>('/v1/events', {
    schema,
    // The array alone is the same request: wrapped before validation, so errors name events[i] either way.
    preValidation: async (req: FastifyRequest) => {
      if (Array.isArray(req.body)) req.body = { events: req.body };
    },
  }, async (req) => {
    const latest = Date.now() + TS_MAX_AHEAD_MS;
    req.body.events.forEach((e, i) => {
      if (e.ts > latest) throw new ServiceError('RALM_ERR_VALIDATION', `events[${i}].ts: expected a timestamp at most a day past the server's clock (${new Date(latest).toISOString()}), got ${e.ts}`, { field: `events[${i}].ts` });
    });
    return ctx.serving.now.seeds.ingest(req.body.events);
  });
};

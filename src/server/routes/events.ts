/** POST /v1/events: click events, stored durably before the reply. */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ClickEvent } from '../../store/store.js';
import type { ServiceContext } from '../context.js';
import { errors, ids } from '../schemas.js';

interface EventsRequest {
  Body: { events: ClickEvent[] };
}

const idOf = (what: string) => ({ type: 'string', minLength: 1, maxLength: 256, title: `${what} (1 to 256 characters)` });

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
            user: idOf('user id'),
            item: idOf('item id'),
            ts: { type: 'number', minimum: 0, title: 'timestamp in epoch milliseconds' },
            id: { ...idOf('event id'), description: 'idempotency key' },
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
  }, async (req) => ctx.serving.now.seeds.ingest(req.body.events));
};

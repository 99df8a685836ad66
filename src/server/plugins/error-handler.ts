/**
 * Every error leaves the service in one shape, `{error: {code, message, details?, requestId}}`,
 * with the status of its code in the table (../errors.ts), in the request's encoding. Coded errors
 * (the engine's, the service's, validation's) pass as they are; Fastify's own become the nearest
 * code; anything else is an internal error, logged with its request id and never shown.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { RalmError } from '../../util/errors.js';
import { ServiceError, STATUS, type ServiceErrorCode } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { MSGPACK, jsonSerializer, useEncoding } from './encoding.js';

export function errorHandlers(app: FastifyInstance, o: { metrics: Metrics; bodyLimit: number }): void {
  app.setErrorHandler((err: FastifyError | RalmError | ServiceError, req, reply) => {
    let code: ServiceErrorCode;
    let message = err.message;
    let details: Record<string, unknown> | undefined;
    if (err instanceof RalmError || err instanceof ServiceError) {
      code = err.code;
      details = err.details;
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      code = 'RALM_ERR_BODY_TOO_LARGE';
      message = `body: larger than the ${o.bodyLimit}-byte limit`;
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      code = 'RALM_ERR_UNSUPPORTED_MEDIA_TYPE';
      message = `content-type: expected application/json or ${MSGPACK}`;
    } else if (err.statusCode === 400) {
      code = 'RALM_ERR_MALFORMED_BODY';
      message = `body: ${err.message}`;
    } else {
      code = 'RALM_ERR_INTERNAL';
      req.log.error({ err }, 'unhandled error');
      message = 'internal error (see the server log for the request id)';
    }
    o.metrics.countError(code);
    if (code === 'RALM_ERR_OVERLOADED') reply.header('retry-after', String((details?.retryAfterSeconds as number | undefined) ?? 1));
    useEncoding(req, reply);
    void reply.status(STATUS[code]).send({ error: { code, message, ...(details ? { details } : {}), requestId: req.id } });
  });
  app.setNotFoundHandler((req, reply) => {
    o.metrics.countError('RALM_ERR_NOT_FOUND');
    reply.type('application/json; charset=utf-8');
    reply.serializer(jsonSerializer);
    void reply.status(404).send({ error: { code: 'RALM_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url}`, requestId: req.id } });
  });
}

/**
 * Every error leaves the service in one shape, `{error: {code, message, details?, requestId}}`,
 * with the status of its code in the table (../errors.ts), in the request's encoding. Coded errors
 * (the engine's, the service's, validation's) pass as they are; Fastify's own — routing, body
 * parsing, bad URLs, and what Node's HTTP parser refuses — become the nearest code; anything else
 * is an internal error, never shown. Each error is logged once: a 5xx with its request id, route
 * and cause (the stack for a 500), a 4xx at info without the body.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RalmError } from '../../util/errors.js';
import { ServiceError, STATUS, type ServiceErrorCode } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { ID_MAX_LENGTH } from '../schemas.js';
import { MSGPACK, useEncoding } from './encoding.js';
import { markLogged, REQUEST_ID_HEADER } from './request-log.js';

type AnyError = FastifyError | RalmError | ServiceError;

export function errorHandlers(app: FastifyInstance, o: { metrics: Metrics; bodyLimit: number }): void {
  app.setErrorHandler((err: AnyError, req, reply) => {
    const { code, message, details } = coded(err, o.bodyLimit);
    if (err instanceof ServiceError && err.headers) void reply.headers(err.headers);
    if (code === 'RALM_ERR_OVERLOADED') reply.header('retry-after', String((details?.retryAfterSeconds as number | undefined) ?? 1));
    sendError(req, reply, o.metrics, { code, message, details }, err);
  });
  app.setNotFoundHandler((req, reply) => {
    sendError(req, reply, o.metrics, { code: 'RALM_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url}` });
  });
}

interface Coded {
  code: ServiceErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

function coded(err: AnyError, bodyLimit: number): Coded {
  if (err instanceof RalmError || err instanceof ServiceError) return { code: err.code, message: err.message, details: err.details };
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return { code: 'RALM_ERR_BODY_TOO_LARGE', message: `body: larger than the ${bodyLimit}-byte limit` };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return { code: 'RALM_ERR_UNSUPPORTED_MEDIA_TYPE', message: `content-type: expected application/json or ${MSGPACK}` };
  }
  if (err.statusCode === 400) return { code: 'RALM_ERR_MALFORMED_BODY', message: `body: ${err.message}` };
  return { code: 'RALM_ERR_INTERNAL', message: 'internal error (see the server log for the request id)' };
}

/** Sends a coded error in the request's encoding, counts it and logs it once. `cause`: what was thrown. */
export function sendError(req: FastifyRequest, reply: FastifyReply, metrics: Metrics, e: Coded, cause?: unknown): void {
  const status = STATUS[e.code];
  metrics.countError(e.code);
  const where = { code: e.code, status, route: req.routeOptions.url ?? null, method: req.method };
  markLogged(req);
  if (status >= 500) {
    // A 500 is a fault of the service: its stack. A 503 or 504 is a state (closing, shedding, late): its message.
    if (status === 500) req.log.error({ ...where, err: cause }, `request failed: ${cause instanceof Error ? cause.message : e.message}`);
    else req.log.warn(where, `request refused: ${e.message}`);
  } else {
    req.log.info(where, `request refused: ${e.message}`);
  }
  useEncoding(req, reply);
  reply.header(REQUEST_ID_HEADER, req.id);
  void reply.status(status).send({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}), requestId: req.id } });
}

/**
 * Fastify's `frameworkErrors`: what its router refuses before any route runs. A path segment
 * longer than the router's limit is an id over the id limit (the limit is sized so), and a bad
 * percent-escape is a URL the service cannot read.
 */
export function frameworkErrors(metrics: Metrics): (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => void {
  return (err, req, reply) => {
    const path = JSON.stringify(req.url.length > 80 ? `${req.url.slice(0, 80)}…` : req.url);
    const e: Coded = err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? { code: 'RALM_ERR_VALIDATION', message: `id: expected an id of at most ${ID_MAX_LENGTH} characters, got a longer one in ${path}`, details: { field: 'id' } }
      : err.code === 'FST_ERR_BAD_URL'
        ? { code: 'RALM_ERR_VALIDATION', message: `url: expected a path with valid percent-escapes (UTF-8), got ${path}`, details: { field: 'url' } }
        : { code: 'RALM_ERR_INTERNAL', message: 'internal error (see the server log for the request id)' };
    sendError(req, reply, metrics, e, err);
  };
}


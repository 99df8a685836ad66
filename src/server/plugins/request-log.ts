/**
 * Request ids and the request log. A client's `x-request-id` is kept when it is sane (1 to 128
 * of `[A-Za-z0-9._:-]`, so it cannot forge log lines or grow them); otherwise the request gets a
 * random UUID, unique across processes and restarts. Every reply carries the id back in
 * `x-request-id`, and every log line and error body of the request carries it too. Fastify's
 * two info lines per request become one line at debug once the reply is sent; errors are
 * logged by the error handler, once each.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

export const REQUEST_ID_HEADER = 'x-request-id';
const SANE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Fastify's genReqId: the client's id when sane, else a fresh one. */
export function requestId(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && SANE.test(given) ? given : randomUUID();
}

const logged = new WeakSet<FastifyRequest>();

/** Notes that a request's error was logged (by the error handler), so the request log does not log it again. */
export function markLogged(req: FastifyRequest): void {
  logged.add(req);
}

/**
 * Fastify's logController: one debug line per request, after the reply — and a warning for a
 * 5xx that no error handler logged (a reply a plugin sent itself, such as load shedding's), so
 * every 5xx is logged once.
 */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    const at = { method: req.method, url: req.url, route: req.routeOptions.url ?? null, status: reply.statusCode, ms: reply.elapsedTime };
    if (error) reply.log.error({ ...at, err: error }, 'reply failed');
    else if (reply.statusCode >= 500 && !logged.has(req)) req.log.warn(at, `request answered ${reply.statusCode}`);
    else req.log.debug(at, 'request');
  }
}

/** Echoes the request id on every reply. */
export function requestIds(app: FastifyInstance): void {
  app.addHook('onSend', async (req, reply, payload) => {
    reply.header(REQUEST_ID_HEADER, req.id);
    return payload;
  });
}

/**
 * What a client gets when its bytes never become a request Fastify can route: a request or its
 * headers not sent in time (RALM_HTTP_REQUEST_TIMEOUT_MS, RALM_HEADERS_TIMEOUT_MS), headers too
 * large, or bytes that are not HTTP/1.1. The same coded body as every other error (without a
 * request id: there is no request), then the connection closes, as Node's own handler does.
 */
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ServiceError, STATUS, type ServiceErrorCode } from '../errors.js';

const REASONS: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

export function clientErrorHandler(limits: { httpRequestTimeoutMs: number; headersTimeoutMs: number }): (err: NodeJS.ErrnoException, socket: Socket) => void {
  return (err, socket) => {
    // A reset connection has nobody left to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    let code: ServiceErrorCode;
    let message: string;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      code = 'RALM_ERR_REQUEST_TIMEOUT';
      message = `request: expected the headers within ${limits.headersTimeoutMs} ms and the whole request within ${limits.httpRequestTimeoutMs} ms; it was not received in time`;
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      code = 'RALM_ERR_HEADERS_TOO_LARGE';
      message = 'headers: expected them within the size the server reads (Node\'s --max-http-header-size); they are larger';
    } else {
      code = 'RALM_ERR_MALFORMED_BODY';
      message = `request: expected valid HTTP/1.1, got bytes the parser refuses (${err.code ?? 'parse error'})`;
    }
    writeError(socket, code, message);
    socket.destroy(err);
  };
}

/** A coded error written straight to a socket, for answers no Fastify reply can give. */
function writeError(socket: Duplex, code: ServiceErrorCode, message: string): void {
  const status = STATUS[code];
  const body = JSON.stringify({ error: { code, message } });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${REASONS[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
}

/**
 * Requests Node's HTTP server would answer itself with an empty body, or not at all: an Expect
 * other than 100-continue (Node: a bare 417), HTTP/1.1 without a Host header (Node: a bare 400),
 * CONNECT (Node: the socket closed unanswered), and a request whose client half-closes after
 * sending it (Node: the socket ended before the answer). Each gets the coded format instead. Node's
 * own Host check is switched off where the server is made (`requireHostHeader: false`, app.ts),
 * so that the check here can answer in that format, with a request id.
 */
export function protocolEdges(app: FastifyInstance): void {
  // A client may send its request and then half-close (shut down its sending side, as `nc -N`
  // does): that does not mean it wants no answer (RFC 9112's note on half-closed connections,
  // https://github.com/httpwg/http-core/pull/431). Node's server would end the socket at the FIN,
  // before the answer; with this it answers, then closes. (A property of node:http's Server since
  // its first versions, missing from its typings.)
  (app.server as typeof app.server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  app.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const body = JSON.stringify({ error: { code: 'RALM_ERR_VALIDATION', message: `expect: expected 100-continue or no Expect header, got ${JSON.stringify(req.headers.expect ?? '')}`, details: { field: 'expect' } } });
    res.writeHead(STATUS.RALM_ERR_VALIDATION, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
  });
  app.server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    writeError(socket, 'RALM_ERR_NOT_FOUND', `no route CONNECT ${JSON.stringify(req.url ?? '')}: the service is not a proxy`);
    socket.end();
  });
  app.addHook('onRequest', async (req) => {
    if (req.raw.httpVersion === '1.1' && req.headers.host === undefined) {
      throw new ServiceError('RALM_ERR_VALIDATION', 'host: expected a Host header (HTTP/1.1 requires one)', { field: 'host' });
    }
  });
}

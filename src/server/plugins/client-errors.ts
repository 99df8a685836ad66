/**
 * What a client gets when its bytes never become a request Fastify can route: a request or its
 * headers not sent in time (RALM_HTTP_REQUEST_TIMEOUT_MS, RALM_HEADERS_TIMEOUT_MS), headers too
 * large, or bytes that are not HTTP/1.1. The same coded body as every other error (without a
 * request id: there is no request), then the connection closes, as Node's own handler does.
 */
import type { Socket } from 'node:net';
import { STATUS, type ServiceErrorCode } from '../errors.js';

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

export function clientErrorHandler(limits: { httpRequestTimeoutMs: number; headersTimeoutMs: number }): (err: NodeJS.ErrnoException, socket: Socket) => void {
  return (err, socket) => {
    // A reset connection has nobody left to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    let code: ServiceErrorCode;
    let message: string;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      code = 'RALM_ERR_REQUEST_TIMEOUT';
      message = `the request was not received in time (headers within ${limits.headersTimeoutMs} ms, the whole request within ${limits.httpRequestTimeoutMs} ms)`;
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      code = 'RALM_ERR_HEADERS_TOO_LARGE';
      message = 'the request headers are larger than the server accepts';
    } else {
      code = 'RALM_ERR_MALFORMED_BODY';
      message = `the request is not valid HTTP/1.1 (${err.code ?? 'parse error'})`;
    }
    const status = STATUS[code];
    const body = JSON.stringify({ error: { code, message } });
    if (socket.writable) {
      socket.write(`HTTP/1.1 ${status} ${REASONS[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
    socket.destroy(err);
  };
}

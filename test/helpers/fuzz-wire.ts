/**
 * The HTTP fuzzer's raw-socket cases: requests written byte for byte, with the framing an HTTP
 * client library would never send — a Content-Length that is short, long, doubled or not a number,
 * chunked bodies with bad chunk sizes, both framings at once, odd Expect, Upgrade and Connection
 * headers, no Host, HTTP/1.0, CONNECT — so what Node's HTTP server answers by itself is judged
 * like everything else (test/helpers/fuzz-check.ts).
 */
import fc from 'fast-check';
import { connect } from 'node:net';
import type { Answer } from './fuzz-check.js';
import type { FuzzCase, FuzzWorld } from './fuzz-requests.js';

const framing = fc.constantFrom('length', 'short', 'long', 'double', 'nan', 'negative', 'chunked', 'bad-chunk', 'both', 'none');

/** One raw request, as a case whose `wire` holds its bytes. */
export function wireCases(w: FuzzWorld): fc.Arbitrary<FuzzCase> {
  const user = w.users[0];
  const target = fc.constantFrom(
    { route: 'POST /v1/recommend', method: 'POST', path: '/v1/recommend', body: JSON.stringify({ user: { id: user }, k: 3 }) },
    { route: 'POST /v1/events', method: 'POST', path: '/v1/events', body: JSON.stringify({ events: [{ user, item: w.items[0], ts: Date.now() }] }) },
    { route: 'GET /v1/users/:id', method: 'GET', path: `/v1/users/${user}`, body: '' },
    { route: 'GET /healthz', method: 'GET', path: '/healthz', body: '' },
    { route: 'POST /v1/admin/recluster', method: 'POST', path: '/v1/admin/recluster', body: '' },
    { route: 'stray', method: 'CONNECT', path: 'example.org:443', body: '' },
    { route: 'stray', method: 'OPTIONS', path: '*', body: '' },
  );
  const extra = fc.subarray([
    'Expect: 100-continue', 'Expect: nothing-we-know', 'Upgrade: websocket\r\nConnection: Upgrade', 'Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__',
    'Content-Type: application/json', 'Content-Type: application/json', 'Content-Type: application/msgpack', 'Content-Type: text/plain', 'Content-Encoding: gzip',
    `Authorization: Bearer ${w.tokens.all}`, `Authorization: Bearer ${w.tokens.all}`, `Authorization: Bearer ${w.tokens.all}`, 'Authorization: Bearer', 'X-Request-Id: ',
    'Host: second-host', 'Keep-Alive: timeout=1', 'Accept: application/msgpack', 'X-Ralm-Deadline-Ms: 0',
  ]);
  return fc.record({ target, framing, extra, version: fc.constantFrom('1.1', '1.1', '1.1', '1.0'), host: fc.constantFrom(true, true, true, false) }).map(({ target: t, framing: f, extra: x, version, host }) => {
    const body = Buffer.from(t.body);
    const head = [`${t.method} ${t.path} HTTP/${version}`, ...(host ? ['Host: fuzz'] : []), 'Connection: close', ...x];
    let payload = body;
    switch (f) {
      case 'length': head.push(`Content-Length: ${body.length}`); break;
      case 'short': head.push(`Content-Length: ${Math.max(0, body.length - 3)}`); break;
      case 'long': head.push(`Content-Length: ${body.length + 7}`); break;
      case 'double': head.push(`Content-Length: ${body.length}`, `Content-Length: ${body.length + 1}`); break;
      case 'nan': head.push('Content-Length: abc'); break;
      case 'negative': head.push('Content-Length: -1'); break;
      case 'chunked': head.push('Transfer-Encoding: chunked'); payload = Buffer.from(`${body.length > 0 ? `${body.length.toString(16)}\r\n${t.body}\r\n` : ''}0\r\n\r\n`); break;
      case 'bad-chunk': head.push('Transfer-Encoding: chunked'); payload = Buffer.from(`zz\r\n${t.body}\r\n0\r\n\r\n`); break;
      case 'both': head.push('Transfer-Encoding: chunked', `Content-Length: ${body.length}`); payload = Buffer.from(`${body.length.toString(16)}\r\n${t.body}\r\n0\r\n\r\n`); break;
      case 'none': break;
    }
    const wire = Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), payload]);
    const headers = Object.fromEntries(head.slice(1).flatMap((l) => l.split('\r\n')).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    return { route: t.route, method: t.method, path: t.path, headers, encoding: 'raw' as const, kind: `wire ${f}`, wire };
  });
}

/** Writes a raw request, half-closes, and reads the first final answer (a 100 Continue is skipped). */
export function sendWire(url: URL, c: FuzzCase, timeoutMs = 10_000): Promise<Answer & { error?: string }> {
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const got = parseResponse(Buffer.concat(chunks));
      resolve(got ?? { status: 0, headers: {}, body: Buffer.alloc(0), error: e.code ?? e.message });
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseResponse(Buffer.concat(chunks)) ?? { status: 0, headers: {}, body: Buffer.alloc(0), error: 'closed without an answer' });
    });
    socket.end(c.wire ?? Buffer.alloc(0));
  });
}

/** The first final response in `raw`, its chunked body joined; undefined when there is none. */
function parseResponse(raw: Buffer): Answer | undefined {
  let at = 0;
  for (;;) {
    const end = raw.indexOf('\r\n\r\n', at);
    if (end < 0) return undefined;
    const lines = raw.subarray(at, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? 0);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
    at = end + 4;
    if (status === 100) continue;
    let body = raw.subarray(at);
    if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
    else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
    return { status, headers, body };
  }
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; ;) {
    const eol = b.indexOf('\r\n', at);
    const size = eol < 0 ? 0 : parseInt(b.subarray(at, eol).toString('latin1'), 16);
    if (!(size > 0)) return Buffer.concat(out);
    out.push(b.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

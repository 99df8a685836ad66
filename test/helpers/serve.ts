/**
 * `ralm serve` as a real child process on a free loopback port, for tests that need signals,
 * sockets and process lifetimes; and a keep-alive HTTP client that reports how each request ended
 * (an answer, or the socket error), which fetch() hides behind retries.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/paths.js';

export interface Served {
  url: URL;
  child: ChildProcess;
  log: () => string;
  /** Resolves with the exit code (or signal) and when it came, performance.now() time. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Resolves when the server's stderr closes: the server process is gone, whoever its parent was. */
  gone: Promise<number>;
}

/** Starts `ralm serve` (or, with `shell`, `sh -c "node … serve …; :"`, so the shell stays its parent as under npm). */
export async function serve(args: string[], env: NodeJS.ProcessEnv = {}, shell = false): Promise<Served> {
  const argv = [join(packageRoot, 'bin', 'ralm.js'), 'serve', '--port', '0', '--backend', 'cpu', ...args];
  const quoted = [process.execPath, ...argv].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const child = shell
    ? spawn('sh', ['-c', `${quoted}; :`], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RALM_API_TOKEN: '', ...env } })
    : spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RALM_API_TOKEN: '', ...env } });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) => child.on('exit', (code, signal) => r({ code, signal, at: performance.now() })));
  const gone = new Promise<number>((r) => child.stderr?.on('close', () => r(performance.now())));
  const { url, log } = await listening(child);
  return { url, child, log, exited, gone };
}

/**
 * Waits for a `ralm serve` child (however it was started) to say where it listens; its stderr is
 * collected from the start. Rejects with that log if it exits first or takes over a minute.
 */
export async function listening(child: ChildProcess): Promise<{ url: URL; log: () => string }> {
  let log = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 60_000);
    child.stderr?.on('data', (c: Buffer) => {
      log += c.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
  });
  return { url: new URL(url), log: () => log };
}

export interface Outcome {
  status?: number;
  /** The error code of a coded error body. */
  code?: string;
  retryAfter?: string;
  connection?: string;
  /** The socket error, when no answer came. */
  error?: string;
  ms: number;
}

/** One request on `agent`; never rejects. */
export function request(url: URL, agent: http.Agent, method: string, path: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<Outcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request({
      agent, host: url.hostname, port: url.port, path, method, timeout: timeoutMs,
      headers: { ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.byteLength) } : {}), ...headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let code: string | undefined;
        if ((res.statusCode ?? 0) >= 400) {
          try {
            code = (JSON.parse(Buffer.concat(chunks).toString()) as { error?: { code?: string } }).error?.code;
          } catch {
            code = undefined;
          }
        }
        resolve({ status: res.statusCode, code, retryAfter: res.headers['retry-after'], connection: res.headers.connection, ms: performance.now() - t0 });
      });
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message, ms: performance.now() - t0 }));
    req.end(payload);
  });
}

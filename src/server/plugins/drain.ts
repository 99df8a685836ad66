/**
 * Clean shutdown of the HTTP side, with no request dropped. Draining starts with readiness off
 * and the listening socket closed (no new connections); requests already in flight finish, and
 * their responses say `Connection: close`, so each client learns the connection is ending from
 * an answer, never from a reset. A request that arrives on a kept-alive connection meanwhile gets
 * 503 RALM_ERR_CLOSED (probes and metrics are still answered). Once nothing has been in flight
 * for a short quiet spell, the connections left idle are closed, and then the app.
 *
 * Why not only `app.close()`: Node's `server.close()` closes idle kept-alive connections at
 * once, and a client that had just sent its next request on one of them sees the connection
 * reset with no answer (1–2 requests per SIGTERM under load). Here the listening socket is
 * closed without touching connections, and idle ones are closed only after the quiet spell.
 */
import type { FastifyInstance } from 'fastify';
import { Server as NetServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ServiceError } from '../errors.js';
import { unbounded } from './admission.js';
import type { AppState } from './serving.js';

/** How long nothing may be in flight before idle connections are closed, ms. */
const QUIET_MS = 200;
const POLL_MS = 10;

export interface Drain {
  /** Requests being handled now (every route). */
  readonly inflight: number;
  /** Stops accepting, answers what is in flight, closes every connection, then the app. */
  close(): Promise<void>;
}

export function drain(app: FastifyInstance, state: AppState): Drain {
  let inflight = 0;
  let lastArrival = 0;
  const sockets = new Set<Socket>();
  app.server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  app.addHook('onRequest', async (req, reply) => {
    lastArrival = performance.now();
    inflight++;
    reply.raw.once('close', () => inflight--);
    if (state.draining && !unbounded(req)) {
      reply.header('retry-after', '1');
      throw new ServiceError('RALM_ERR_CLOSED', 'the service is shutting down; retry on another instance or after the restart');
    }
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    if (state.draining) reply.header('connection', 'close');
    return payload;
  });

  const settle = async (): Promise<void> => {
    const quiet = (): boolean => inflight === 0 && performance.now() - lastArrival >= QUIET_MS;
    while (!quiet()) await new Promise((r) => setTimeout(r, POLL_MS));
  };

  let closing: Promise<void> | undefined;
  return {
    get inflight() {
      return inflight;
    },
    close() {
      closing ??= (async () => {
        state.draining = true;
        // net.Server's close stops listening only (http.Server's would also close idle connections now).
        if (app.server.listening) NetServer.prototype.close.call(app.server);
        for (;;) {
          await settle();
          // Kept-alive connections with nothing in flight: no answer is owed on them.
          app.server.closeIdleConnections();
          if (sockets.size === 0) break;
          await new Promise((r) => setTimeout(r, POLL_MS));
        }
        await app.close();
      })();
      return closing;
    },
  };
}

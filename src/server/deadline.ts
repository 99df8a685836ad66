/**
 * A request's deadline counts from its arrival — the moment Fastify started routing it (what
 * `reply.elapsedTime` runs from) — not from when its handler runs, so time spent receiving and
 * parsing the body counts against it too.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { performance } from 'node:perf_hooks';
import { ServiceError } from './errors.js';

/** The request's arrival, as a performance.now() time. */
export function arrivalOf(reply: FastifyReply): number {
  return performance.now() - reply.elapsedTime;
}

/** The request's deadline (performance.now() time): the service's default, or less with x-ralm-deadline-ms. */
export function deadlineOf(req: FastifyRequest, reply: FastifyReply, defaultMs: number): number {
  const asked = Number(req.headers['x-ralm-deadline-ms']);
  return arrivalOf(reply) + (asked > 0 ? Math.min(asked, defaultMs) : defaultMs);
}

/** Throws 504 RALM_ERR_DEADLINE_EXCEEDED when `deadline` has passed: the work is then never done. */
export function checkDeadline(deadline: number, reply: FastifyReply): void {
  if (performance.now() >= deadline) {
    throw new ServiceError('RALM_ERR_DEADLINE_EXCEEDED', `the request's deadline passed ${reply.elapsedTime.toFixed(0)} ms after it arrived, before it could be computed`);
  }
}

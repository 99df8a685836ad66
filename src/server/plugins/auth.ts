/**
 * The one check of the API token: a hook for the routes that need it. It runs once the body is
 * read and before it is validated, so a caller without the token learns nothing about the body.
 */
import type { FastifyRequest } from 'fastify';
import { ServiceError } from '../errors.js';

/** A preValidation hook refusing requests without `Authorization: Bearer <token>`; a null token lets all through. */
export function requireToken(token: string | null): (req: FastifyRequest) => Promise<void> {
  return async (req) => {
    if (token === null) return;
    if (req.headers.authorization !== `Bearer ${token}`) throw new ServiceError('RALM_ERR_UNAUTHORIZED', 'authorization: expected "Bearer <api token>"');
  };
}

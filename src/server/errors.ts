/** The one coded error table: every error the service returns has a code and a status. */
import { RalmError, type RalmErrorCode } from '../util/errors.js';

export type ServiceErrorCode =
  | RalmErrorCode
  | 'RALM_ERR_UNKNOWN_USER'
  | 'RALM_ERR_MALFORMED_BODY'
  | 'RALM_ERR_BODY_TOO_LARGE'
  | 'RALM_ERR_UNSUPPORTED_MEDIA_TYPE'
  | 'RALM_ERR_UNAUTHORIZED'
  | 'RALM_ERR_FORBIDDEN'
  | 'RALM_ERR_RATE_LIMITED'
  | 'RALM_ERR_REQUEST_TIMEOUT'
  | 'RALM_ERR_HEADERS_TOO_LARGE'
  | 'RALM_ERR_NOT_FOUND'
  | 'RALM_ERR_OVERLOADED'
  | 'RALM_ERR_UNDER_PRESSURE'
  | 'RALM_ERR_DEADLINE_EXCEEDED'
  | 'RALM_ERR_CONFLICT'
  | 'RALM_ERR_INTERNAL';

export const STATUS: Record<ServiceErrorCode, number> = {
  RALM_ERR_VALIDATION: 400,
  RALM_ERR_DIMENSION: 400,
  RALM_ERR_NON_FINITE: 400,
  RALM_ERR_MALFORMED_BODY: 400,
  RALM_ERR_UNAUTHORIZED: 401,
  RALM_ERR_FORBIDDEN: 403,
  RALM_ERR_UNKNOWN_ITEM: 404,
  RALM_ERR_UNKNOWN_USER: 404,
  RALM_ERR_NOT_FOUND: 404,
  RALM_ERR_REQUEST_TIMEOUT: 408,
  RALM_ERR_CONFLICT: 409,
  RALM_ERR_CANCELLED: 409,
  // A re-clustering run whose lease was taken over meanwhile: its publication was refused (the newer leader's stands).
  RALM_ERR_STALE_LEASE: 409,
  RALM_ERR_BODY_TOO_LARGE: 413,
  RALM_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  // A model directory given to a reload that is not a valid model: the request's fault, not the service's.
  RALM_ERR_MODEL_FORMAT: 422,
  RALM_ERR_OVERLOADED: 429,
  RALM_ERR_RATE_LIMITED: 429,
  RALM_ERR_HEADERS_TOO_LARGE: 431,
  RALM_ERR_INTERNAL: 500,
  RALM_ERR_BACKEND_UNAVAILABLE: 503,
  // The store could not commit for a reason other than space: the service is up, writes are not.
  RALM_ERR_STORE_UNAVAILABLE: 503,
  RALM_ERR_DEVICE_LOST: 503,
  RALM_ERR_CLOSED: 503,
  RALM_ERR_UNDER_PRESSURE: 503,
  RALM_ERR_DEADLINE_EXCEEDED: 504,
  // A run asked of the replica holding the re-clustering lease that neither answered nor freed the lease in time.
  RALM_ERR_LEADER_TIMEOUT: 504,
  // The disk (or quota) is full: the write was not applied; reads keep serving, writes succeed once space returns.
  RALM_ERR_STORAGE_FULL: 507,
};

export class ServiceError extends Error {
  /**
   * `headers`: reply headers that go with the error (WWW-Authenticate, Retry-After). A client
   * error (4xx) carries no stack trace: it is the request's fault, logged without one, and under
   * overload the service refuses thousands a second, where capturing a stack was a twentieth
   * of the event loop's time.
   */
  constructor(readonly code: ServiceErrorCode, message: string, readonly details?: Record<string, unknown>, readonly headers?: Record<string, string>) {
    const limit = Error.stackTraceLimit;
    if (STATUS[code] < 500) Error.stackTraceLimit = 0;
    try {
      super(message);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}

/**
 * Engine errors name fields of a batch ("requests[3].k"); a route's caller knows them unprefixed.
 * Rethrows `err` with `prefix` removed from its message.
 */
export function unprefixed(prefix: RegExp): (err: unknown) => never {
  return (err: unknown) => {
    if (err instanceof RalmError) {
      err.message = err.message.replace(prefix, '');
      if (typeof err.details?.field === 'string') err.details.field = err.details.field.replace(prefix, '');
    }
    throw err;
  };
}

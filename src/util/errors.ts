/**
 * One coded error type for the whole project. `code` is stable and machine-readable
 * (the service maps it to an HTTP status); `message` names the field or object at fault
 * and what was expected.
 */
export type RalmErrorCode =
  | 'RALM_ERR_VALIDATION'
  | 'RALM_ERR_MODEL_FORMAT'
  | 'RALM_ERR_UNKNOWN_ITEM'
  | 'RALM_ERR_DIMENSION'
  | 'RALM_ERR_NON_FINITE'
  | 'RALM_ERR_BACKEND_UNAVAILABLE'
  | 'RALM_ERR_DEVICE_LOST'
  | 'RALM_ERR_CLOSED'
  | 'RALM_ERR_CANCELLED';

export class RalmError extends Error {
  readonly code: RalmErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: RalmErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'RalmError';
    this.code = code;
    this.details = details;
  }
}

/**
 * The project's coded errors: RalmError for what a caller asked (the service maps each code to an
 * HTTP status), StartupError for what the host refused a command. `code` is stable and
 * machine-readable; `message` names the field or object at fault and what was expected.
 */
import { getSystemErrorMap } from 'node:util';

export type RalmErrorCode =
  | 'RALM_ERR_VALIDATION'
  | 'RALM_ERR_MODEL_FORMAT'
  | 'RALM_ERR_UNKNOWN_ITEM'
  | 'RALM_ERR_DIMENSION'
  | 'RALM_ERR_NON_FINITE'
  | 'RALM_ERR_BACKEND_UNAVAILABLE'
  | 'RALM_ERR_DEVICE_LOST'
  | 'RALM_ERR_CLOSED'
  | 'RALM_ERR_CANCELLED'
  | 'RALM_ERR_STORAGE_FULL'
  | 'RALM_ERR_STORE_UNAVAILABLE'
  | 'RALM_ERR_STALE_LEASE'
  | 'RALM_ERR_LEADER_TIMEOUT';

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

/** Why a command or the service could not start or finish, as opposed to a bad argument. */
export type StartupErrorCode =
  | 'RALM_ERR_INSECURE'
  | 'RALM_ERR_LISTEN'
  | 'RALM_ERR_DATA_DIR'
  | 'RALM_ERR_STORE'
  | 'RALM_ERR_IO';

/**
 * A failure of the host around a command — a port in use, a data directory that cannot be
 * opened, a file that cannot be read — or a refusal to start. The CLI prints it as one coded
 * line and exits 1; it never reaches an HTTP client.
 */
export class StartupError extends Error {
  readonly code: StartupErrorCode;

  constructor(code: StartupErrorCode, message: string) {
    super(message);
    this.name = 'StartupError';
    this.code = code;
  }
}

/** A Node system error's reason in words, with its code: `no such file or directory (ENOENT)`; else its message. */
export function systemReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  const known = typeof e?.errno === 'number' ? getSystemErrorMap().get(e.errno) : undefined;
  if (known) return `${known[1]} (${known[0]})`;
  return e instanceof Error ? e.message : String(err);
}

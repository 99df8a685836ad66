/**
 * A failed store write as a coded error. Disk full (and what a full volume reports instead) becomes
 * RALM_ERR_STORAGE_FULL (507); any other write failure RALM_ERR_STORE_UNAVAILABLE (503). Either way
 * the transaction was not applied, so the message says nothing of the request was stored.
 */
import { RalmError } from '../util/errors.js';

/** errno values (and LMDB's own codes) that mean "no room to write". */
const NO_SPACE = new Set([28 /* ENOSPC */, 122 /* EDQUOT */, 27 /* EFBIG */, 5 /* EIO: what a full tmpfs reports */, -30792 /* MDB_MAP_FULL */]);

/** A failed write as a coded error: RALM_ERR_STORAGE_FULL when the disk is full, else RALM_ERR_STORE_UNAVAILABLE. */
export async function storageError(err: unknown): Promise<unknown> {
  if (err instanceof RalmError) return err;
  const commit = (err as { commitError?: Promise<unknown> } | null)?.commitError;
  const cause = commit && typeof commit.then === 'function' ? await commit.then(() => err, (e: unknown) => e) : err;
  const errno = Number((cause as { code?: unknown; errno?: unknown })?.errno ?? (cause as { code?: unknown })?.code);
  const reason = cause instanceof Error ? cause.message : String(cause);
  if (NO_SPACE.has(errno) || /no space|map full|MDB_MAP_FULL|input\/output/i.test(reason)) {
    return new RalmError('RALM_ERR_STORAGE_FULL', `the store could not write (${reason}): the disk is full or not writable; nothing of this request was stored`, { cause: reason });
  }
  return new RalmError('RALM_ERR_STORE_UNAVAILABLE', `the store could not write (${reason}); nothing of this request was stored`, { cause: reason });
}


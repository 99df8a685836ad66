/**
 * How a failed store write is reported: the errno of a full volume (or LMDB's map full) is
 * RALM_ERR_STORAGE_FULL, anything else RALM_ERR_STORE_UNAVAILABLE; lmdb's second promise
 * (`commitError`) is read for the cause. The full path with a real server is disk-full.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { storageError } from '../../src/store/storage-error.js';
import { RalmError } from '../../src/util/errors.js';

function sysError(message: string, errno: number): Error {
  return Object.assign(new Error(message), { errno });
}

describe('store write failures', () => {
  it('a full disk, a quota, a full map and a full tmpfs are RALM_ERR_STORAGE_FULL', async () => {
    for (const e of [sysError('ENOSPC: no space left on device', 28), sysError('EDQUOT', 122), sysError('MDB_MAP_FULL: Environment mapsize limit reached', -30792), sysError('Input/output error', 5)]) {
      const r = await storageError(e);
      assert.ok(r instanceof RalmError);
      assert.equal(r.code, 'RALM_ERR_STORAGE_FULL', e.message);
      assert.match(r.message, /nothing of this request was stored/);
    }
  });

  it('any other failure is RALM_ERR_STORE_UNAVAILABLE, with the cause in the message', async () => {
    const r = await storageError(sysError('EACCES: permission denied', 13));
    assert.ok(r instanceof RalmError);
    assert.equal(r.code, 'RALM_ERR_STORE_UNAVAILABLE');
    assert.match(r.message, /permission denied/);
  });

  it('the cause behind lmdb’s commitError promise decides, and it is handled', async () => {
    const commitError = Promise.reject(sysError('No space left on device', 28));
    const r = await storageError(Object.assign(new Error('Commit failed (see commitError for details)'), { commitError }));
    assert.equal((r as RalmError).code, 'RALM_ERR_STORAGE_FULL');
  });

  it('a coded error passes through unchanged', async () => {
    const e = new RalmError('RALM_ERR_CLOSED', 'the store is closed');
    assert.equal(await storageError(e), e);
  });
});

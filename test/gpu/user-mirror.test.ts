import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rowsToUpload } from '../../src/gpu/user-mirror.js';

describe('user mirror', () => {
  it('uploads every row in use of a new page, else only the rows written since', () => {
    assert.deepEqual(rowsToUpload({ dirtyLo: 3, dirtyHi: 5 }, 1, true, 40, 100), [0, 40]);
    assert.deepEqual(rowsToUpload({ dirtyLo: 3, dirtyHi: 5 }, 2, true, 40, 100), [0, 20]);
    assert.deepEqual(rowsToUpload({ dirtyLo: 3, dirtyHi: 5 }, 2, false, 40, 100), [3, 5]);
    assert.deepEqual(rowsToUpload({ dirtyLo: 0, dirtyHi: 0 }, 0, false, 40, 100), [0, 0]);
  });
});

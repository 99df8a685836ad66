/**
 * Where POST /v1/admin/model may load a model from: only a directory under the models root,
 * after symbolic links and `..` are resolved (realpath), so no path leaves it. Every refusal —
 * outside the root, missing, not a directory, no manifest — is the same coded 400 that repeats
 * the client's own `dir` and nothing else: it never tells whether a path exists, nor where the
 * root is.
 */
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { RalmError } from '../util/errors.js';
import { MANIFEST_FILE } from '../model/model.js';
import { ServiceError } from './errors.js';

/** The model directory `dir` names under `root` (a relative `dir` is taken from the root), or a coded refusal. */
export async function modelDirUnder(root: string | undefined, dir: string): Promise<string> {
  const refused = new ServiceError('RALM_ERR_VALIDATION', `dir: expected a model directory under the models root, got ${JSON.stringify(dir)}`, { field: 'dir' });
  if (root === undefined) {
    throw new ServiceError('RALM_ERR_VALIDATION', 'dir: this server has no models root, so it reloads only its configured model (send no dir)', { field: 'dir' });
  }
  let real: string;
  try {
    const top = await realpath(root);
    real = await realpath(isAbsolute(dir) ? dir : join(top, dir));
    const rel = relative(top, real);
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw refused;
    if (!(await stat(real)).isDirectory() || !(await stat(join(real, MANIFEST_FILE))).isFile()) throw refused;
  } catch {
    throw refused;
  }
  return real;
}

/**
 * A model under the root that fails to load is the request's fault: its message names the file
 * or tensor at fault, with the directory written as the client gave it, never as resolved.
 */
export function modelLoadError(err: unknown, real: string, dir: string): unknown {
  if (!(err instanceof RalmError)) return err;
  err.message = err.message.split(real).join(dir).replace(/'\/[^']*'/g, 'a file');
  return err;
}

/** Runs the `ralm` command line (bin/ralm.js) from the package root; never throws on a non-zero exit. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/paths.js';

const run = promisify(execFile);

export async function ralm(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run(process.execPath, [join(packageRoot, 'bin', 'ralm.js'), ...args], { cwd: packageRoot, maxBuffer: 64 << 20 });
    return { ...r, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

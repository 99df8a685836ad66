/** Runs the `ralm` command line (bin/ralm.js) from the package root; never throws on a non-zero exit. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/paths.js';

const run = promisify(execFile);

export interface RunOptions {
  /** Kill the command after this long (a test that expects a prompt exit must not hang). */
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export async function ralmWith(o: RunOptions, ...args: string[]): Promise<{ stdout: string; stderr: string; code: number; ms: number }> {
  const t0 = performance.now();
  try {
    const r = await run(process.execPath, [join(packageRoot, 'bin', 'ralm.js'), ...args], {
      cwd: o.cwd ?? packageRoot, env: o.env ?? process.env, maxBuffer: 64 << 20, timeout: o.timeoutMs ?? 0, killSignal: 'SIGKILL',
    });
    return { ...r, code: 0, ms: performance.now() - t0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number | null; signal: string | null };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code ?? (e.signal === 'SIGKILL' ? 137 : -1), ms: performance.now() - t0 };
  }
}

export async function ralm(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return ralmWith({}, ...args);
}

/**
 * `fn` over `items` with at most `limit` in flight, results in the items' order: command-line
 * checks are separate processes, so a few at once use both cores where one at a time waits on each.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

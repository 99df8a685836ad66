/**
 * How every command reports: human-readable text, or with --json exactly one JSON document on
 * stdout; progress and logs on stderr; result files written whole, their folders created.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** The result on stdout: `doc` as JSON with --json, else `text` (newline-terminated). */
export function emit(json: boolean, doc: unknown, text: string): void {
  process.stdout.write(json ? JSON.stringify(doc, null, 2) + '\n' : text.endsWith('\n') ? text : text + '\n');
}

/** One progress or log line on stderr. */
export function log(line: string): void {
  process.stderr.write(line + '\n');
}

/** Writes `text` (newline-terminated) to `path` when one was given. */
export async function writeText(path: string | undefined, text: string): Promise<void> {
  if (path === undefined) return;
  await mkdir(dirname(resolve(path)), { recursive: true });
  await writeFile(resolve(path), text + '\n');
}

/** Writes `doc` as indented JSON to `path` when one was given. */
export async function writeResult(path: string | undefined, doc: unknown): Promise<void> {
  await writeText(path, JSON.stringify(doc, null, 2));
}

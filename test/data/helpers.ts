import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the real datasets live: $RALM_DATASETS, else ../shared/data beside the repository. */
export const datasetsDir = process.env.RALM_DATASETS ?? resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', '..', 'shared', 'data');

/** A temporary folder with the given files (names ending in .gz are gzipped), and its removal. */
export async function tempFiles(files: Record<string, string>): Promise<{ dir: string; path: (name: string) => string; done: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ralm-data-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), name.endsWith('.gz') ? gzipSync(Buffer.from(text)) : text);
  return { dir, path: (name) => join(dir, name), done: () => rm(dir, { recursive: true, force: true }) };
}

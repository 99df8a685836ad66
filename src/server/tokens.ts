/**
 * The API's token model. A token holds one or more scopes: `read` (routes that reveal data),
 * `write` (routes that change it) and `admin` (operator actions), and `admin` implies the other
 * two. Tokens come from the configuration as `scope[+scope]:token` entries — a comma-separated
 * list, or a file with one per line so they stay out of process listings — and the single
 * `--api-token` is one token with every scope. With no token at all the API is open.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { RalmError, StartupError } from '../util/errors.js';

export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiToken {
  readonly token: string;
  readonly scopes: ReadonlySet<Scope>;
  /** What logs and rate-limit keys name the token by: the start of its SHA-256, never the token. */
  readonly label: string;
}

/** RFC 6750's token characters: what a client can send after `Bearer ` as is. */
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Whether a token grants a scope (`admin` grants all). */
export function grants(t: ApiToken, scope: Scope): boolean {
  return t.scopes.has('admin') || t.scopes.has(scope);
}

export function apiToken(token: string, scopes: Iterable<Scope>): ApiToken {
  if (!TOKEN.test(token)) throw new Error('a token is letters, digits and - . _ ~ + / (then any = padding)');
  return { token, scopes: new Set(scopes), label: `token:${createHash('sha256').update(token).digest('hex').slice(0, 8)}` };
}

/** One `scope[+scope]:token` entry. */
export function parseTokenEntry(entry: string): ApiToken {
  const colon = entry.indexOf(':');
  if (colon <= 0) throw new Error(`expected scope[+scope]:token, got an entry without scopes`);
  const scopes = entry.slice(0, colon).split('+').map((s) => s.trim());
  for (const s of scopes) if (!(SCOPES as readonly string[]).includes(s)) throw new Error(`unknown scope ${JSON.stringify(s)} (known: ${SCOPES.join(', ')})`);
  return apiToken(entry.slice(colon + 1).trim(), scopes as Scope[]);
}

/** `scope[+scope]:token,…` (empty: none). */
export function parseTokenList(raw: string): ApiToken[] {
  return raw.split(',').map((s) => s.trim()).filter((s) => s !== '').map(parseTokenEntry);
}

/** A token file: one `scope[+scope]:token` per line; blank lines and lines starting with # are skipped. */
export function readTokenFile(path: string): ApiToken[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const out: ApiToken[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const entry = line.trim();
    if (entry === '' || entry.startsWith('#')) return;
    try {
      out.push(parseTokenEntry(entry));
    } catch (err) {
      throw new Error(`line ${i + 1}: ${(err as Error).message}`);
    }
  });
  return out;
}

/** Every configured token: the single all-scope one first, then the lists. A token given twice is refused. */
export function allTokens(single: string | null, ...lists: ReadonlyArray<readonly ApiToken[]>): ApiToken[] {
  const out = [...(single === null ? [] : [apiToken(single, SCOPES)]), ...lists.flat()];
  const seen = new Set<string>();
  for (const t of out) {
    if (seen.has(t.token)) throw new RalmError('RALM_ERR_VALIDATION', `configuration: the token ${t.label} is given twice (each token has one set of scopes)`);
    seen.add(t.token);
  }
  return out;
}

/** Hosts that only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The start-up rule for an open API: refused on a host other than loopback unless `insecure`,
 * and a warning (returned) on loopback. Nothing to say when tokens are configured.
 */
export function exposureCheck(host: string, tokens: readonly ApiToken[], insecure: boolean): string | undefined {
  if (tokens.length > 0) return undefined;
  if (isLoopback(host)) return `warning: no API token is configured, so every route is open to anyone who can reach ${host} (set RALM_API_TOKEN, RALM_API_TOKENS or RALM_API_TOKENS_FILE)`;
  if (insecure) return `warning: serving ${host} with no API token (--insecure): every route, admin included, is open to the network`;
  throw new StartupError('RALM_ERR_INSECURE', `refusing to serve ${host} with no API token: set RALM_API_TOKEN, RALM_API_TOKENS or RALM_API_TOKENS_FILE, or pass --insecure (RALM_INSECURE=true) to serve it open`);
}

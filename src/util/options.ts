/**
 * The one option parser: every `ralm` command and the service configuration describe their
 * options as a table of specs (flag, environment variable, default, help, parser), and this
 * module turns argv and the environment into typed values, and the same table into help text.
 * A bad value fails with the option's name, where it came from and what was expected.
 */
import { parseArgs } from 'node:util';
import { RalmError } from './errors.js';

/** A bad command line: the CLI prints the command's usage and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** One option. `T` is the parsed type; `undefined` when the option is absent and has no default. */
export interface OptionSpec<T> {
  /** Flag without dashes: `max-batch`. */
  readonly flag: string;
  /** Environment variable read when the flag is absent (service settings). */
  readonly env?: string;
  /** Placeholder in help: `N`, `DIR`, `X`. Absent for boolean switches. */
  readonly arg?: string;
  readonly help: string;
  /** A switch (`--json`): present = true. */
  readonly boolean?: boolean;
  /** May be repeated; the parser sees each value. */
  readonly multiple?: boolean;
  /** Raw default (what the help prints and the parser receives), or a description of a computed one. */
  readonly default?: string;
  /** Help shows this instead of `default` (a default that depends on other options or the host). */
  readonly defaultText?: string;
  /** Parses one raw value; throws an Error whose message says what was expected. */
  readonly parse: (raw: string) => T;
}

export type OptionTable = Readonly<Record<string, OptionSpec<unknown>>>;

type ValueOf<S> = S extends OptionSpec<infer T> ? T : never;
/** Parsed values: an option with a default always has a value; one without may be undefined. */
export type OptionValues<S extends OptionTable> = {
  -readonly [K in keyof S]: S[K] extends { multiple: true } ? Array<ValueOf<S[K]>>
    : S[K] extends { boolean: true } ? boolean
      : S[K] extends { default: string } ? ValueOf<S[K]> : ValueOf<S[K]> | undefined;
};

// ------------------------------------------------------------------ value parsers

const describe = (raw: string): string => JSON.stringify(raw);

/** An integer in [min, max]. */
export function int(min = 1, max = Number.MAX_SAFE_INTEGER): (raw: string) => number {
  const expected = max !== Number.MAX_SAFE_INTEGER ? `an integer in [${min}, ${max}]`
    : min === 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : `an integer >= ${min}`;
  return (raw) => {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new Error(`expected ${expected}, got ${describe(raw)}`);
    }
    return n;
  };
}

/** A finite number in [min, max] (open at an end when `open` says so). */
export function num(min = -Infinity, max = Infinity, open: { min?: boolean; max?: boolean } = {}): (raw: string) => number {
  return (raw) => {
    const n = Number(raw);
    const low = open.min ? n > min : n >= min;
    const high = open.max ? n < max : n <= max;
    if (raw.trim() === '' || !Number.isFinite(n) || !low || !high) {
      const range = `${open.min ? '(' : '['}${min}, ${max}${open.max ? ')' : ']'}`;
      throw new Error(`expected a number in ${range}, got ${describe(raw)}`);
    }
    return n;
  };
}

/** A share strictly between 0 and 1. */
export const share = num(0, 1, { min: true, max: true });

/** One of the given words. */
export function oneOf<T extends string>(allowed: readonly T[]): (raw: string) => T {
  return (raw) => {
    if (!allowed.includes(raw as T)) throw new Error(`expected one of ${allowed.join(', ')}, got ${describe(raw)}`);
    return raw as T;
  };
}

/** A non-empty list, comma-separated unless `separator` says otherwise (names that hold commas), each item parsed by `item`. */
export function list<T>(item: (raw: string) => T, separator = ','): (raw: string) => T[] {
  return (raw) => {
    const items = raw.split(separator).map((s) => s.trim()).filter((s) => s !== '');
    if (items.length === 0) throw new Error(`expected a ${separator === ',' ? 'comma' : `"${separator}"`}-separated list, got ${describe(raw)}`);
    return items.map((s) => item(s));
  };
}

/** Any string (non-empty unless `allowEmpty`). */
export function str(allowEmpty = false): (raw: string) => string {
  return (raw) => {
    if (!allowEmpty && raw === '') throw new Error('expected a non-empty value');
    return raw;
  };
}

/** An ISO 8601 date or epoch milliseconds → epoch milliseconds. */
export function time(raw: string): number {
  const t = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(t)) throw new Error(`expected an ISO 8601 date or epoch milliseconds, got ${describe(raw)}`);
  return t;
}

/** `true` or `false`. */
export function bool(raw: string): boolean {
  return oneOf(['true', 'false'] as const)(raw) === 'true';
}

// ------------------------------------------------------------------ defaults

/**
 * A component's options over its defaults object. An option present but `undefined` keeps its
 * default, as the `??` it replaces did: callers pass optional flags through as `undefined`.
 */
export function withDefaults<D extends object, O extends object>(defaults: D, options: O): WithDefaults<D, O> {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, value] of Object.entries(options)) if (value !== undefined) out[key] = value;
  return out as WithDefaults<D, O>;
}

/** Options over defaults: a defaulted key is never undefined. */
export type WithDefaults<D, O> = Omit<O, keyof D> & { [K in keyof D]: K extends keyof O ? D[K] | Exclude<O[K], undefined> : D[K] };

/** A default value as an option table writes it (the raw text its parser reads back). */
export function asDefault(value: string | number | boolean | readonly (string | number)[]): string {
  return Array.isArray(value) ? value.join(',') : String(value);
}

// ------------------------------------------------------------------ parsing

/** Options every command takes. */
export const COMMON_OPTIONS = {
  json: { flag: 'json', boolean: true, help: 'print one JSON document on stdout instead of text', parse: bool },
  help: { flag: 'help', boolean: true, help: 'print this help and exit', parse: bool },
} as const satisfies OptionTable;

export interface ParsedArgs<S extends OptionTable> {
  values: OptionValues<S>;
  positionals: string[];
  /** Flags given on the command line (not from the environment or defaults). */
  given: Set<string>;
}

/**
 * Parses argv against a table. Unknown flags, missing values and bad values throw UsageError
 * naming the flag. Absent options take the environment variable (when the spec names one), then
 * the default.
 */
export function parseOptions<S extends OptionTable>(args: readonly string[], table: S, env: NodeJS.ProcessEnv = {}): ParsedArgs<S> {
  const config: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const spec of Object.values(table)) config[spec.flag] = { type: spec.boolean ? 'boolean' : 'string', ...(spec.multiple ? { multiple: true } : {}) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...args], options: config, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const raw = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  for (const [key, spec] of Object.entries(table)) {
    const v = raw[spec.flag];
    if (v !== undefined) given.add(spec.flag);
    if (spec.boolean) {
      values[key] = v === true;
      continue;
    }
    if (spec.multiple) {
      values[key] = ((v as string[] | undefined) ?? []).map((x) => parseValue(spec, x, `--${spec.flag}`));
      continue;
    }
    const fromEnv = v === undefined && spec.env !== undefined ? env[spec.env] : undefined;
    const source = v !== undefined ? `--${spec.flag}` : fromEnv !== undefined ? (spec.env as string) : undefined;
    const value = (v as string | undefined) ?? fromEnv ?? spec.default;
    values[key] = value === undefined ? undefined : parseValue(spec, value, source ?? `--${spec.flag} (default)`);
  }
  return { values: values as OptionValues<S>, positionals: parsed.positionals, given };
}

function parseValue(spec: OptionSpec<unknown>, raw: string, source: string): unknown {
  try {
    return spec.parse(raw);
  } catch (err) {
    throw new UsageError(`${source}: ${(err as Error).message}`);
  }
}

/**
 * Reads settings from the environment and flags (already split by parseArgs or given as a record)
 * for a long-running component: like parseOptions, but bad values are RALM_ERR_VALIDATION errors
 * naming the setting, for callers that are not a command line.
 */
export function settingsFrom<S extends OptionTable>(table: S, env: NodeJS.ProcessEnv, flags: Readonly<Record<string, unknown>> = {}): OptionValues<S> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    const flag = flags[spec.flag];
    const fromEnv = spec.env !== undefined ? env[spec.env] : undefined;
    const raw = flag ?? fromEnv ?? spec.default;
    if (raw === undefined) {
      out[key] = undefined;
      continue;
    }
    try {
      out[key] = spec.parse(String(raw));
    } catch (err) {
      const from = flag !== undefined ? `--${spec.flag}` : fromEnv !== undefined ? spec.env : 'default';
      throw new RalmError('RALM_ERR_VALIDATION', `configuration ${from}: ${spec.flag}: ${(err as Error).message}`, { field: spec.flag });
    }
  }
  return out as OptionValues<S>;
}

// ------------------------------------------------------------------ help

/** The options part of a command's help: one line per option with its placeholder, default and variable. */
export function formatOptions(table: OptionTable): string {
  const rows = Object.values(table).map((s) => {
    const left = `  --${s.flag}${s.arg ? ` ${s.arg}` : ''}`;
    const notes: string[] = [];
    const dflt = s.defaultText ?? (s.default !== undefined && s.default !== '' ? s.default : undefined);
    if (dflt !== undefined) notes.push(`default ${dflt}`);
    if (s.env) notes.push(`env ${s.env}`);
    if (s.multiple) notes.push('repeatable');
    return { left, right: `${s.help}${notes.length ? ` (${notes.join('; ')})` : ''}` };
  });
  const width = Math.min(34, Math.max(...rows.map((r) => r.left.length)) + 2);
  return rows.map((r) => (r.left.length + 2 > width ? `${r.left}\n${' '.repeat(width)}${r.right}` : `${r.left.padEnd(width)}${r.right}`)).join('\n');
}

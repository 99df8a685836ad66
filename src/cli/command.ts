/**
 * What a `ralm` command is — its usage line, what it does, its option table and what it runs —
 * and a group of them (`ralm bench kernel|http|…`). main.ts dispatches over a table of these, and
 * every help text is built from them, so the help cannot drift from what is parsed.
 */
import { COMMON_OPTIONS, formatOptions, parseOptions, UsageError, type OptionTable, type OptionValues } from '../util/options.js';

export type Values<S extends OptionTable> = OptionValues<S & typeof COMMON_OPTIONS>;

export interface Invocation<S extends OptionTable> {
  values: Values<S>;
  positionals: string[];
  /** Flags given on the command line (not defaulted). */
  given: ReadonlySet<string>;
}

export interface Command<S extends OptionTable = OptionTable> {
  readonly kind: 'command';
  /** The words after `ralm`: `bench kernel`. */
  readonly name: string;
  /** The usage line after `ralm`: `bench plot FILE [options]`. */
  readonly usage: string;
  /** What it does, in a sentence. */
  readonly summary: string;
  /** More help lines: formats, how options combine. */
  readonly notes?: readonly string[];
  readonly options: S;
  /** Takes positional arguments and checks them itself; otherwise any positional is a usage error. */
  readonly positionals?: boolean;
  run(inv: Invocation<S>): Promise<void>;
}

export interface CommandGroup {
  readonly kind: 'group';
  readonly name: string;
  readonly summary: string;
  /** What one subcommand is called in messages: subcommand, benchmark, evaluation. */
  readonly noun: string;
  readonly subcommands: Readonly<Record<string, Command>>;
  /** Runs when the first argument is an option or absent: `ralm eval` is `ralm eval recommend`. */
  readonly fallback?: string;
}

export type Entry = Command | CommandGroup;

/**
 * Declares a command, typing `run`'s values from its table. A table with a generic parser call
 * (`oneOf([...])`) is declared apart, `as const satisfies OptionTable`: written inline, TypeScript
 * cannot infer it and the values fall back to `unknown`.
 */
export function defineCommand<const S extends OptionTable>(c: Omit<Command<S>, 'kind'>): Command<S> {
  return { kind: 'command', ...c };
}

/** A usage error that knows the help of the command it concerns (main prints both, exits 2). */
export class CommandUsageError extends UsageError {
  constructor(message: string, readonly usage: string) {
    super(message);
  }
}

export function commandHelp(c: Command): string {
  return [
    `usage: ralm ${c.usage}`, '', c.summary, ...(c.notes ?? []), '',
    'options:', formatOptions({ ...c.options, ...COMMON_OPTIONS }), '',
  ].join('\n');
}

export function groupHelp(g: CommandGroup): string {
  const subs = Object.entries(g.subcommands);
  const width = Math.max(...subs.map(([n]) => n.length)) + 4;
  const list = (cs: Array<[string, Command]>): string[] => cs.map(([n, c]) => `  ${n.padEnd(width)}${c.summary}`);
  if (g.fallback !== undefined) {
    const primary = g.subcommands[g.fallback];
    return [commandHelp(primary).trimEnd(), '', `other ${g.noun}s (ralm ${g.name} <${g.noun}> --help prints its options):`, ...list(subs.filter(([, c]) => c !== primary)), ''].join('\n');
  }
  return [
    `usage: ralm ${g.name} <${g.noun}> [options]`, '', g.summary, '', `${g.noun}s:`, ...list(subs), '',
    `ralm ${g.name} <${g.noun}> --help prints its options with their defaults.`, '',
  ].join('\n');
}

/** `"a"`, `"a" or "b"`, `"a", "b" or "c"`; the fallback marked `(the default)`. */
function alternatives(g: CommandGroup): string {
  const q = Object.keys(g.subcommands).map((n) => `${JSON.stringify(n)}${n === g.fallback ? ' (the default)' : ''}`);
  return q.length === 1 ? q[0] : `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]}`;
}

/** The subcommand `args` name (and the arguments after it), or a usage error with the group's help. */
export function pickSubcommand(g: CommandGroup, args: readonly string[]): { sub: Command; rest: string[] } {
  const [first, ...rest] = args;
  if (g.fallback !== undefined && (first === undefined || first.startsWith('-'))) return { sub: g.subcommands[g.fallback], rest: [...args] };
  const sub = first !== undefined && Object.hasOwn(g.subcommands, first) ? g.subcommands[first] : undefined;
  if (sub === undefined) throw new CommandUsageError(`${g.name}: unknown ${g.noun} ${JSON.stringify(first ?? '')}, expected ${alternatives(g)}`, groupHelp(g));
  return { sub, rest };
}

/**
 * Runs a command: `--help` anywhere prints its help before anything is parsed, opened or bound;
 * otherwise the arguments are parsed against its table and it runs. Usage errors carry its help.
 */
export async function runCommand(c: Command, args: readonly string[]): Promise<void> {
  if (args.includes('--help')) {
    process.stdout.write(commandHelp(c));
    return;
  }
  try {
    const parsed = parseOptions(args, { ...c.options, ...COMMON_OPTIONS });
    if (!c.positionals && parsed.positionals.length > 0) throw new UsageError(`${c.name}: unexpected argument ${JSON.stringify(parsed.positionals[0])}`);
    await c.run(parsed);
  } catch (err) {
    if (err instanceof UsageError && !(err instanceof CommandUsageError)) throw new CommandUsageError(err.message, commandHelp(c));
    throw err;
  }
}

/** Runs a command or a group's subcommand; `--help` before any subcommand prints the group's help. */
export async function runEntry(e: Entry, args: readonly string[]): Promise<void> {
  if (e.kind === 'command') return runCommand(e, args);
  if ((args[0] === undefined || args[0].startsWith('-')) && args.includes('--help')) {
    process.stdout.write(groupHelp(e));
    return;
  }
  const { sub, rest } = pickSubcommand(e, args);
  return runCommand(sub, rest);
}

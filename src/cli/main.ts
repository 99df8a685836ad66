/**
 * The `ralm` command line: dispatch over the command table. Every command prints human-readable
 * text, or with --json exactly one JSON document on stdout (progress goes to stderr). Exit codes:
 * 0 ok, 1 failure, 2 usage. A command's module is loaded only when it runs or its help is asked
 * for, so one command does not pay for the others' imports (TensorFlow.js, the benchmarks).
 */
import { RalmError, StartupError, systemReason } from '../util/errors.js';
import { COMMON_OPTIONS, formatOptions, UsageError } from '../util/options.js';
import { commandHelp, CommandUsageError, groupHelp, pickSubcommand, runEntry, type Command, type Entry } from './command.js';

const COMMANDS: Readonly<Record<string, () => Promise<{ command: Entry }>>> = {
  serve: () => import('./commands/serve.js'),
  info: () => import('./commands/info.js'),
  model: () => import('./commands/model.js'),
  train: () => import('./commands/train.js'),
  eval: () => import('./commands/eval.js'),
  tune: () => import('./commands/tune.js'),
  audience: () => import('./commands/audience.js'),
  users: () => import('./commands/users.js'),
  events: () => import('./commands/events.js'),
  gen: () => import('./commands/gen.js'),
  data: () => import('./commands/data.js'),
  bench: () => import('./commands/bench.js'),
};

async function load(name: string): Promise<Entry | undefined> {
  return Object.hasOwn(COMMANDS, name) ? (await COMMANDS[name]()).command : undefined;
}

/** Every runnable command, with the name the command list shows (`eval [recommend]` for a group's fallback). */
export async function allCommands(): Promise<Array<{ listed: string; command: Command }>> {
  const out = [];
  for (const name of Object.keys(COMMANDS)) {
    const e = await load(name) as Entry;
    if (e.kind === 'command') out.push({ listed: e.name, command: e });
    else for (const [sub, c] of Object.entries(e.subcommands)) out.push({ listed: sub === e.fallback ? `${e.name} [${sub}]` : c.name, command: c });
  }
  return out;
}

/** The command list: every command and subcommand with what it does. */
async function usage(): Promise<string> {
  const rows = (await allCommands()).map(({ listed, command }) => [listed, command.summary]);
  const width = Math.max(...rows.map(([n]) => n.length)) + 4;
  return [
    'usage: ralm <command> [options]', '', 'commands:',
    ...rows.map(([n, s]) => `  ${n.padEnd(width)}${s}`), '',
    'common options:', formatOptions(COMMON_OPTIONS), '',
    'ralm <command> --help (or ralm help <command> [<subcommand>]) prints its usage and options with their defaults.',
    'Exit codes: 0 ok, 1 failure, 2 usage.', '',
  ].join('\n');
}

/** `ralm help [command [subcommand]]`. */
async function help(words: string[]): Promise<void> {
  if (words.length === 0) {
    process.stdout.write(await usage());
    return;
  }
  const e = await load(words[0]);
  if (e === undefined) throw new UsageError(`help: unknown command ${JSON.stringify(words[0])}`);
  if (e.kind === 'command') {
    if (words.length > 1) throw new CommandUsageError(`help: ${e.name} has no subcommands`, commandHelp(e));
    process.stdout.write(commandHelp(e));
  } else {
    process.stdout.write(words.length === 1 ? groupHelp(e) : commandHelp(pickSubcommand(e, words.slice(1)).sub));
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined) {
      process.stdout.write(await usage());
      return 2;
    }
    if (cmd === '--help' || cmd === 'help') {
      await help(cmd === 'help' ? rest : []);
      return 0;
    }
    const e = await load(cmd);
    if (e === undefined) throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    await runEntry(e, rest);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`ralm: ${err.message}\n\n${err instanceof CommandUsageError ? err.usage : await usage()}`);
      return 2;
    }
    process.stderr.write(`ralm: ${failureLine(err)}\n`);
    // An unexpected failure's stack is for whoever debugs it, not for every operator's terminal.
    if (!(err instanceof RalmError || err instanceof StartupError) && /^(debug|trace)$/.test(process.env.RALM_LOG_LEVEL ?? '') && err instanceof Error) {
      process.stderr.write(`${err.stack ?? ''}\n`);
    }
    return 1;
  }
}

/**
 * A failure as one coded line: a coded error as it is; a system error (a file, a socket) as
 * RALM_ERR_IO with its reason; anything else as RALM_ERR_INTERNAL with its message.
 */
export function failureLine(err: unknown): string {
  if (err instanceof RalmError || err instanceof StartupError) return `${err.code}: ${err.message}`;
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.errno === 'number' && typeof e.syscall === 'string') {
    return `RALM_ERR_IO: ${e.path !== undefined ? `${e.path}: ` : ''}cannot ${e.syscall}: ${systemReason(e)}`;
  }
  return `RALM_ERR_INTERNAL: ${err instanceof Error ? err.message : String(err)} (an unexpected failure; RALM_LOG_LEVEL=debug prints its stack)`;
}

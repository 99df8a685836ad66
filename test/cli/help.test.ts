/**
 * `ralm <command> --help`, `ralm help <command>` and usage errors, for every command and
 * subcommand: help comes at once, lists every option of the command's table with its default,
 * and starts nothing (no port, file or model); usage errors print the command's usage, exit 2.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allCommands } from '../../src/cli/main.js';
import type { Command } from '../../src/cli/command.js';
import { mapLimit, ralmWith } from '../helpers/cli.js';

/** Help is immediate; an evaluation or a server would run far longer (and be killed at the timeout). */
const PROMPT_MS = 5000;
const KILL_MS = 30_000;

let dir: string;
let commands: Command[];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ralm-cli-help-'));
  commands = (await allCommands()).map((c) => c.command);
});
after(() => rm(dir, { recursive: true, force: true }));

/**
 * Processes at once in the checks that walk every command: two use both cores where one waits on
 * each start, and no more, so that a help still shows its own time against PROMPT_MS.
 */
const AT_ONCE = 2;

/** Runs in an empty folder, so anything a command wrongly creates (data/, an --out) is seen. */
const run = (...args: string[]) => ralmWith({ cwd: dir, timeoutMs: KILL_MS }, ...args);

function assertHelp(c: Command, r: { stdout: string; code: number; ms: number }, how: string): void {
  assert.equal(r.code, 0, `${how}: exit code`);
  assert.ok(r.ms < PROMPT_MS, `${how}: took ${r.ms.toFixed(0)} ms`);
  assert.ok(r.stdout.startsWith(`usage: ralm ${c.usage}\n`), `${how}: usage line\n${r.stdout}`);
  assert.ok(r.stdout.includes(c.summary), `${how}: summary`);
  for (const spec of Object.values(c.options)) {
    assert.ok(r.stdout.includes(`--${spec.flag}${spec.arg ? ` ${spec.arg}` : ''}`), `${how}: --${spec.flag}`);
    const dflt = spec.defaultText ?? (spec.default === '' ? undefined : spec.default);
    if (dflt !== undefined) assert.ok(r.stdout.includes(`default ${dflt}`), `${how}: default of --${spec.flag} (${dflt})`);
  }
  for (const flag of ['--json', '--help']) assert.ok(r.stdout.includes(flag), `${how}: ${flag}`);
}

describe('ralm help', () => {
  it('ralm alone exits 2 with the command list; ralm --help and ralm help exit 0 with it', async () => {
    const bare = await run();
    assert.equal(bare.code, 2);
    for (const r of [await run('--help'), await run('help')]) {
      assert.equal(r.code, 0);
      assert.equal(r.stdout, bare.stdout);
    }
    for (const c of commands) assert.ok(bare.stdout.includes(c.summary), c.name);
    assert.match(bare.stdout, /^ {2}eval \[recommend\] /m);
  });

  it('every command and subcommand: --help and ralm help print its usage and every option with its default, at once', async () => {
    assert.equal(commands.length, 22); // every command and subcommand, tune, bench cluster, bench quant and bench two-pass included
    await mapLimit(commands, AT_ONCE / 2, async (c) => {
      const words = c.name.split(' ');
      const [flag, word] = await Promise.all([run(...words, '--help'), run('help', ...words)]);
      assertHelp(c, flag, `ralm ${c.name} --help`);
      assertHelp(c, word, `ralm help ${c.name}`);
      assert.equal(word.stdout, flag.stdout);
    });
    assert.deepEqual(await readdir(dir), [], 'no help wrote a file');
  });

  it('groups: --help and ralm help list the subcommands; eval --help is eval recommend\'s help and names the others', async () => {
    for (const group of ['model', 'users', 'events', 'data', 'bench']) {
      const subs = commands.filter((c) => c.name.startsWith(`${group} `));
      for (const r of await Promise.all([run(group, '--help'), run('help', group)])) {
        assert.equal(r.code, 0, group);
        assert.ok(r.stdout.startsWith(`usage: ralm ${group} <`), group);
        for (const c of subs) assert.ok(r.stdout.includes(c.summary), c.name);
      }
    }
    const recommend = commands.find((c) => c.name === 'eval recommend') as Command;
    const audience = commands.find((c) => c.name === 'eval audience') as Command;
    for (const args of [['eval', '--help'], ['help', 'eval'], ['eval', '--dataset', 'synthetic', '--help']]) {
      const r = await run(...args);
      assertHelp(recommend, r, `ralm ${args.join(' ')}`);
      assert.ok(r.stdout.includes(audience.summary));
    }
  });

  it('--help binds no port and writes nothing: serve with its port taken, and commands given --out', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
    const port = String((server.address() as { port: number }).port);
    try {
      const flag = await run('serve', '--port', port, '--data-dir', join(dir, 'data'), '--help');
      assert.equal(flag.code, 0, flag.stderr);
      assert.match(flag.stdout, /--port N +port to listen on .*\(default 8080; env RALM_PORT\)/);
      const env = await ralmWith({ cwd: dir, timeoutMs: KILL_MS, env: { ...process.env, RALM_PORT: port } }, 'serve', '--help');
      assert.equal(env.code, 0, env.stderr);
    } finally {
      await new Promise((resolveClose) => server.close(resolveClose));
    }
    const out = (name: string): string => join(dir, name);
    await mapLimit([
      ['train', '--out', out('model'), '--help'], ['model', 'init', '--out', out('init'), '--help'], ['gen', '--out', out('gen'), '--help'],
      ['eval', '--out', out('eval.json'), '--report', out('eval.md'), '--help'], ['eval', 'audience', '--dataset', 'synthetic', '--out', out('audience.json'), '--help'],
      ['bench', 'kernel', '--out', out('kernel.json'), '--svg', out('svg'), '--help'], ['bench', 'http', '--out', out('http.json'), '--help'],
      ['users', 'import', out('users.msgpack'), '--data-dir', out('store'), '--help'],
      ['events', 'import', out('clicks.csv'), '--data-dir', out('store'), '--help'],
    ], AT_ONCE, async (args) => {
      const r = await run(...args);
      assert.equal(r.code, 0, args.join(' '));
      assert.ok(r.ms < PROMPT_MS, `${args.join(' ')}: ${r.ms.toFixed(0)} ms`);
    });
    assert.deepEqual(await readdir(dir), []);
  });
});

describe('ralm usage errors', () => {
  it('an unknown option exits 2 and prints the command\'s usage, for every command and subcommand', async () => {
    await mapLimit(commands, AT_ONCE, async (c) => {
      const r = await run(...c.name.split(' '), '--frobnicate');
      assert.equal(r.code, 2, c.name);
      assert.match(r.stderr, /^ralm: Unknown option '--frobnicate'/, c.name);
      assert.ok(r.stderr.includes(`usage: ralm ${c.usage}\n`), c.name);
    });
  });

  it('a missing value, a bad value and an unexpected argument name the problem; exit 2 with the usage', async () => {
    const cases: Array<[string[], RegExp, string]> = [
      [['train', '--out'], /--out/, 'train'],
      [['eval', '--seeds', 'x'], /^ralm: --seeds: expected a positive integer, got "x"/, 'eval [recommend]'],
      [['eval', 'audience', '--hide', '1.5'], /^ralm: --hide: expected a number in \(0, 1\), got "1.5"/, 'eval audience'],
      [['bench', 'http', '--encodings', 'xml'], /^ralm: --encodings: expected one of json, msgpack, got "xml"/, 'bench http'],
      [['eval', 'recommend', 'a.json', 'b.json'], /^ralm: eval: give at most one schema file, got "a.json", "b.json"/, 'eval [recommend]'],
      [['eval', '--dataset', 'synthetic', '--data', 'schema.json'], /^ralm: eval: --data applies to movielens, globo only, not synthetic/, 'eval [recommend]'],
      [['eval', '--dataset', 'movielens', '--data', 'ml', '--hours', '3'], /^ralm: eval: --hours applies to globo only, not movielens/, 'eval [recommend]'],
      [['eval', '--dataset', 'movielens', 'schema.json'], /^ralm: eval: "schema.json": a schema file goes with --dataset schema, not --dataset movielens/, 'eval [recommend]'],
      [['eval', 'audience', '--dataset', 'schema'], /^ralm: eval audience: --dataset schema takes the schema file as the argument/, 'eval audience'],
      [['eval', 'audience', '--dataset', 'synthetic', '--train-negatives', 'activity'], /^ralm: eval audience: --train-negatives applies when --train-epochs is above 0/, 'eval audience'],
      [['eval', 'audience', '--dataset', 'synthetic', '--train-params', 'attention'], /^ralm: eval audience: --train-params applies when --train-epochs is above 0/, 'eval audience'],
      [['eval', 'audience', '--dataset', 'synthetic', '--train-epochs', '2', '--train-lr', '0'], /^ralm: --train-lr: expected a number in \(0, 1\], got "0"/, 'eval audience'],
      [['train', '--out', 'm', 'shop.json', '--gen-seed', '2'], /^ralm: train: --gen-seed applies to synthetic only, not schema/, 'train'],
      [['train', '--out', 'm', '--allow-feature-leakage'], /^ralm: train: --allow-feature-leakage applies with --train-share or --cut/, 'train'],
      [['data', 'inspect', '--dataset', 'synthetic', '--as-of', '2024-01-02'], /^ralm: data inspect: --as-of applies to schema, movielens, globo only, not synthetic/, 'data inspect'],
      [['train', '--out', 'm', '--stage2-items', 'latest'], /^ralm: --stage2-items latest applies with --stage2-max-items N/, 'train'],
      [['eval', '--stage2-items', 'popular'], /^ralm: --stage2-items popular applies with --stage2-max-items N/, 'eval [recommend]'],
      [['info', 'extra'], /^ralm: info: unexpected argument "extra"/, 'info'],
    ];
    await mapLimit(cases, AT_ONCE, async ([args, message, usage]) => {
      const r = await run(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.ok(r.stderr.includes(`usage: ralm ${usage}`), args.join(' '));
    });
  });

  it('unknown commands and subcommands exit 2 with the list they come from', async () => {
    const top = await run('frobnicate');
    assert.equal(top.code, 2);
    assert.match(top.stderr, /^ralm: unknown command "frobnicate"\n\nusage: ralm <command>/);
    const sub = await run('bench', 'frobnicate');
    assert.equal(sub.code, 2);
    assert.match(sub.stderr, /^ralm: bench: unknown benchmark "frobnicate", expected "kernel", "http", "seeds", "audience", "two-pass", "quant", "cluster", "plot" or "compare"\n\nusage: ralm bench <benchmark>/);
    const ev = await run('eval', 'frobnicate');
    assert.match(ev.stderr, /expected "recommend" \(the default\) or "audience"/);
    assert.equal((await run('model')).code, 2);
    assert.equal((await run('help', 'frobnicate')).code, 2);
    assert.equal((await run('help', 'info', 'extra')).code, 2);
  });
});

/** `ralm serve`: the HTTP service, with settings from flags over RALM_* variables over defaults. */
import { loadConfig, SERVICE_OPTIONS } from '../../server/config.js';
import type { OptionTable } from '../../util/options.js';
import { defineCommand } from '../command.js';

/**
 * The service's settings table as flags: the help shows each default and variable, but the raw
 * text goes to loadConfig, which validates flags and variables alike (a bad setting is a
 * RALM_ERR_VALIDATION failure, exit 1, wherever it came from).
 */
/** How often the parent process is checked when the service exits with it, ms. */
const PARENT_POLL_MS = 250;

const FLAGS: OptionTable = Object.fromEntries(Object.entries(SERVICE_OPTIONS).map(([key, spec]) => [key, { ...spec, parse: (raw: string) => raw }]));

export const command = defineCommand({
  name: 'serve',
  usage: 'serve [options]',
  summary: 'Runs the HTTP service until SIGTERM or SIGINT, then drains it.',
  notes: ['Each setting is a flag, else its RALM_* variable, else its default.'],
  options: FLAGS,
  async run({ values, given }) {
    const flags: Record<string, unknown> = {};
    for (const [key, spec] of Object.entries(SERVICE_OPTIONS)) if (given.has(spec.flag)) flags[spec.flag] = values[key];
    const config = loadConfig(process.env, flags);
    const { startService, exampleRequests } = await import('../../server/server.js');
    const log = (line: string): void => void process.stderr.write(`ralm: ${line}\n`);
    const svc = await startService(config, log);
    log(`listening on ${svc.url} (store ${svc.storeWhere}, pid ${process.pid})`);
    // The examples name demo users and items, which exist only with the demo world.
    if (config.demo) process.stderr.write(exampleRequests(svc.url, svc.exampleFeatures) + '\n');
    await new Promise<void>((resolveStop) => {
      let stopping = false;
      const stop = (why: string): void => {
        if (stopping) return;
        stopping = true;
        log(`${why}: draining (at most ${config.shutdownGraceMs} ms)`);
        // Unref'd: a clean drain exits without waiting for it; anything left running past the grace period is cut.
        setTimeout(() => {
          log(`shutdown took longer than ${config.shutdownGraceMs} ms: exiting now`);
          process.exit(1);
        }, config.shutdownGraceMs).unref();
        svc.close().then(() => {
          log('stopped');
          resolveStop();
        }, (err: unknown) => {
          log(`shutdown error: ${(err as Error).message}`);
          process.exitCode = 1;
          resolveStop();
        });
      };
      // A second signal finds no handler and ends the process at once.
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      if (config.exitWithParent === 'true' || (config.exitWithParent === 'auto' && process.env.npm_lifecycle_event !== undefined)) {
        // Under `npm start` a signal to npm kills its shell, not this process, which is then
        // re-parented: that change is the signal to drain.
        const parent = process.ppid;
        const watch = setInterval(() => {
          if (process.ppid === parent) return;
          clearInterval(watch);
          stop(`parent process ${parent} exited`);
        }, PARENT_POLL_MS);
        watch.unref();
      }
    });
  },
});

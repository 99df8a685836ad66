/** `ralm serve`: the HTTP service, with settings from flags over RALM_* variables over defaults. */
import { loadConfig, SERVICE_OPTIONS } from '../../server/config.js';
import type { OptionTable } from '../../util/options.js';
import { defineCommand } from '../command.js';

/**
 * The service's settings table as flags: the help shows each default and variable, but the raw
 * text goes to loadConfig, which validates flags and variables alike (a bad setting is a
 * RALM_ERR_VALIDATION failure, exit 1, wherever it came from).
 */
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
    log(`listening on ${svc.url} (data ${config.dataDir})`);
    process.stderr.write(exampleRequests(svc.url, svc.exampleFeatures) + '\n');
    await new Promise<void>((resolveStop) => {
      const stop = (signal: string): void => {
        log(`${signal}: draining`);
        svc.close().then(() => {
          log('stopped');
          resolveStop();
        }, (err: unknown) => {
          log(`shutdown error: ${(err as Error).message}`);
          process.exitCode = 1;
          resolveStop();
        });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  },
});

/**
 * The benchmark server's child process (http-server.ts), seen from `ralm bench http`: started,
 * asked for its processor time and for a trace of its admission, and stopped.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { GovernorSample, HttpServerArgs, ReadyMessage } from './http-server.js';

export function startServer(args: HttpServerArgs): Promise<{ ready: ReadyMessage; stop: () => Promise<void>; cpuMs: () => Promise<ServerCpu>; traceStart: () => Promise<void>; traceStop: () => Promise<GovernorSample[]> }> {
  const child = fork(fileURLToPath(new URL('./http-server.js', import.meta.url)), [JSON.stringify(args)], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`the benchmark server exited with code ${code} before it was ready`));
    child.once('exit', onExit);
    child.once('message', (m: ReadyMessage) => {
      child.off('exit', onExit);
      const stop = (): Promise<void> => new Promise((done) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(timer);
          done();
        });
        child.send({ type: 'stop' });
      });
      const cpuMs = (): Promise<ServerCpu> => new Promise((done) => {
        child.once('message', (r: ServerCpu) => done(r));
        child.send({ type: 'cpu' });
      });
      const traceStart = (): Promise<void> => new Promise((done) => {
        child.once('message', () => done());
        child.send({ type: 'trace-start' });
      });
      const traceStop = (): Promise<GovernorSample[]> => new Promise((done) => {
        child.once('message', (r: { samples: GovernorSample[] }) => done(r.samples));
        child.send({ type: 'trace-stop' });
      });
      resolve({ ready: m, stop, cpuMs, traceStart, traceStop });
    });
  });
}

/** The server's processor time so far, ms: every thread, and the main thread's (null where unknown). */
export interface ServerCpu {
  ms: number;
  mainMs: number | null;
}

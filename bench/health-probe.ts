/**
 * A /healthz prober in its own process, so that the load generator's work does not delay it:
 * forked with `[url, intervalMs]`, it sends one probe at a time, one every interval, on a
 * kept-alive connection, and on `{ type: 'stop' }` replies with every probe's latency and status.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface ProbeReport {
  type: 'probes';
  /** When each probe was sent (epoch ms), its latency (ms), and whether it was answered 200. */
  at: number[];
  ms: number[];
  ok: boolean[];
  /** Probes not answered 200 (other status, or no answer within 10 s). */
  failed: number;
}

const [url, intervalArg] = process.argv.slice(2);
const target = new URL(url ?? '');
const intervalMs = Number(intervalArg ?? 20);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const at: number[] = [];
const ms: number[] = [];
const ok: boolean[] = [];
let failed = 0;
let stop = false;

function probe(): Promise<void> {
  const t0 = performance.now();
  const record = (answered: boolean): void => {
    at.push(Date.now() - (performance.now() - t0));
    ms.push(performance.now() - t0);
    ok.push(answered);
    if (!answered) failed++;
  };
  return new Promise((resolve) => {
    const req = http.get({ agent, host: target.hostname, port: target.port, path: '/healthz', timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => {
        record(res.statusCode === 200);
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => {
      record(false);
      resolve();
    });
  });
}

process.on('message', (m: { type?: string }) => {
  if (m?.type === 'stop') stop = true;
});
process.send?.({ type: 'ready' });
while (!stop) {
  await probe();
  await new Promise((r) => setTimeout(r, intervalMs));
}
agent.destroy();
const report: ProbeReport = { type: 'probes', at, ms, ok, failed };
process.send?.(report, () => process.disconnect?.());

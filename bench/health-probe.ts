/**
 * A /healthz prober in its own process, so that the load generator's work does not delay it:
 * forked with `[url, intervalMs]`, it sends one probe at a time, one every interval, on a
 * kept-alive connection, and on `{ type: 'stop' }` replies with every probe's latency and status.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface ProbeReport {
  type: 'probes';
  ms: number[];
  /** Probes not answered 200 (other status, or no answer within 10 s). */
  failed: number;
}

const [url, intervalArg] = process.argv.slice(2);
const target = new URL(url ?? '');
const intervalMs = Number(intervalArg ?? 20);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const ms: number[] = [];
let failed = 0;
let stop = false;

function probe(): Promise<void> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ agent, host: target.hostname, port: target.port, path: '/healthz', timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => {
        ms.push(performance.now() - t0);
        if (res.statusCode !== 200) failed++;
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => {
      ms.push(performance.now() - t0);
      failed++;
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
const report: ProbeReport = { type: 'probes', ms, failed };
process.send?.(report, () => process.disconnect?.());

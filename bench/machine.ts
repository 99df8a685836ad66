/**
 * What a result was measured on: CPU, cores, memory and its measured read bandwidth, the WebGPU
 * adapter, and the versions of everything compared. Saved in every result file, since absolute
 * times only mean something next to it.
 */
import os from 'node:os';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../src/util/paths.js';
import { probeAdapter } from '../src/engine/probe.js';
import { memoryReadBandwidth } from './stats.js';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  /** Single-thread memory read bandwidth over 256 MiB (the roofline probe), GB/s. */
  memoryReadGBps: number;
  node: string;
  platform: string;
  adapter: { name: string | null; software: boolean };
  /** Package versions; `null` where a package is not installed. */
  versions: Record<string, string | null>;
  /** 1-minute load average when the run started and ended (other work on the machine shows here). */
  loadAverage: { start: number; end: number | null };
}

const require = createRequire(join(packageRoot, 'package.json'));

/** Installed version of a package, or null (optional peers may be absent). */
export async function packageVersion(name: string): Promise<string | null> {
  try {
    // A package's exports may hide package.json: find its directory from the resolved entry.
    const entry = require.resolve(name);
    const at = entry.lastIndexOf(join('node_modules', name));
    const dir = at >= 0 ? entry.slice(0, at + join('node_modules', name).length) : join(packageRoot, 'node_modules', name);
    return (JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

export const COMPARED_PACKAGES = ['webgpu', 'onnxruntime-node', 'onnx-proto', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', 'fastify', 'msgpackr', 'autocannon'];

export async function machineInfo(o: { probeWebGpu?: boolean } = {}): Promise<MachineInfo> {
  const cpus = os.cpus();
  const adapter = o.probeWebGpu === false ? { name: null, software: false } : await probeAdapter();
  const own = JSON.parse(await readFile(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  const versions: Record<string, string | null> = { ralm: own.version };
  for (const p of COMPARED_PACKAGES) versions[p] = await packageVersion(p);
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    memoryReadGBps: (await memoryReadBandwidth()).gbPerSec,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    adapter: { name: adapter.name, software: adapter.software },
    versions,
    loadAverage: { start: os.loadavg()[0], end: null },
  };
}

export function finishMachineInfo(m: MachineInfo): MachineInfo {
  return { ...m, loadAverage: { ...m.loadAverage, end: os.loadavg()[0] } };
}

export function describeMachine(m: MachineInfo): string {
  const v = m.versions;
  return [
    `machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, memory read ${m.memoryReadGBps.toFixed(1)} GB/s (1 thread), ${m.platform}, node ${m.node}`,
    `webgpu: ${m.adapter.name ?? 'no adapter'}${m.adapter.software ? ' (software rasteriser)' : ''}; versions: ${Object.entries(v).map(([k, x]) => `${k} ${x ?? '(not installed)'}`).join(', ')}`,
    `load average: ${m.loadAverage.start.toFixed(2)} at start${m.loadAverage.end === null ? '' : `, ${m.loadAverage.end.toFixed(2)} at end`}`,
  ].join('\n');
}

/** The part of the machine description that needs no measuring. */
export function basicMachineInfo(): { cpu: string; cores: number; memoryGiB: number; node: string; platform: string } {
  const cpus = os.cpus();
  return { cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}` };
}

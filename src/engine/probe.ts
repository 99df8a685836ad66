/** Which backends this host can run. */
import { openGpu } from '../gpu/device.js';

export interface AdapterReport {
  available: boolean;
  name: string | null;
  software: boolean;
  limits: Record<string, number> | null;
}

export async function probeAdapter(adapter?: string): Promise<AdapterReport> {
  const ctx = await openGpu({ adapter });
  if (!ctx) return { available: false, name: null, software: false, limits: null };
  const report = { available: true, name: ctx.adapterName, software: ctx.isSoftware, limits: { ...ctx.limits } };
  ctx.destroy();
  return report;
}

export async function probeBackends(): Promise<Array<'cpu' | 'webgpu'>> {
  return (await probeAdapter()).available ? ['cpu', 'webgpu'] : ['cpu'];
}

import type { SeedServiceOptions } from './seed-service.js';

/** The seed service's defaults: the one home of these numbers (the service configuration reads them). */
export const SEED_DEFAULTS = {
  intervalMs: 300_000,
  minSeeds: 100,
  maxClusterPoints: 20_000,
  timeWindowMs: null,
  batchItems: 256,
  ingestChunk: 2000,
  maxIterations: 25,
  tolerance: 0.001,
  seed: 1,
  leaseMs: 10_000,
} as const satisfies Omit<Required<SeedServiceOptions>, 'now' | 'onRun' | 'onError' | 'itemLevels'>;

import type { AudienceServiceOptions } from './audience-service.js';
import type { AudienceJobsOptions } from './jobs.js';

/** The audience service's defaults: the one home of these numbers (the service configuration reads them). */
export const AUDIENCE_DEFAULTS = {
  maxClusterSeeds: 20_000,
  maxSize: 1_000_000,
  storage: 'f32',
  scan: 'exact',
} as const satisfies Partial<AudienceServiceOptions>;

/** Audience job defaults: the one home of these numbers (the service configuration reads them). */
export const AUDIENCE_JOB_DEFAULTS = {
  maxQueued: 16,
  retentionMs: 24 * 3600 * 1000,
  staleMs: 30_000,
  progressMs: 1000,
} as const satisfies Partial<AudienceJobsOptions>;

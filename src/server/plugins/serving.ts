/**
 * What serves requests now — a generation: an engine, its seed service, the rank batcher and the
 * audience service over them — and the service's readiness. A model reload builds the next
 * generation aside and swaps it in with one assignment; a request holds the generation it started
 * on until it finishes, and an old generation's engine is closed once its last request is done.
 */
import type { RalmEngine } from '../../engine/engine.js';
import type { RalmStore } from '../../store/store.js';
import type { SeedService } from '../../seeds/seed-service.js';
import type { RalmError } from '../../util/errors.js';
import { AudienceService, parseAudienceRequest, type AudienceServiceOptions, type AudienceSpec } from '../../audience/audience-service.js';
import { AudienceJobs, type AudienceJobsOptions } from '../../audience/jobs.js';
import { RankBatcher, type BatcherOptions } from '../batcher.js';
import { ServiceError } from '../errors.js';
import type { Metrics } from '../metrics.js';

/** Readiness as /readyz reports it: `ready` once warmed up and listening, `draining` while shutting down. */
export interface AppState {
  ready: boolean;
  draining: boolean;
}

export interface Generation {
  engine: RalmEngine;
  seeds: SeedService;
  batcher: RankBatcher;
  audience: AudienceService;
}

interface Held extends Generation {
  inflight: number;
  idle: Array<() => void>;
}

/** Builds a ready engine and seed service for a model directory (default: the configured one). */
export type ReloadModel = (dir: string | undefined) => Promise<{ engine: RalmEngine; seeds: SeedService }>;

export interface ServingOptions {
  store: RalmStore;
  metrics: Metrics;
  batching: BatcherOptions;
  audience: AudienceServiceOptions;
  jobs: AudienceJobsOptions;
  /** The ranking requests the service holds now (admitted, not yet answered): the batcher's dispatch rule reads it. */
  demand?: () => number;
}

type AudienceRun = ReturnType<AudienceService['run']>;

export class Serving {
  private current: Held;
  private reloading = false;
  /** Background audience jobs (restore() after start, stop() before closing the store). */
  readonly jobs: AudienceJobs;

  constructor(private readonly o: ServingOptions, engine: RalmEngine, seeds: SeedService) {
    this.current = this.generation(engine, seeds);
    this.jobs = new AudienceJobs(
      o.store,
      (spec, options) => this.runAudience(spec, options, 'job'),
      (json) => parseAudienceRequest(json, this.current.engine.model.manifest.h, this.current.audience.maxSize),
      o.jobs,
    );
  }

  /** The generation serving now, for work that does not need it to stay (reads, a quick hand-off). */
  get now(): Generation {
    return this.current;
  }

  /** Runs `work` on the generation serving now, which a reload keeps open until `work` is done. */
  async hold<T>(work: (g: Generation) => Promise<T>): Promise<T> {
    const g = this.current;
    g.inflight++;
    try {
      return await work(g);
    } finally {
      if (--g.inflight === 0) for (const f of g.idle.splice(0)) f();
    }
  }

  /** Runs an audience on what serves now, holding it, and counts the outcome. */
  runAudience(spec: AudienceSpec, options: Parameters<AudienceService['run']>[1], mode: 'sync' | 'job'): AudienceRun {
    return this.hold(async (g) => {
      try {
        const r = await g.audience.run(spec, options);
        this.o.metrics.audience(mode, 'done', r.timing.scanMs / 1000, r.scored);
        return r;
      } catch (err) {
        this.o.metrics.audience(mode, (err as RalmError).code === 'RALM_ERR_CANCELLED' ? 'cancelled' : 'failed');
        throw err;
      }
    });
  }

  /**
   * Replaces the model: `load` prepares the next engine and seed service (loaded, compiled,
   * clustered, warmed up) while the current ones serve; then the switch. A failure leaves the
   * current generation serving, its scheduled re-clustering running again.
   */
  async reload(dir: string | undefined, load: ReloadModel): Promise<{ next: Generation; previous: Generation }> {
    if (this.reloading) throw new ServiceError('RALM_ERR_CONFLICT', 'a model reload is already in progress');
    this.reloading = true;
    const old = this.current;
    try {
      // No scheduled run may publish clusters of the old model while the new one is prepared.
      await old.seeds.stop();
      let next;
      try {
        next = await load(dir);
      } catch (err) {
        old.seeds.start();
        throw err;
      }
      const fresh = this.generation(next.engine, next.seeds);
      try {
        // The new model's user table (users re-embedded under it where needed), before switching.
        await fresh.audience.load();
      } catch (err) {
        await next.engine.close();
        old.seeds.start();
        throw err;
      }
      this.current = fresh;
      next.seeds.start();
      // Requests that started on the old model finish there; then it is released.
      void this.drained(old).then(() => old.engine.close());
      return { next: fresh, previous: old };
    } finally {
      this.reloading = false;
    }
  }

  private generation(engine: RalmEngine, seeds: SeedService): Held {
    const audience = new AudienceService(engine, this.o.store, this.o.audience);
    seeds.onUsersStored((ids, e) => audience.addUsers(ids, e));
    return { engine, seeds, batcher: new RankBatcher(engine, this.o.batching, this.o.metrics, this.o.demand), audience, inflight: 0, idle: [] };
  }

  private drained(g: Held): Promise<void> {
    return g.inflight === 0 ? Promise.resolve() : new Promise((r) => g.idle.push(r));
  }
}

/** The user of a recommend or score request, as the engine takes it. */
import type { RalmEngine, UserInput } from '../engine/engine.js';
import type { RalmStore } from '../store/store.js';
import { finiteVector } from '../engine/validate.js';
import { embedUserFeatures } from '../model/user-tower.js';
import { ServiceError } from './errors.js';

/** A request's user, once its schema (schemas.ts `user`) has passed. */
export interface UserBody {
  id?: string;
  embedding?: number[];
  universal?: number[];
  features?: Record<string, unknown>;
}

const FORMS = ['id', 'embedding', 'universal', 'features'] as const;

/**
 * A request's user → engine input: by id (the stored look-alike embedding, else the stored
 * universal one), given vectors (checked here, before they join a batch), or raw features through
 * the model's user tower (whose unknown categorical values are reported).
 */
export async function resolveUser(u: UserBody, engine: RalmEngine, store: RalmStore): Promise<{ user: UserInput; unknownValues?: Record<string, string[]> }> {
  if (FORMS.filter((k) => u[k] !== undefined).length !== 1) {
    throw new ServiceError('RALM_ERR_VALIDATION', 'user: give exactly one of "id", "embedding", "universal" or "features"', { field: 'user' });
  }
  const { h, m } = engine.model.manifest;
  if (u.features !== undefined) {
    const { universal, unknownValues } = embedUserFeatures(engine.model, u.features, 'user.features');
    return { user: { universal }, unknownValues };
  }
  if (u.id !== undefined) {
    const e = new Float32Array(h);
    const [found] = await store.readLookalikes([u.id], engine.modelId, h, e);
    if (found) return { user: { embedding: e } };
    const [rec] = await store.getUsers([u.id]);
    if (rec) return { user: { universal: rec.universal } };
    throw new ServiceError('RALM_ERR_UNKNOWN_USER', `user.id: unknown user ${JSON.stringify(u.id)}`, { field: 'user.id' });
  }
  return { user: u.embedding !== undefined ? { embedding: finiteVector(u.embedding, 'user.embedding', h) } : { universal: finiteVector(u.universal, 'user.universal', m) } };
}

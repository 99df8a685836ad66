/** PUT and GET /v1/items/:id: an item's metadata and content features, its seeds and its serving state. */
import type { FastifyPluginAsync } from 'fastify';
import { finiteVector } from '../../engine/validate.js';
import { popularityPrior } from '../../model/prior.js';
import { clustersLevel } from '../../store/store.js';
import type { ServiceContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { error, idParams, vector } from '../schemas.js';

interface PutItem {
  Params: { id: string };
  Body: { metadata?: Record<string, unknown> | null; content?: number[] | null };
}

const putSchema = {
  summary: "Store an item's metadata and content features",
  params: idParams,
  body: {
    type: 'object',
    title: 'item object',
    properties: { metadata: { type: 'object', nullable: true }, content: { ...vector('content features'), nullable: true } },
  },
  response: { 400: error },
};

const getSchema = {
  summary: "An item's metadata, seed counts, state (waiting-for-seeds, cold, servable) and last clustering",
  params: idParams,
  response: { 404: error },
};

export const itemsRoutes: FastifyPluginAsync<ServiceContext> = async (app, ctx) => {
  app.put<PutItem>('/v1/items/:id', { schema: putSchema }, async (req) => {
    const { id } = req.params;
    const { metadata, content } = req.body;
    const info = await ctx.store.putItemInfo(id, { metadata, content: content === undefined || content === null ? content : finiteVector(content, 'content') });
    return { id, metadata: info.metadata, seedCount: info.seedCount };
  });

  app.get<{ Params: { id: string } }>('/v1/items/:id', { schema: getSchema }, async (req) => {
    const { id } = req.params;
    const item = await ctx.store.getItem(id);
    if (!item) throw new ServiceError('RALM_ERR_UNKNOWN_ITEM', `id: unknown item ${JSON.stringify(id)}`, { field: 'id' });
    const c = item.clusters;
    const table = ctx.serving.now.engine.table;
    const slot = table.slotOf(id);
    return {
      id,
      metadata: item.info.metadata,
      content: item.info.content,
      seedCount: item.info.seedCount,
      clicks: item.info.clicks,
      firstSeedAt: item.info.firstSeedAt,
      lastSeedAt: item.info.lastSeedAt,
      state: !c ? 'waiting-for-seeds' : c.cold ? 'cold' : 'servable',
      served: table.has(id),
      prior: slot === undefined ? null : popularityPrior(table.popularityPrior, table.clickersOf(slot)),
      // The level offset served with the prior (engine/item-levels.ts), and the level it came from (null: unknown).
      levelOffset: slot === undefined ? null : table.levelOf(slot).offset,
      level: slot === undefined || !Number.isFinite(table.levelOf(slot).level) ? null : table.levelOf(slot).level,
      clusters: c ? { centroids: c.count, seeds: c.seeds, cold: c.cold, clusteredAt: c.clusteredAt, modelId: c.modelVersion, firstServableAt: c.firstServableAt, levelOffset: clustersLevel(c).offset } : null,
    };
  });
};

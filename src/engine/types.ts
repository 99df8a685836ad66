/** The engine's request, result and item types: what callers of RalmEngine pass and get back. */
import type { BackendKind } from '../core/backend.js';
import type { UserInput } from './validate.js';

export type { UserInput };

export type EngineEvent =
  | { type: 'device-lost'; reason: string; message: string }
  | { type: 'device-recovered'; adapter: string }
  | { type: 'device-recovery-failed'; error: string; retryInMs: number }
  | { type: 'cpu-fallback'; operation: string; error: string }
  | { type: 'software-adapter-skipped'; adapter: string };

export interface RankRequest {
  user: UserInput;
  /** Item ids to rank; every item in the table when omitted. Duplicates are ranked once. */
  candidates?: readonly string[];
  /** How many results. */
  k: number;
  /** Item ids never to return. */
  exclude?: readonly string[];
  /**
   * Add the level offsets few-clicker items were published with (default true). false ranks by
   * the look-alike score and the popularity prior alone: for a list of fresh items only, where
   * the offsets would give every item below the levelling line the established items' prior
   * (docs/quality.md, "A level policy for fresh candidates").
   */
  itemLevels?: boolean;
}

export interface RankedItem {
  id: string;
  score: number;
  cosGlobal: number;
  cosLocal: number;
  /** The item was published as cold (too few seeds for the look-alike to be trusted). */
  cold: boolean;
}

export interface ResultInfo {
  backend: BackendKind;
  adapter: string;
  modelVersion: string;
  /** Milliseconds from the batch's start to its results. */
  elapsedMs: number;
}

export interface RankResult extends ResultInfo {
  items: RankedItem[];
  /** Candidates actually scored (after de-duplication and exclusions). */
  candidates: number;
}

export interface ScoreRequest {
  user: UserInput;
  /** Item ids; scores come back in this order, duplicates included. */
  items: readonly string[];
  /** As RankRequest.itemLevels. */
  itemLevels?: boolean;
}

export interface ScoreResult extends ResultInfo {
  scores: Float32Array;
  cosGlobal: Float32Array;
  cosLocal: Float32Array;
  /** 1 where the item is cold. */
  cold: Uint8Array;
}

export interface ItemCentroids {
  id: string;
  /** `count` rows of width h, row-major (count = length / h, 1 ≤ count ≤ k). */
  centroids: ArrayLike<number>;
  /**
   * The item's global vector (width h) when already known (restored from a store, exported by a
   * trainer). When absent it is computed by global attention on the backend.
   */
  global?: ArrayLike<number>;
  /** Below the cold-start seed threshold: scored like any item, and flagged `cold` in results. */
  cold?: boolean;
  /**
   * Distinct users the item's seed set was built from: its popularity prior is
   * λ · ln(1 + clickers) (model/prior.ts). Absent: 0, prior 0.
   */
  clickers?: number;
  /** The item's level: its mean look-alike score over the level sample (engine/item-levels.ts). Absent: unknown. */
  level?: number;
  /** The level offset added to its score with the prior (engine/item-levels.ts). Absent: 0. */
  offset?: number;
}

export interface EngineStats {
  batches: number;
  requests: number;
  candidates: number;
  cpuFallbacks: number;
  deviceLosses: number;
  deviceRecoveries: number;
  itemsUpserted: number;
  itemsRemoved: number;
}

/**
 * What a user could run instead of this engine, on the same inputs and the same math (README,
 * "The math"): each peer scores every candidate for every user of a batch and returns the top-K.
 * Peers that live in optional packages are loaded on demand; a missing one is reported with the
 * command that installs it, never silently dropped.
 */
import type { Workload } from '../workload.js';
import { PEER_NAMES } from '../defaults.js';

/** Top-K of one batch: request r's j-th best is `index[r*topK + j]` (a position in the workload's items). */
export interface PeerOutput {
  index: ArrayLike<number>;
  score: Float32Array;
}

export interface PeerSession {
  /** Scores `b` users (row-major [b, h]) against every item; returns each user's top-K. */
  run(users: Float32Array, b: number): Promise<PeerOutput>;
  close(): Promise<void>;
}

export interface Peer {
  /** Stable id used in results: `onnxruntime-cpu`, `onnxruntime-cpu-int8`, `tfjs-wasm`, `typescript-loop`. */
  name: string;
  /** Human-readable, with version and threading. */
  label: string;
  version: string;
  /** Largest item-data size (bytes of f32 centroids and globals) this peer can hold, if limited. */
  maxItemBytes?: number;
  /** The item storage it stands beside (its rows run in that storage's configurations); f32 when absent. */
  storage?: 'f32' | 'int8';
  /** How far its top-K scores may be from the engine's (same storage); verify.ts's default when absent. */
  tolerance?: { abs: number; rel: number };
  open(w: Workload, topK: number): Promise<PeerSession>;
}

export interface MissingPeer {
  name: string;
  reason: string;
  /** How to make it available. */
  fix: string;
}

export type PeerName = (typeof PEER_NAMES)[number];

/** Loads the named peers; those whose packages are absent come back in `missing`. */
export async function loadPeers(names: readonly PeerName[] = PEER_NAMES): Promise<{ peers: Peer[]; missing: MissingPeer[] }> {
  const peers: Peer[] = [];
  const missing: MissingPeer[] = [];
  for (const name of names) {
    try {
      if (name === 'onnxruntime-cpu') peers.push(await (await import('./onnx.js')).onnxRuntimePeer());
      else if (name === 'onnxruntime-cpu-int8') peers.push(await (await import('./onnx-int8.js')).onnxRuntimeInt8Peer());
      else if (name === 'tfjs-wasm') peers.push(await (await import('./tfjs.js')).tfjsWasmPeer());
      else peers.push((await import('./typescript-loop.js')).typescriptLoopPeer());
    } catch (err) {
      if (!(err instanceof PeerUnavailable)) throw err;
      missing.push({ name, reason: err.message, fix: err.fix });
    }
  }
  return { peers, missing };
}

export class PeerUnavailable extends Error {
  constructor(message: string, readonly fix: string) {
    super(message);
  }
}

/**
 * Imports an optional package by name. The specifier is a variable so that the build does not
 * need the package: it is an optional dependency, and `npm ci --omit=optional` leaves it out.
 */
export async function importOptional<T>(pkg: string, fix: string): Promise<T> {
  try {
    return (await import(pkg)) as T;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new PeerUnavailable(`package ${pkg} is not installed`, fix);
    throw new PeerUnavailable(`package ${pkg} failed to load: ${(err as Error).message}`, fix);
  }
}

export const OPTIONAL_INSTALL_FIX = 'the peers are optional dependencies: run `npm install` without --omit=optional (see README, "Benchmark")';

/**
 * Descending top-K of one score row with the project's tie rule (lower position first). Written
 * for the peers that have no top-K of their own; independent of the engine's selection code.
 */
export function topKOfRow(scores: Float32Array, topK: number, outIndex: Int32Array, outScore: Float32Array, at: number): void {
  const k = Math.min(topK, scores.length);
  let filled = 0;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (filled === k && !(s > outScore[at + k - 1])) continue;
    // insertion into the sorted prefix; equal scores keep input order (strict >)
    let j = filled < k ? filled++ : k - 1;
    while (j > 0 && s > outScore[at + j - 1]) {
      outScore[at + j] = outScore[at + j - 1];
      outIndex[at + j] = outIndex[at + j - 1];
      j--;
    }
    outScore[at + j] = s;
    outIndex[at + j] = i;
  }
}

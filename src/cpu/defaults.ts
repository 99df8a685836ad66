/**
 * The CPU backend's tunables, in one place. Sizes that fix a memory layout shared with a kernel
 * (chunk sizes, scratch regions) stay beside that layout (wasm-kernel.ts, core/user-table.ts).
 */
export const CPU_DEFAULTS = {
  /** Below this many candidates a request stays on one thread: the hand-off costs more than it saves (measured by `ralm bench kernel`). */
  parallelMinCandidates: 512,
  /** Offloaded scoring (a server's) hands a job to the workers from this many scores (candidates × requests); smaller ones run inline, in microseconds. */
  offloadMinScores: 512,
  /** An offloaded job is split between scoring workers so that each gets at least this many multiply-adds (about half a millisecond): a share smaller than that costs more in hand-off than it saves. */
  offloadMinWorkPerWorker: 1 << 20,
  /** Requests of a batch with at least this many candidates are checked for a shared candidate list and then scored together. */
  batchMinCandidates: 64,
  /** Threads sharing a job claim chunks of about this many multiply-adds (a few tenths of a millisecond), so a thread without a core holds little back (workers/claim.ts). */
  claimChunkWork: 1 << 20,
  /** …and of at least this many candidates, so a chunk's fixed cost (the requests' quantization, the slot copy) stays small beside it. */
  claimChunkMin: 128,
  /** How long a requesting thread waits for a worker's half of a request before scoring it itself, ms. */
  scoreWaitMs: 10_000,
} as const;

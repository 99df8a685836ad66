/**
 * Top-K selection with the project's tie rule, shared by every backend's contract:
 * higher score first; equal scores are ordered by lower candidate position first.
 */

/** True when candidate a (score sa, position ia) ranks before b. */
export function ranksBefore(sa: number, ia: number, sb: number, ib: number): boolean {
  return sa > sb || (sa === sb && ia < ib);
}

/**
 * Rows for a request from its full score arrays: every candidate in input order when `topK` is 0,
 * else the best `topK`, best first.
 */
export function rowsFromScores(score: Float32Array, cosGlobal: Float32Array, cosLocal: Float32Array, topK: number): { index: Uint32Array; score: Float32Array; cosGlobal: Float32Array; cosLocal: Float32Array } {
  if (topK === 0) return { index: Uint32Array.from({ length: score.length }, (_, i) => i), score, cosGlobal, cosLocal };
  const index = selectTopK(score, topK);
  return {
    index,
    score: Float32Array.from(index, (i) => score[i]),
    cosGlobal: Float32Array.from(index, (i) => cosGlobal[i]),
    cosLocal: Float32Array.from(index, (i) => cosLocal[i]),
  };
}

/** Positions of the best `k` scores, best first. A bounded min-heap: O(n log k), no per-element allocation. */
export function selectTopK(scores: Float32Array, k: number): Uint32Array {
  const n = scores.length;
  const size = Math.min(k, n);
  const heap = new Uint32Array(size); // heap[0] is the worst kept candidate
  let len = 0;
  const worse = (a: number, b: number): boolean => ranksBefore(scores[b], b, scores[a], a);
  const siftDown = (start: number): void => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let w = i;
      if (l < len && worse(heap[l], heap[w])) w = l;
      if (r < len && worse(heap[r], heap[w])) w = r;
      if (w === i) return;
      const t = heap[i];
      heap[i] = heap[w];
      heap[w] = t;
      i = w;
    }
  };
  for (let c = 0; c < n; c++) {
    if (len < size) {
      let i = len++;
      heap[i] = c;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(heap[i], heap[p])) break;
        const t = heap[i];
        heap[i] = heap[p];
        heap[p] = t;
        i = p;
      }
    } else if (size > 0 && ranksBefore(scores[c], c, scores[heap[0]], heap[0])) {
      heap[0] = c;
      siftDown(0);
    }
  }
  return Uint32Array.from(heap.subarray(0, len)).sort((a, b) => (ranksBefore(scores[a], a, scores[b], b) ? -1 : 1));
}

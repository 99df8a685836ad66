/** Grouping a batch's requests by candidate list, for the CPU's batched kernel (cpu/cpu-backend.ts) and the GPU's work list (gpu/kernels/rank.ts). */
import type { PreparedRequest } from './backend.js';

/**
 * Groups of request indexes whose candidate lists are the same (the same array, or equal
 * contents); lists shorter than `minCandidates` stay alone (comparing costs more than it saves).
 */
export function sameCandidates(requests: readonly PreparedRequest[], minCandidates: number): number[][] {
  const groups: number[][] = [];
  const heads: number[] = [];
  for (let i = 0; i < requests.length; i++) {
    const s = requests[i].slots;
    let joined = false;
    if (s.length >= minCandidates) {
      for (let g = 0; g < heads.length && !joined; g++) {
        if (heads[g] >= 0 && equalSlots(requests[heads[g]].slots, s)) {
          groups[g].push(i);
          joined = true;
        }
      }
    }
    if (!joined) {
      groups.push([i]);
      heads.push(s.length >= minCandidates ? i : -1);
    }
  }
  return groups;
}

function equalSlots(a: Uint32Array, b: Uint32Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

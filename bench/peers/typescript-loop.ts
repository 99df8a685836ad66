/**
 * The plain TypeScript loop a user would write first: Float32Array in, one pass per candidate,
 * no workers, no WebAssembly, no item table.
 */
import type { Peer, PeerSession } from './peer.js';
import { topKOfRow } from './peer.js';
import type { Workload } from '../workload.js';

const ZERO_NORM = 1e-6;

function cos(dot: number, na: number, nb: number): number {
  return na < ZERO_NORM || nb < ZERO_NORM ? 0 : dot / (na * nb);
}

export function typescriptLoopPeer(): Peer {
  return {
    name: 'typescript-loop',
    label: `plain TypeScript loop (1 thread, node ${process.version})`,
    version: process.version,
    async open(w: Workload, topK: number): Promise<PeerSession> {
      const { n, k, h, centroids: C, globals: G } = w;
      const { alpha, beta } = w.model.manifest;
      const Wl = w.model.weights.localWeight;
      const q = new Float64Array(h);
      const L = new Float64Array(h);
      const scores = new Float32Array(n);
      return {
        async run(users: Float32Array, b: number) {
          const index = new Int32Array(b * topK);
          const score = new Float32Array(b * topK);
          for (let r = 0; r < b; r++) {
            const e = users.subarray(r * h, (r + 1) * h);
            let ee = 0;
            for (let d = 0; d < h; d++) ee += e[d] * e[d];
            const ne = Math.sqrt(ee);
            for (let i = 0; i < h; i++) {
              let s = 0;
              for (let d = 0; d < h; d++) s += Wl[i * h + d] * e[d];
              q[i] = s;
            }
            for (let it = 0; it < n; it++) {
              L.fill(0);
              const base = it * k * h;
              for (let j = 0; j < k; j++) {
                const row = base + j * h;
                let s = 0;
                for (let d = 0; d < h; d++) s += C[row + d] * q[d];
                const wj = Math.exp(Math.tanh(s));
                for (let d = 0; d < h; d++) L[d] += wj * C[row + d];
              }
              let dl = 0;
              let ll = 0;
              let dg = 0;
              let gg = 0;
              const g = it * h;
              for (let d = 0; d < h; d++) {
                dl += e[d] * L[d];
                ll += L[d] * L[d];
                dg += e[d] * G[g + d];
                gg += G[g + d] * G[g + d];
              }
              scores[it] = alpha * cos(dg, ne, Math.sqrt(gg)) + beta * cos(dl, ne, Math.sqrt(ll));
            }
            topKOfRow(scores, topK, index, score, r * topK);
          }
          return { index, score };
        },
        async close() {},
      };
    },
  };
}

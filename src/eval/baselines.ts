/**
 * Reference methods for the ranking evaluation, each a Recommender: what any learned model has to
 * beat. Most popular is the paper's implicit floor (and the usual strong one on news); random
 * scores give the chance level the metrics should show for a method that knows nothing.
 */
import type { EvalContext, Recommender } from './ranking-eval.js';

/** Scores an item by its positive training rows; ties fall to the harness's lower-position rule. */
export class MostPopular implements Recommender {
  readonly name: string;

  constructor(private readonly counts: ArrayLike<number>, name = 'most popular') {
    this.name = name;
  }

  static fromContext(ctx: EvalContext): MostPopular {
    return new MostPopular(ctx.popularity);
  }

  score(_u: number, items: Uint32Array, out: Float32Array): void {
    for (let j = 0; j < items.length; j++) out[j] = this.counts[items[j]];
  }
}

/**
 * A uniform score in [0, 1) per (seed, user, item), from a hash rather than a stream, so it does
 * not depend on the order or the batch the items come in.
 */
export class RandomScores implements Recommender {
  readonly name: string;

  constructor(private readonly seed = 1, name = 'random') {
    this.name = name;
  }

  score(u: number, items: Uint32Array, out: Float32Array): void {
    const base = Math.imul(this.seed >>> 0, 0x9e3779b1) ^ Math.imul(u >>> 0, 0x85ebca77);
    for (let j = 0; j < items.length; j++) {
      let h = base ^ Math.imul(items[j], 0xc2b2ae3d);
      h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
      out[j] = ((h ^ (h >>> 16)) >>> 8) / 16777216;
    }
  }
}

/**
 * The per-item additive term of the served score, per table slot: the popularity prior
 * λ · ln(1 + clickers) (model/prior.ts) plus the item's level offset (engine/item-levels.ts),
 * stored as one float32 that every backend adds where scores meet top-K. Host only: the CPU adds
 * it before selection, WebGPU through the rank kernel's work list.
 *
 * It also keeps the typical level — the mean level of the live *established* items (clickers ≥
 * `establishedClickers`) whose level is known — as running sums updated when a slot becomes
 * visible or goes, so no item is rescored when another is published.
 */
import { popularityPrior } from '../model/prior.js';

/** Clickers from which an item is established, by default (the one home of this number). */
export const ESTABLISHED_CLICKERS = 20;

export interface TypicalLevel {
  /** Mean look-alike level of the established items. */
  level: number;
  /** Their mean popularity prior. */
  prior: number;
  /** How many established items it is the mean of. */
  items: number;
}

export class ItemTerms {
  private sums = new Float32Array(0);
  /** Per slot, the prior alone (no level offset): what a request that turns levels off adds. */
  private plain = new Float32Array(0);
  private clickers = new Uint32Array(0);
  private offsets = new Float32Array(0);
  private levels = new Float32Array(0);
  private counted = new Uint8Array(0);
  private anyOffset = false;
  private levelSum = 0;
  private priorSum = 0;
  private levelCount = 0;

  constructor(readonly lambda: number, readonly establishedClickers: number) {}

  /** Grows every per-slot array to `capacity` slots. */
  grow(capacity: number): void {
    if (this.sums.length >= capacity) return;
    const grown = <T extends Float32Array | Uint32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(capacity);
      b.set(a as never);
      return b;
    };
    this.sums = grown(this.sums, (n) => new Float32Array(n));
    this.plain = grown(this.plain, (n) => new Float32Array(n));
    this.clickers = grown(this.clickers, (n) => new Uint32Array(n));
    this.offsets = grown(this.offsets, (n) => new Float32Array(n));
    this.levels = grown(this.levels, (n) => new Float32Array(n).fill(NaN));
    this.counted = grown(this.counted, (n) => new Uint8Array(n));
  }

  /** A reserved (not yet visible) slot's values. */
  write(slot: number, clickers: number, level: number, offset: number): void {
    this.clickers[slot] = clickers;
    this.levels[slot] = level;
    this.offsets[slot] = offset;
    this.counted[slot] = 0;
    if (offset !== 0) this.anyOffset = true;
    const prior = popularityPrior(this.lambda, clickers);
    this.sums[slot] = Math.fround(prior + offset);
    this.plain[slot] = Math.fround(prior);
  }

  /** The slot became visible: it joins the typical level when established with a known level. */
  shown(slot: number): void {
    const level = this.levels[slot];
    if (this.clickers[slot] < this.establishedClickers || !Number.isFinite(level)) return;
    this.counted[slot] = 1;
    this.levelSum += level;
    this.priorSum += popularityPrior(this.lambda, this.clickers[slot]);
    this.levelCount++;
  }

  /** The slot was replaced or removed. */
  hidden(slot: number): void {
    if (this.counted[slot] === 0) return;
    this.counted[slot] = 0;
    this.levelSum -= this.levels[slot];
    this.priorSum -= popularityPrior(this.lambda, this.clickers[slot]);
    this.levelCount--;
  }

  clickersOf(slot: number): number {
    return this.clickers[slot];
  }

  offsetOf(slot: number): number {
    return this.offsets[slot];
  }

  levelOf(slot: number): number {
    return this.levels[slot];
  }

  /** undefined while no established item with a known level is live. */
  get typical(): TypicalLevel | undefined {
    return this.levelCount === 0 ? undefined : { level: this.levelSum / this.levelCount, prior: this.priorSum / this.levelCount, items: this.levelCount };
  }

  /** Per slot, prior + offset; null when λ is 0 and no item has an offset (scores stay exactly the blend). */
  get values(): Float32Array | null {
    return this.lambda === 0 && !this.anyOffset ? null : this.sums;
  }

  /** Per slot, the prior alone, every level offset left out; null when λ is 0. */
  get withoutLevels(): Float32Array | null {
    return this.lambda === 0 ? null : this.plain;
  }
}

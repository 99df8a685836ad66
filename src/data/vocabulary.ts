/**
 * String ↔ dense id maps. Every entity the trainer embeds (users, items, the values of a
 * categorical field) gets ids 0..size−1 in order of first appearance, so embedding tables can
 * be plain arrays and runs over the same files give the same ids.
 */
export class Vocabulary {
  readonly name: string;
  private readonly list: string[] = [];
  private readonly map = new Map<string, number>();

  constructor(name: string, values: Iterable<string> = []) {
    this.name = name;
    for (const v of values) this.add(v);
  }

  get size(): number {
    return this.list.length;
  }

  /** The id of `value`, adding it if it is new. */
  add(value: string): number {
    let id = this.map.get(value);
    if (id === undefined) {
      id = this.list.length;
      this.list.push(value);
      this.map.set(value, id);
    }
    return id;
  }

  /** The id of `value`, or −1 when it is not in the vocabulary (the "missing" id of feature columns). */
  id(value: string): number {
    return this.map.get(value) ?? -1;
  }

  has(value: string): boolean {
    return this.map.has(value);
  }

  /** The value of id `i`; throws on an id out of range rather than returning undefined. */
  value(i: number): string {
    if (!(i >= 0 && i < this.list.length)) throw new RangeError(`${this.name}: id ${i} out of range [0, ${this.list.length})`);
    return this.list[i];
  }

  /** The values in id order (a copy). */
  values(): string[] {
    return this.list.slice();
  }
}

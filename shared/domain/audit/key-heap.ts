/** One entry of the queue heap: a ticket's order key when it was pushed. */
export type KeyEntry = { key: bigint; ticketId: string };

/**
 * A binary min-heap of order keys, with lazy deletion: entries are never removed when a
 * ticket leaves the queue; `min` drops the stale ones (the caller says which) when asked.
 */
export class KeyHeap {
  private readonly items: KeyEntry[] = [];

  push(entry: KeyEntry): void {
    const a = this.items;
    a.push(entry);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.key <= entry.key) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = entry;
  }

  /** The live entry with the lowest key, after popping every stale one above it. */
  min(live: (e: KeyEntry) => boolean): KeyEntry | undefined {
    while (this.items.length > 0 && !live(this.items[0]!)) this.pop();
    return this.items[0];
  }

  get size(): number {
    return this.items.length;
  }

  private pop(): void {
    const a = this.items;
    const last = a.pop()!;
    if (a.length === 0) return;
    let i = 0;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && a[r]!.key < a[l]!.key ? r : l;
      if (a[c]!.key >= last.key) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
  }
}

/** Where the counts go: the drop's hash (ProductStore.addRefusals). */
type RefusalStore = { addRefusals(productId: number, counts: Record<string, number>): Promise<void> };

/** How long refusals answered from memory are added up before they go to Redis. */
const FLUSH_MS = 1_000;

/**
 * Refusals the door answers without Redis (a drop known to be sold out: see SoldOutMemo)
 * are counted here and added to the drop's refusal counts once a second, one round trip
 * per drop, so the drop's record (docs/event-log.md) counts every refusal by its code
 * while the door stays free of Redis. Counts of the last second are lost if the process
 * dies; refusals decided in admit.lua are counted there, atomically.
 */
export class DoorRefusals {
  private readonly counts = new Map<number, Record<string, number>>();
  private readonly store: RefusalStore;
  private timer: NodeJS.Timeout | null = null;

  constructor(store: RefusalStore) {
    this.store = store;
  }

  count(productId: number, code: string): void {
    const c = this.counts.get(productId) ?? {};
    c[code] = (c[code] ?? 0) + 1;
    this.counts.set(productId, c);
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS).unref();
  }

  /** Sends what was counted (also at shutdown); errors are dropped with the counts. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const taken = [...this.counts];
    this.counts.clear();
    await Promise.all(taken.map(([id, c]) => this.store.addRefusals(id, c).catch(() => undefined)));
  }
}

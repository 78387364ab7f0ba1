const ignore = () => {};

/**
 * One read for every caller who asks while it could not yet have started: a caller who
 * asks while a read runs waits for the next one, which starts when the running one ends
 * and is shared by everyone who asked meanwhile. So no caller gets an answer read before
 * it asked (what a caller wrote before asking is in it), and however many ask at once,
 * at most one read runs and one waits: a catalogue refreshed by a crowd costs what one
 * client polling back to back costs, in reads and in memory. A read that fails fails the
 * callers who shared it; the next one is tried afresh.
 */
export class SharedRead<T> {
  private readonly read: () => Promise<T>;
  private readonly onIdle: () => void;
  private running: Promise<T> | null = null;
  private next: Promise<T> | null = null;

  /** `onIdle`: called when a read ends and none waits. */
  constructor(read: () => Promise<T>, onIdle: () => void = ignore) {
    this.read = read;
    this.onIdle = onIdle;
  }

  get(): Promise<T> {
    if (!this.running) return this.start();
    this.next ??= this.running.then(ignore, ignore).then(() => {
      this.next = null;
      return this.start();
    });
    return this.next;
  }

  private start(): Promise<T> {
    const read = this.read();
    this.running = read;
    read.then(ignore, ignore).then(() => {
      if (this.running !== read) return;
      this.running = null;
      if (this.next === null) this.onIdle();
    });
    return read;
  }
}

/** {@link SharedRead} per key (a product's live view): a key's entry is dropped once idle. */
export class SharedReads<K, T> {
  private readonly read: (key: K) => Promise<T>;
  private readonly byKey = new Map<K, SharedRead<T>>();

  constructor(read: (key: K) => Promise<T>) {
    this.read = read;
  }

  get(key: K): Promise<T> {
    let shared = this.byKey.get(key);
    if (!shared) {
      const entry: SharedRead<T> = new SharedRead(() => this.read(key), () => {
        if (this.byKey.get(key) === entry) this.byKey.delete(key);
      });
      shared = entry;
      this.byKey.set(key, entry);
    }
    return shared.get();
  }

  /** Keys with a read running or waiting. */
  get size(): number {
    return this.byKey.size;
  }
}

import type { Deps } from '../shared/deps.ts';
import type { Product } from '../shared/db/entities/product.entity.ts';
import { reconcileCharges } from '../shared/domain/payment/reconcile-charges.ts';
import { reloadLostProducts, settleOverdueOrders, snapshotProducts } from '../shared/domain/recovery/ledger-keeper.ts';
import { needsRepair, overdueAt, repairProduct } from '../shared/domain/recovery/repair.ts';
import { drainLog, needsDrain } from '../shared/domain/audit/drain.ts';
import type { ProductChores } from '../shared/redis/scripts.ts';
import { settlesWithin } from '../shared/deadline.ts';

/** How long a stopping worker tries to hand the last of the event log to MySQL. */
const FINAL_DRAIN_MS = 3_000;
/** Products peek.lua is asked about at once (one write of that many calls, one read of their answers). */
const PEEK_BATCH = 200;

/**
 * The janitor, in every worker process. Each second it tells the caller about every
 * loaded product (so a new drop gets its stock worker) and repairs those with live
 * tickets (repairProduct); every EVENT_LOG_DRAIN_MS it drains the event logs that hold
 * events. One peek.lua call per product, all sent together, says which those are: a
 * catalogue of idle products costs Redis one call per product each time, not a repair
 * and a drain each. A round that outlasts its interval is followed by one more at once,
 * never by a queue of them. Every RECONCILE_INTERVAL_MS it also rebuilds products Redis
 * lost (found from MySQL, since Redis's registry of products went with them), snapshots
 * live counters, settles overdue pending orders and reconciles the provider's charges
 * with the ledger. A MySQL outage stops the slow round, never the Redis-side repairs.
 */
export class Janitor {
  private readonly deps: Deps;
  private readonly onProduct: (product: Product) => void;
  private readonly snapshots = new Map<number, string>();
  private ledgerAt = 0;
  private rounds: Repeat | null = null;
  private drains: Repeat | null = null;

  constructor(deps: Deps, onProduct: (product: Product) => void) {
    this.deps = deps;
    this.onProduct = onProduct;
  }

  start(): void {
    this.rounds = repeat(1000, () => this.tick(), (err) => this.deps.logger.error({ err: err.message }, 'janitor round failed'));
    this.rounds.turn();
    this.drains = repeat(this.deps.config.EVENT_LOG_DRAIN_MS, () => this.drain(),
      (err) => this.deps.logger.warn({ err: err.message }, 'event log drain failed'));
  }

  async stop(): Promise<void> {
    this.rounds?.stop();
    this.drains?.stop();
    await this.rounds?.last();
    // What the log holds goes to MySQL before the process ends.
    await settlesWithin((this.drains?.last() ?? Promise.resolve()).then(() => this.drain()), FINAL_DRAIN_MS).catch(() => {});
  }

  /** Every drop's event log that holds events, from Redis to MySQL (docs/event-log.md). */
  private async drain(): Promise<void> {
    const ids = await this.deps.productState.registered();
    const chores = await this.chores(ids);
    for (const [i, id] of ids.entries()) if (needsDrain(chores[i])) await drainLog(this.deps, id);
  }

  /** What each product has to be done (peek.lua), asked of all of them together. */
  private async chores(ids: number[]): Promise<ProductChores[]> {
    const at = overdueAt(Date.now());
    const out: ProductChores[] = [];
    for (let i = 0; i < ids.length; i += PEEK_BATCH) {
      out.push(...await this.deps.scripts.peekEach(ids.slice(i, i + PEEK_BATCH), at));
    }
    return out;
  }

  private async tick(): Promise<void> {
    if (Date.now() - this.ledgerAt >= this.deps.config.RECONCILE_INTERVAL_MS) {
      this.ledgerAt = Date.now();
      await this.ledgerRound().catch((err: Error) => this.deps.logger.warn({ err: err.message }, 'ledger round failed'));
    }
    const ids = await this.deps.productState.registered();
    const chores = await this.chores(ids);
    for (const [i, id] of ids.entries()) {
      const product = await this.deps.catalog.find(id);
      if (!product) continue;
      this.onProduct(product);
      if (needsRepair(chores[i])) await repairProduct(this.deps, product);
    }
  }

  private async ledgerRound(): Promise<void> {
    const products = await this.deps.catalog.list();
    const lost = await reloadLostProducts(this.deps, products);
    if (lost.length) this.deps.logger.warn({ products: lost.map((p) => p.id) }, 'products rebuilt from the ledger');
    // The registry is one key on one shard: what it forgot, the ledger knows.
    const forgotten = await this.deps.productState.unregistered(products.map((p) => p.id));
    for (const id of forgotten) await this.deps.productState.register(id);
    if (forgotten.length) this.deps.logger.warn({ products: forgotten }, 'products registered again from the ledger');
    await snapshotProducts(this.deps, products, this.snapshots);
    await settleOverdueOrders(this.deps);
    await reconcileCharges(this.deps);
  }
}

export type Repeat = { turn: () => void; stop: () => void; last: () => Promise<void> };

/**
 * Runs `job` every `ms`. A turn that comes while the last run is still going does not
 * start another beside it: one run follows right after instead, however many turns came,
 * so a slow round is followed at once (as a drain must be, or the log waits) but runs
 * never overlap or pile up. `last` settles with the latest run (its errors go to
 * `onError`); after `stop` no run starts.
 */
export function repeat(ms: number, job: () => Promise<void>, onError: (err: Error) => void): Repeat {
  let running = false;
  let again = false;
  let stopped = false;
  let last: Promise<void> = Promise.resolve();
  const turn = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    last = job().catch(onError).finally(() => {
      running = false;
      if (again) {
        again = false;
        turn();
      }
    });
  };
  const timer = setInterval(turn, ms);
  return {
    turn,
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
    last: () => last,
  };
}

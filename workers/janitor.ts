import type { Deps } from '../shared/deps.ts';
import type { Product } from '../shared/db/entities/product.entity.ts';
import { reconcileCharges } from '../shared/domain/payment/reconcile-charges.ts';
import { reloadLostProducts, settleOverdueOrders, snapshotProducts } from '../shared/domain/recovery/ledger-keeper.ts';
import { repairProduct } from '../shared/domain/recovery/repair.ts';
import { drainLog } from '../shared/domain/audit/drain.ts';
import { settlesWithin } from '../shared/deadline.ts';

/** How long a stopping worker tries to hand the last of the event log to MySQL. */
const FINAL_DRAIN_MS = 3_000;

/**
 * The janitor, in every worker process: each second it repairs every loaded product
 * (repairProduct) and tells the caller about each one (so a new drop gets its stock
 * worker); every RECONCILE_INTERVAL_MS it also rebuilds products Redis lost (found from
 * MySQL, since Redis's registry of products went with them), snapshots live counters,
 * settles overdue pending orders and reconciles the provider's charges with the ledger.
 * A MySQL outage stops the slow round, never the Redis-side repairs.
 */
export class Janitor {
  private readonly deps: Deps;
  private readonly onProduct: (product: Product) => void;
  private readonly snapshots = new Map<number, string>();
  private ledgerAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;
  private round: Promise<void> = Promise.resolve();
  private draining: Promise<void> = Promise.resolve();
  private stopping = false;

  constructor(deps: Deps, onProduct: (product: Product) => void) {
    this.deps = deps;
    this.onProduct = onProduct;
  }

  start(): void {
    this.round = this.tick();
    this.timer = setInterval(() => {
      this.round = this.round.then(() => (this.stopping ? undefined : this.tick()))
        .catch((err: Error) => this.deps.logger.error({ err: err.message }, 'janitor round failed'));
    }, 1000);
    this.drainTimer = setInterval(() => {
      this.draining = this.draining.then(() => (this.stopping ? undefined : this.drain()))
        .catch((err: Error) => this.deps.logger.warn({ err: err.message }, 'event log drain failed'));
    }, this.deps.config.EVENT_LOG_DRAIN_MS);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    if (this.drainTimer) clearInterval(this.drainTimer);
    await this.round.catch(() => {});
    // What the log holds goes to MySQL before the process ends.
    await settlesWithin(this.draining.then(() => this.drain()), FINAL_DRAIN_MS).catch(() => {});
  }

  /** Every drop's event log, from Redis to MySQL (docs/event-log.md). */
  private async drain(): Promise<void> {
    for (const id of await this.deps.productState.registered()) await drainLog(this.deps, id);
  }

  private async tick(): Promise<void> {
    if (Date.now() - this.ledgerAt >= this.deps.config.RECONCILE_INTERVAL_MS) {
      this.ledgerAt = Date.now();
      await this.ledgerRound().catch((err: Error) => this.deps.logger.warn({ err: err.message }, 'ledger round failed'));
    }
    for (const id of await this.deps.productState.registered()) {
      const product = await this.deps.catalog.find(id);
      if (!product) continue;
      this.onProduct(product);
      await repairProduct(this.deps, product);
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

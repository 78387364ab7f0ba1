import type { Deps } from '../../deps.ts';
import { notFound } from '../../errors.ts';
import { drainLog } from './drain.ts';
import { commitmentOf } from './lottery.ts';
import { replay, type Verdict } from './replay.ts';

export type AuditReport = Verdict & { productId: number; refusals: Record<string, number>; drained: number; tookMs: number };

/**
 * The audit of one drop (docs/event-log.md): drains what is left of its log in Redis, reads
 * the whole log from MySQL, and replays it against the ledger (orders, payments) and the
 * lottery's seed, which is used only once the drop has opened (before that the seed is
 * secret, and the verdict says it was not revealed). Redis being unreachable does not stop
 * an audit: it then covers what MySQL has.
 */
export async function auditDrop(deps: Pick<Deps, 'catalog' | 'events' | 'scripts' | 'logger'>, productId: number): Promise<AuditReport> {
  const started = Date.now();
  const product = await deps.catalog.find(productId);
  if (!product) throw notFound('Product');
  const drained = await drainLog(deps, productId).catch((err: Error) => {
    deps.logger.warn({ productId, err: err.message }, 'audit: the log in Redis could not be drained; auditing what MySQL has');
    return 0;
  });
  const [events, ledger, refusals] = await Promise.all([
    deps.events.ofProduct(productId), deps.events.ledgerFacts(productId), deps.events.refusals(productId),
  ]);
  const seed = product.lotterySeed ?? null;
  const drawn = seed !== null && !!product.opensAt && product.opensAt.getTime() <= Date.now();
  const verdict = replay(events, { commitment: seed ? commitmentOf(seed) : null, seed: drawn ? seed : null }, ledger);
  return { productId, ...verdict, refusals, drained, tookMs: Date.now() - started };
}

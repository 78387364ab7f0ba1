import type { Deps } from '../../deps.ts';

/** Ids tried past the next one; with three masters one in three lands on each. */
const CANDIDATES = 24;

/**
 * Placement of a new drop on a Redis Cluster. Every key of a drop carries the hash tag
 * `p:<id>`, so its id decides its shard: the new drop takes the first free id whose slot
 * lives on the master with the fewest drops still selling (loaded reserve products with
 * units available), so hot drops spread over the shards instead of piling onto one. The
 * id is the record of the placement: keys never need a lookup to find their shard.
 * Returns the ids to try, best first (the caller inserts with the first one free); null
 * on one Redis, where MySQL numbers products itself.
 */
export async function placementIds(deps: Pick<Deps, 'productState' | 'products'>): Promise<number[] | null> {
  const next = await deps.products.nextId();
  const candidates = Array.from({ length: CANDIDATES }, (_, i) => next + i);
  const ids = await deps.productState.registered();
  const read = await deps.productState.fields(ids, ['type', 'available']);
  const selling = ids.filter((_, i) => read[i].values[0] === 'reserve' && Number(read[i].values[1] ?? 0) > 0);
  const shards = await deps.productState.shards([...selling, ...candidates]);
  if (!shards) return null;
  const load = new Map(shards.masters.map((m) => [m, 0]));
  for (const owner of shards.owners.slice(0, selling.length)) load.set(owner, (load.get(owner) ?? 0) + 1);
  const rank = (owner: string) => load.get(owner) ?? Infinity;
  const owners = shards.owners.slice(selling.length);
  // Least-loaded master first; among ids on equally loaded masters, the lowest.
  return candidates.map((id, i) => ({ id, load: rank(owners[i]) })).sort((a, b) => a.load - b.load || a.id - b.id).map((c) => c.id);
}

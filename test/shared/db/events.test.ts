import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, type TestContext } from '../../setup/context.ts';
import { EventsRepository, type EventRow } from '../../../shared/db/events.repository.ts';

/**
 * The event log's rows in MySQL, written in bulk (one `values ?` mysql2 expands): every
 * value must come back exactly as it went in, whatever characters it holds, and a
 * repeated drain must leave the rows MySQL already has as they are.
 */
describe('the drop log in MySQL', () => {
  let ctx: TestContext;
  let events: EventsRepository;
  beforeAll(async () => {
    ctx = await createTestContext('events-repo');
    events = new EventsRepository(ctx.deps.orm);
  });
  afterAll(async () => {
    await ctx.close();
  });

  const row = (n: number, extra: Partial<EventRow> = {}): EventRow => ({
    id: `${1_764_000_000_000 + n}-${n % 3}`, type: 'admitted', ticketId: `t${n}`, userId: `u-${n}`, qty: 1 + (n % 4),
    orderKey: String(n), extra: 'pm_card_ok', hash: 'a'.repeat(40), ...extra,
  });

  it('keeps values that need escaping exactly, in log order', async () => {
    const awkward = ["it's", 'back\\slash', 'a "quote"', '? and ??', 'tab\tnew\nline\r', 'nul\0byte', 'ctrl-z\x1a', 'ünï©ødé 🎟', "'); drop table drop_events; --", ''];
    const rows = awkward.map((extra, i) => row(i, { extra, userId: `u.${i}@x|y+z-` }));
    await events.insert(901, rows);
    expect(await events.ofProduct(901)).toEqual(rows);
  });

  it('leaves rows MySQL already has as they are on a repeated drain, and adds the new ones', async () => {
    const first = Array.from({ length: 5 }, (_, i) => row(100 + i));
    await events.insert(902, first);
    const again = [...first.map((e) => ({ ...e, extra: 'changed' })), row(105), row(106)];
    await events.insert(902, again);
    expect(await events.ofProduct(902)).toEqual([...first, row(105), row(106)]);
  });

  it('writes a drain of 2,000 events', async () => {
    const rows = Array.from({ length: 2_000 }, (_, i) => row(1_000 + i, { extra: i % 2 ? "o'k" : 'pm_card_ok' }));
    await events.insert(903, rows);
    const stored = await events.ofProduct(903);
    expect(stored).toHaveLength(2_000);
    expect(stored).toEqual(rows); // ids grow with n: the rows are in log order already
  });

  it('writes nothing for no events', async () => {
    await events.insert(904, []);
    expect(await events.ofProduct(904)).toEqual([]);
  });
});


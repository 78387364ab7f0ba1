import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { createDrop, createTestContext, pollUntilTerminal, type TestContext } from '../setup/context.ts';
import { buyAll, expectAuditOk } from '../setup/buyers.ts';

/**
 * The audit against a tampered record: a real drop's log in MySQL with one event changed
 * or removed fails, through the admin route and `npm run audit` alike; put back, it passes.
 */
let ctx: TestContext;
let dropId: number;
beforeAll(async () => {
  ctx = await createTestContext('e2e-audit', {}, { role: 'producer' });
  await ctx.startWorkers();
  const drop = await createDrop(ctx, 6, { queueOpensAt: new Date(Date.now() - 500).toISOString(), opensAt: new Date(Date.now() + 1_500).toISOString() });
  dropId = drop.id;
  const pre = await buyAll(ctx, drop.id, Array.from({ length: 12 }, (_, i) => ({ userId: `a-${i}`, paymentMethod: i % 4 === 0 ? 'pm_card_declined' : 'pm_card_ok' })));
  await new Promise((r) => setTimeout(r, 1_600));
  const post = await buyAll(ctx, drop.id, Array.from({ length: 8 }, (_, i) => ({ userId: `b-${i}` })));
  const tickets = [...pre, ...post].filter((a) => a.ticketId).map((a) => ({ ticketId: a.ticketId!, token: a.token }));
  await pollUntilTerminal(ctx, tickets, 60_000);
  // Every event is in MySQL before the log is tampered with.
  await expectAuditOk(ctx, drop.id);
});
afterAll(async () => {
  await ctx.close();
});

type Row = { event_ms: string; event_seq: number; type: string; ticket_id: string; user_id: string; qty: number };
const sql = <T>(query: string, params: unknown[] = []) => ctx.deps.orm.em.getConnection().execute(query, params) as Promise<T>;
const audit = async () => (await ctx.http('GET', `/admin/products/${dropId}/audit`, { admin: true })).body;
const codes = (verdict: { violations: { code: string }[] }) => [...new Set(verdict.violations.map((v) => v.code))].sort();

/** `npm run audit -- <id>` against the test's database: its exit code and output. */
function cli(): { status: number | null; out: string } {
  const run = spawnSync(process.execPath, ['scripts/audit.ts', String(dropId)], {
    env: { ...process.env, ...ctx.env, NODE_OPTIONS: '' }, encoding: 'utf8', timeout: 60_000,
  });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

describe('the audit of a drop whose record was tampered with', () => {
  it('passes the drop as it happened, from the route and the command', async () => {
    const verdict = await audit();
    expect({ ok: verdict.ok, preQueued: verdict.tickets.preQueued, verified: verdict.lottery.verified }).toEqual({ ok: true, preQueued: 12, verified: true });
    const run = cli();
    expect(run.out).toContain('verdict: OK');
    expect(run.status).toBe(0);
  });

  it('fails when one event is changed, and passes again once it is put back', async () => {
    const [paid] = await sql<Row[]>(`select * from drop_events where product_id = ? and type = 'paid' order by event_ms limit 1`, [dropId]);
    const where = 'product_id = ? and event_ms = ? and event_seq = ?';
    const key = [dropId, paid.event_ms, paid.event_seq];
    // The sale moved to another buyer: the fields still add up, only the chain tells.
    await sql(`update drop_events set user_id = 'mallory' where ${where}`, key);
    try {
      expect(codes(await audit())).toEqual(['chain_broken']);
      const run = cli();
      expect(run.status).toBe(1);
      expect(run.out).toContain('VIOLATION chain_broken');
    } finally {
      await sql(`update drop_events set user_id = ? where ${where}`, [paid.user_id, ...key]);
    }
    expect((await audit()).ok).toBe(true);
  });

  it('fails when one event is removed, and passes again once it is put back', async () => {
    const [reserved] = await sql<Record<string, unknown>[]>(`select * from drop_events where product_id = ? and type = 'reserved' order by event_ms desc limit 1`, [dropId]);
    await sql('delete from drop_events where product_id = ? and event_ms = ? and event_seq = ?', [dropId, reserved.event_ms, reserved.event_seq]);
    try {
      const verdict = await audit();
      expect(verdict.ok).toBe(false);
      expect(codes(verdict)).toContain('chain_broken');
      expect(cli().status).toBe(1);
    } finally {
      const cols = Object.keys(reserved);
      await sql(`insert into drop_events (${cols.join(', ')}) values (${cols.map(() => '?').join(', ')})`, Object.values(reserved));
    }
    expect((await audit()).ok).toBe(true);
  });

  it('fails a seed that is not the one committed to', async () => {
    const [{ lottery_seed: seed }] = await sql<{ lottery_seed: string }[]>('select lottery_seed from products where id = ?', [dropId]);
    const other = [...seed].reverse().join('');
    await sql('update products set lottery_seed = ? where id = ?', [other, dropId]);
    try {
      const run = cli();
      expect(run.status).toBe(1);
      expect(run.out).toMatch(/VIOLATION (commitment_mismatch|commitment_changed)/);
    } finally {
      await sql('update products set lottery_seed = ? where id = ?', [seed, dropId]);
    }
  });
});

import type { TestContext } from './context.ts';

export type Buyer = { userId: string; paymentMethod?: string; quantity?: number };
export type Bought = { userId: string; token: string; status: number; ticketId?: string; body: any };

/** Sends one purchase per buyer, `concurrency` at a time; returns every answer. */
export async function buyAll(ctx: TestContext, productId: number, buyers: Buyer[], concurrency = 100): Promise<Bought[]> {
  const out: Bought[] = [];
  for (let i = 0; i < buyers.length; i += concurrency) {
    const batch = await Promise.all(
      buyers.slice(i, i + concurrency).map(async (b) => {
        const token = await ctx.token(b.userId);
        const res = await ctx.http('POST', `/products/${productId}/purchases`, {
          token,
          body: { quantity: b.quantity ?? 1, paymentMethod: b.paymentMethod ?? 'pm_card_ok' },
        });
        return { userId: b.userId, token, status: res.status, ticketId: res.body?.ticketId, body: res.body };
      }),
    );
    out.push(...batch);
  }
  return out;
}

/** The MySQL ledger of a product: orders by status (units and count) and payments by status. */
export async function ledger(ctx: TestContext, productId: number) {
  const conn = ctx.deps.orm.em.getConnection();
  const orders: { status: string; units: string; n: string }[] = await conn.execute(
    'select status, sum(quantity) as units, count(*) as n from orders where product_id = ? group by status',
    [productId],
  );
  const payments: { status: string; n: string }[] = await conn.execute(
    `select p.status, count(*) as n from payments p join orders o on o.ticket_id = p.ticket_id
     where o.product_id = ? group by p.status`,
    [productId],
  );
  const units = (s: string) => Number(orders.find((o) => o.status === s)?.units ?? 0);
  const count = (s: string) => Number(orders.find((o) => o.status === s)?.n ?? 0);
  const pay = (s: string) => Number(payments.find((p) => p.status === s)?.n ?? 0);
  return {
    paidUnits: units('paid'),
    paidOrders: count('paid'),
    pendingOrders: count('pending'),
    failedOrders: count('failed'),
    expiredOrders: count('expired'),
    payments: { succeeded: pay('succeeded'), declined: pay('declined'), refunded: pay('refunded') },
  };
}

/**
 * The ledger once every order row has caught up: a worker settles the row just after Redis
 * decides the ticket's end, so a test that saw every ticket terminal waits for the rows.
 */
export async function settledLedger(ctx: TestContext, productId: number, timeoutMs = 10_000) {
  await eventually('every order row settled', async () => (await ledger(ctx, productId)).pendingOrders === 0, timeoutMs);
  return ledger(ctx, productId);
}

/** What the simulated provider did: tickets charged, refunded, and calls per ticket. */
export async function providerLedger(ctx: TestContext) {
  const prefix = `${ctx.config.KEY_PREFIX}:{sim}`;
  const [charges, refunds, calls] = await Promise.all([
    ctx.deps.providerRedis.hgetall(`${prefix}:charges`),
    ctx.deps.providerRedis.hgetall(`${prefix}:refunds`),
    ctx.deps.providerRedis.hgetall(`${prefix}:calls`),
  ]);
  return { charges, refunds, calls };
}

export async function stats(ctx: TestContext, productId: number) {
  const res = await ctx.http('GET', `/admin/products/${productId}/stats`, { admin: true });
  if (res.status !== 200) throw new Error(`stats: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Waits until `check` returns true (polling), or throws with `what` after the deadline. */
export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

/**
 * The drop's event log replays to the same outcome (docs/event-log.md): the audit finds no
 * violation. Returns the verdict for more checks.
 */
export async function expectAuditOk(ctx: TestContext, productId: number) {
  const until = Date.now() + 10_000;
  for (;;) {
    const res = await ctx.http('GET', `/admin/products/${productId}/audit`, { admin: true });
    if (res.status !== 200) throw new Error(`audit: ${res.status} ${JSON.stringify(res.body)}`);
    const { ok, violations } = res.body as { ok: boolean; violations: { code: string }[] };
    if (ok && violations.length === 0) return res.body;
    // A ticket is paid in Redis a moment before its order is in MySQL: only that lag is waited out.
    const lagOnly = violations.every((v) => v.code === 'ledger_mismatch');
    if (!lagOnly || Date.now() > until) throw new Error(`audit of drop ${productId} found violations: ${JSON.stringify(violations.slice(0, 10), null, 2)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

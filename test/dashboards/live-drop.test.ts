import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { chromiumPath } from '../../scripts/browser.ts';
import { ADMIN, createDrop, createTestContext, type TestContext } from '../setup/context.ts';

/**
 * The operator's pages in headless Chromium (scripts/browser.ts finds it) during a running drop:
 * buyers arrive at a steady pace while the dashboard is watched and steered.
 */
/** `UPDATE_SCREENSHOT=1 npm test` refreshes the README's picture; otherwise it goes to test-results/. */
const SCREENSHOT = new URL(
  process.env.UPDATE_SCREENSHOT ? '../../docs/dashboard.png' : '../../test-results/dashboard.png',
  import.meta.url,
);

let ctx: TestContext;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let drop: { id: number };
let upcoming: { id: number };
const external: string[] = [];
let traffic: { stop(): Promise<void> };

/** Buyers at `perSecond`, one request each, some with a card that is declined. */
function startTraffic(productId: number, perSecond: number, buyers: number) {
  let stopped = false;
  const inFlight = new Set<Promise<unknown>>();
  const run = (async () => {
    for (let i = 0; i < buyers && !stopped; i++) {
      const paymentMethod = i % 11 === 7 ? 'pm_card_declined' : 'pm_card_ok';
      const p = ctx.token(`browser-buyer-${i}`)
        .then((token) => ctx.http('POST', `/products/${productId}/purchases`, { token, body: { paymentMethod } }))
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
      await new Promise((r) => setTimeout(r, 1000 / perSecond));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await run;
      await Promise.allSettled([...inFlight]);
    },
  };
}

const card = (id: number) => page.locator(`[data-product-id="${id}"]`);
const number = async (id: number, selector: string) =>
  Number(((await card(id).locator(selector).first().textContent()) ?? '').replace(/[^0-9]/g, '').replace(/^$/, 'NaN'));

/** Polls `read` until `ok` holds (or fails after `ms`). */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await read();
  while (!ok(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    value = await read();
  }
  return value;
}

beforeAll(async () => {
  // Slow enough payments that units are visibly held while the drop runs.
  ctx = await createTestContext('live_drop', { PAYMENT_LATENCY_MS: '1500' });
  await ctx.startWorkers();
  drop = await createDrop(ctx, 600, { name: "Air Max Day '26 — Volt", price: 160 });
  await ctx.http('PUT', `/admin/products/${drop.id}/rate`, { admin: true, body: { perSecond: 20 } });
  upcoming = await createDrop(ctx, 250, {
    name: 'Retro Runner — Cobalt', price: 180, opensAt: new Date(Date.now() + 15 * 60_000).toISOString(), queueOpensAt: new Date(Date.now() - 60_000).toISOString(),
  });
  for (const user of ['early-1', 'early-2', 'early-3']) await ctx.http('POST', `/products/${upcoming.id}/purchases`, { token: await ctx.token(user), body: {} });
  await ctx.http('POST', '/admin/products', { admin: true, body: { name: 'Everyday crew socks (3-pack)', price: 14, type: 'general', stock: 5000 } });

  browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    httpCredentials: { username: ADMIN.user, password: ADMIN.password },
  });
  // Nothing may leave the box: any request elsewhere is recorded and refused.
  await context.route((url) => !url.href.startsWith(ctx.baseUrl), (route) => {
    external.push(route.request().url());
    return route.abort();
  });
  page = await context.newPage();
  traffic = startTraffic(drop.id, 45, 2000);
});

afterAll(async () => {
  await traffic?.stop();
  await browser?.close();
  await ctx?.close();
});

describe('the live drop dashboard', () => {
  it('shows the running drop with its numbers changing, and takes the README screenshot', async () => {
    await page.goto(`${ctx.baseUrl}/admin/dashboard`);
    const opened = Date.now();
    await card(drop.id).waitFor();
    await until(() => page.locator('#conn').getAttribute('data-state'), (s) => s === 'live');
    const firstAdmitted = await until(() => number(drop.id, '.outcomes h3 b'), (n) => n > 0);
    const firstSold = await number(drop.id, '[data-stock="sold"] dd .v');

    const admitted = await until(() => number(drop.id, '.outcomes h3 b'), (n) => n > firstAdmitted + 20);
    expect(admitted).toBeGreaterThan(firstAdmitted + 20);
    const sold = await until(() => number(drop.id, '[data-stock="sold"] dd .v'), (n) => n > firstSold);
    expect(sold).toBeGreaterThan(firstSold);
    expect(await card(drop.id).locator('.pill').getAttribute('data-state')).toBe('live');
    expect(await card(drop.id).locator('.card__meta').textContent()).toContain(`#${drop.id}`);

    // Let the charts gather some history, then keep the picture for the README.
    await page.waitForTimeout(Math.max(0, 26_000 - (Date.now() - opened)));
    mkdirSync(new URL('.', SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT.pathname });
    expect(external).toEqual([]);
  });

  it('shows a pre-queue with its size, and the ETA of the last ticket in line', async () => {
    const c = card(upcoming.id);
    await until(() => c.locator('.pill').textContent(), (t) => !!t?.startsWith('Pre-queue open'));
    expect(await c.locator('.card__meta').textContent()).toContain('pre-queue 3 (draw at opensAt)');
    // Three tickets behind a draw 15 minutes away: the last is served in about 15 minutes.
    expect(await c.locator('[data-role="jobs"]').textContent()).toMatch(/last in line served in ≈ 1[45] min/);
  });

  it('pauses admission with its Pause button (503 paused) and resumes it', async () => {
    await traffic.stop();
    await card(drop.id).locator('button[data-action="pause"]').click();
    await until(() => card(drop.id).locator('.pill').getAttribute('data-state'), (s) => s === 'paused', 5000);
    expect(await card(drop.id).locator('.pill').getAttribute('data-state')).toBe('paused');
    expect((await ctx.http('GET', `/admin/products/${drop.id}/stats`, { admin: true })).body.paused).toBe(true);

    const token = await ctx.token('late-buyer');
    const refused = await ctx.http('POST', `/products/${drop.id}/purchases`, { token, body: {} });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('paused');

    await card(drop.id).locator('button[data-action="resume"]').click();
    await until(() => card(drop.id).locator('.pill').getAttribute('data-state'), (s) => s !== 'paused', 5000);
    expect((await ctx.http('GET', `/admin/products/${drop.id}/stats`, { admin: true })).body.paused).toBe(false);
    expect((await ctx.http('POST', `/products/${drop.id}/purchases`, { token, body: {} })).status).toBe(202);
  });

  it('changes the admission rate from the page', async () => {
    const form = card(drop.id).locator('form.rate');
    await form.locator('input').fill('40');
    await form.locator('button[type="submit"]').click();
    const rate = await until(
      async () => (await ctx.http('GET', `/admin/products/${drop.id}/stats`, { admin: true })).body.ratePerSecond,
      (r) => r === 40, 5000,
    );
    expect(rate).toBe(40);
  });

  it('is behind the admin credentials', async () => {
    const anonymous = await browser.newContext();
    for (const path of ['/admin/dashboard', '/admin/dashboard/events', '/admin/queues']) {
      const res = await anonymous.request.get(`${ctx.baseUrl}${path}`);
      expect(res.status()).toBe(401);
      expect(res.headers()['www-authenticate']).toMatch(/^Basic /);
    }
    await anonymous.close();
  });
});

describe('Bull Board', () => {
  it('lists every queue, including one of a drop created after the page was opened', async () => {
    await page.goto(`${ctx.baseUrl}/admin/queues`);
    for (const name of ['general', `payment-${drop.id}`, 'payment-general', 'expiry', `reserve-${drop.id}`]) {
      await page.getByRole('link', { name, exact: true }).first().waitFor({ timeout: 15_000 });
    }
    const later = await createDrop(ctx, 5, { name: 'Late drop' });
    await page.waitForTimeout(1100);
    await page.reload();
    await page.getByRole('link', { name: `reserve-${later.id}`, exact: true }).first().waitFor({ timeout: 15_000 });
  });
});

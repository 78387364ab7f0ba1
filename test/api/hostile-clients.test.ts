import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { gzipSync } from 'node:zlib';
import { createDrop, createTestContext, pollUntilTerminal, type TestContext } from '../setup/context.ts';
import { buyAll, eventually, ledger, stats } from '../setup/buyers.ts';
import { head, rawRequest, request, sendAndHangUp, sendAndStall } from '../setup/raw-http.ts';

/**
 * Clients that behave as a drop's real traffic does, on raw sockets against a listening
 * server: they hang up with requests in flight, send half a body, stall. None of them may
 * hold the drop lane (4 places here, so a handful of leaks would wedge it) or anything
 * else shared beyond a bounded, timed-out share; afterwards the door answers at once and
 * a 10x rush still sells every unit exactly once.
 */
let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('hostile', {
    API_DROP_CONCURRENCY: '4',
    HTTP_REQUEST_TIMEOUT_MS: '6000',
    HTTP_HEADERS_TIMEOUT_MS: '3000',
  }, { role: 'producer' });
  await ctx.startWorkers();
});
afterAll(async () => {
  await ctx.close();
});

const BODY = JSON.stringify({ quantity: 1, paymentMethod: 'pm_card_ok' });
let users = 0;
const token = () => ctx.token(`hostile-${++users}`);
const purchase = async (productId: number, extra: Record<string, string | number> = {}, body: string | Buffer = BODY) =>
  request('POST', `/products/${productId}/purchases`, { Authorization: `Bearer ${await token()}`, 'Content-Type': 'application/json', ...extra }, body);

/** A well-behaved buyer must get a ticket promptly (a wedged lane never answers at all). */
async function expectDoorOpen(productId: number) {
  const res = await rawRequest(ctx.baseUrl, await purchase(productId), { timeoutMs: 3_000 });
  expect(res.status).toBe(202);
  const poll = await rawRequest(ctx.baseUrl, head('GET', `/tickets/${res.body.ticketId}`, { Authorization: `Bearer ${await ctx.token(`hostile-${users}`)}` }),
    { timeoutMs: 3_000 });
  expect(poll.status).toBe(200);
}

/** The lane's gauges, the requests in flight and the purchases answered so far (any outcome), from /metrics. */
async function gauges() {
  const text = (await ctx.http('GET', '/metrics')).body as string;
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const purchases = [...text.matchAll(/^drop_purchase_requests_total\{[^}]*\} (\S+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  return { laneInFlight: value('drop_api_lane_in_flight'), laneQueued: value('drop_api_lane_queued'),
    requests: value('drop_http_requests_in_flight'), purchases };
}

/**
 * Every lane place given back and every request settled (but the /metrics one asking):
 * no reader left hanging. `purchases`: how many purchases must have been answered by
 * then, so the check cannot pass before the server has even read the hostile requests.
 */
const expectSettled = (purchases: number) => eventually('every lane place given back and every request settled', async () => {
  const g = await gauges();
  return g.laneInFlight === 0 && g.laneQueued === 0 && g.requests === 1 && g.purchases >= purchases;
}, 10_000);
const answered = async () => (await gauges()).purchases;

describe('clients that misbehave cannot wedge the door', () => {
  it('gives back every place of purchases whose sockets close right after sending', async () => {
    const drop = await createDrop(ctx, 1_000_000);
    const before = await answered();
    const requests = await Promise.all(Array.from({ length: 300 }, () => purchase(drop.id)));
    await Promise.all(requests.map((bytes) => sendAndHangUp(ctx.baseUrl, bytes)));
    await expectSettled(before + 300);
    await expectDoorOpen(drop.id);
  });

  it('gives back the places of pipelined purchases on keep-alive sockets that close with answers unread', async () => {
    const drop = await createDrop(ctx, 1_000_000);
    const before = await answered();
    await Promise.all(Array.from({ length: 40 }, async () => {
      const burst = Buffer.concat(await Promise.all(Array.from({ length: 5 }, () => purchase(drop.id, { Connection: 'keep-alive' }))));
      await sendAndHangUp(ctx.baseUrl, burst);
    }));
    // Pipelined requests after the first may be lost with the connection: at least one of each burst is read.
    await expectSettled(before + 40);
    await expectDoorOpen(drop.id);
  });

  it('answers nothing to half-sent bodies, plain or gzip, and keeps no place for them', async () => {
    const drop = await createDrop(ctx, 1_000_000);
    const gz = gzipSync(Buffer.from(BODY));
    const before = await answered();
    await Promise.all([
      ...Array.from({ length: 100 }, async () => sendAndHangUp(ctx.baseUrl, (await purchase(drop.id, { 'Content-Length': 200 }, BODY.slice(0, 10))))),
      ...Array.from({ length: 50 }, async () =>
        sendAndHangUp(ctx.baseUrl, await purchase(drop.id, { 'Content-Encoding': 'gzip', 'Content-Length': gz.length }, gz.subarray(0, 8)))),
      ...Array.from({ length: 50 }, async () =>
        sendAndHangUp(ctx.baseUrl, await purchase(drop.id, { 'Transfer-Encoding': 'chunked' }, '5\r\n{"qua'))),
    ]);
    await expectSettled(before + 200);
    await expectDoorOpen(drop.id);
    // None of them bought anything (a cut-off body is not an empty one): one ticket, the prompt buyer's.
    const tickets: Record<string, number> = (await stats(ctx, drop.id)).tickets;
    expect(Object.values(tickets).reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('serves buyers while others stall mid-body or after their headers, then cuts the stalled ones off', async () => {
    const drop = await createDrop(ctx, 1_000_000);
    const stalled = await Promise.all([
      ...Array.from({ length: 50 }, async () => sendAndStall(ctx.baseUrl, await purchase(drop.id, { 'Content-Length': 200 }, BODY.slice(0, 10)))),
      ...Array.from({ length: 50 }, async () =>
        sendAndStall(ctx.baseUrl, head('POST', `/products/${drop.id}/purchases`, {
          Authorization: `Bearer ${await token()}`, 'Content-Type': 'application/json', 'Content-Length': 30 }))),
      // Slow headers: the request line and one header, then nothing.
      ...Array.from({ length: 20 }, () => sendAndStall(ctx.baseUrl, `POST /products/${drop.id}/purchases HTTP/1.1\r\nHost: x\r\n`)),
      // Connections opened and never used: closed without an answer (there was no request).
      ...Array.from({ length: 20 }, () => sendAndStall(ctx.baseUrl, '')),
    ]);
    await expectDoorOpen(drop.id);
    // HTTP_REQUEST_TIMEOUT_MS / HTTP_HEADERS_TIMEOUT_MS: the server closes every one of them.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<string>((r) => (timer = setTimeout(() => r('still open'), 15_000)));
    const answers = await Promise.all(stalled.map((s) => Promise.race([s.closedByServer, deadline])));
    clearTimeout(timer);
    stalled.forEach((s) => s.destroy());
    await expectSettled(0);
    expect(answers.filter((a) => a === 'still open')).toHaveLength(0);
    expect(answers.filter((a) => a === '')).toHaveLength(20);
    for (const a of answers.filter(Boolean)) expect(a).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n[^]*"code":"request_timeout"/);
  });

  it('then sells a 10x rush exactly, with hang-ups still arriving during it', async () => {
    const STOCK = 30;
    const drop = await createDrop(ctx, STOCK);
    const noise = (async () => {
      const bytes = await Promise.all(Array.from({ length: 200 }, () => purchase(drop.id)));
      await Promise.all(bytes.map((b) => sendAndHangUp(ctx.baseUrl, b)));
    })();
    const answers = await buyAll(ctx, drop.id, Array.from({ length: STOCK * 10 }, (_, i) => ({ userId: `rush-${i}` })));
    await noise;
    expect(answers.filter((a) => a.status >= 500)).toHaveLength(0);
    const tickets = answers.filter((a) => a.status === 202).map((a) => ({ ticketId: a.ticketId!, token: a.token }));
    const final = await pollUntilTerminal(ctx, tickets);
    expect(final.size).toBe(tickets.length);
    await eventually('the hang-ups\' tickets end too', async () => {
      const s = await stats(ctx, drop.id);
      return s.tickets.queued === 0 && s.tickets.reserved === 0;
    });
    const s = await stats(ctx, drop.id);
    expect(s.stock).toEqual({ total: STOCK, available: 0, reserved: 0, sold: STOCK });
    expect(s.tickets.paid).toBe(STOCK);
    const l = await ledger(ctx, drop.id);
    expect(l.paidUnits).toBe(STOCK);
    expect(l.paidOrders).toBe(STOCK);
    await expectSettled(0);
  });
});

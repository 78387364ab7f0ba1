import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, type TestContext } from '../setup/context.ts';
import { badTokens } from '../setup/drop-helpers.ts';
import { openSocket, rawRequest, request, type RawResponse } from '../setup/raw-http.ts';

/**
 * The purchase door (api/purchase-door.ts) answers drop purchases without Koa. Whatever a
 * client sends, it must answer exactly as the Koa route does: every request below goes
 * once in the door's shape and once with a query string (which the door leaves to Koa,
 * and the route ignores), each from a buyer of its own, and the two answers must agree in
 * status, error, headers and the ticket's shape. The door must take only its shape.
 */
let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('door', { USER_RATE_LIMIT_PER_SEC: '3' });
});
afterAll(async () => {
  await ctx.close();
});

let users = 0;
const VALID = JSON.stringify({ quantity: 1, paymentMethod: 'pm_card_ok' });

type Send = { body?: string | Buffer; headers?: Record<string, string | number>; user?: string; token?: string | null };

async function send(productId: number, via: 'door' | 'koa', o: Send = {}): Promise<RawResponse> {
  const user = o.user ?? `door-${++users}`;
  const token = o.token === undefined ? await ctx.token(user) : o.token;
  const headers: Record<string, string | number> = {
    ...(token !== null && { Authorization: `Bearer ${token}` }),
    'Content-Type': 'application/json',
    ...o.headers,
  };
  for (const [k, v] of Object.entries(headers)) if (v === '') delete headers[k];
  const path = `/products/${productId}/purchases${via === 'koa' ? '?via=koa' : ''}`;
  return rawRequest(ctx.baseUrl, request('POST', path, headers, o.body ?? VALID));
}

/** What must agree between the two answers (times and ids aside). */
function shape(r: RawResponse) {
  const error = r.body?.error;
  return {
    status: r.status,
    error: error ? { ...error, ...('serverTime' in error && { serverTime: 'T' }), ...('opensAt' in error && { opensAt: 'T' }) } : null,
    ticket: error ? null : { keys: Object.keys(r.body ?? {}).sort(), status: r.body?.status },
    contentType: r.headers['content-type'],
    location: r.headers.location?.replace(/\/tickets\/.+$/, '/tickets/ID') ?? null,
    retryAfter: r.headers['retry-after'] ?? null,
    wwwAuthenticate: r.headers['www-authenticate'] ?? null,
    connection: r.headers.connection ?? null,
    requestId: /^[A-Za-z0-9._-]{1,64}$/.test(r.headers['x-request-id'] ?? '') ? (r.headers['x-request-id'].length === 16 ? 'new' : r.headers['x-request-id']) : null,
  };
}

async function expectSame(productId: number, o: Send = {}) {
  const door = await send(productId, 'door', o.user ? { ...o, user: `${o.user}-d` } : o);
  const koa = await send(productId, 'koa', o.user ? { ...o, user: `${o.user}-k` } : o);
  expect(shape(door)).toEqual(shape(koa));
  return door;
}

describe('the purchase door', () => {
  it('takes only purchases of a drop in its own shape', async () => {
    const drop = await createDrop(ctx, 1000);
    const general = (await ctx.http('POST', '/admin/products', {
      admin: true, body: { name: 'Socks', price: 5, type: 'general', stock: 100 },
    })).body;
    const before = ctx.app.door.taken;
    expect((await send(drop.id, 'door')).status).toBe(202);
    expect(ctx.app.door.taken).toBe(before + 1);
    const declined: [string, Send][] = [
      ['a query string', {}],
      ['no body', { body: '' , headers: { 'Content-Length': 0 } }],
      ['a form body', { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }],
      ['a +json type', { headers: { 'Content-Type': 'application/merge-patch+json' } }],
      ['gzip', { headers: { 'Content-Encoding': 'gzip' } }],
      ['chunked', { body: `${VALID.length.toString(16)}\r\n${VALID}\r\n0\r\n\r\n`, headers: { 'Transfer-Encoding': 'chunked' } }],
      ['a body over the limit', { body: ' '.repeat(16 * 1024 + 1) }],
    ];
    for (const [name, o] of declined) {
      const via = name === 'a query string' ? 'koa' : 'door';
      await send(drop.id, via, o);
      expect({ name, taken: ctx.app.door.taken }).toEqual({ name, taken: before + 1 });
    }
    for (const path of [`/products/${drop.id}/purchases/`, `/Products/${drop.id}/purchases`, `/products/0${drop.id}/purchases`,
      `//products/${drop.id}/purchases`, `/products/${general.id}/purchases`, '/products/999999/purchases']) {
      const res = await rawRequest(ctx.baseUrl, request('POST', path, { Authorization: `Bearer ${await ctx.token('door-paths')}`, 'Content-Type': 'application/json' }, VALID));
      expect({ path, taken: ctx.app.door.taken, failed: res.status >= 500 }).toEqual({ path, taken: before + 1, failed: false });
    }
  });

  it('answers every body as the Koa route does', async () => {
    const drop = await createDrop(ctx, 1000, { perUserLimit: 1 });
    const bodies = [
      VALID, '{}', '{"quantity":0}', '{"quantity":101}', '{"quantity":"1"}', '{"quantity":1.5}', '{"quantity":null}', '{"quantity":2}',
      '{"quantity":1e400}', '{"paymentMethod":"PM_CARD"}', '{"paymentMethod":""}', '{"paymentMethod":5}', '{"quantity":1,"extra":true}',
      '{"__proto__":{"quantity":5}}', '{"quantity":1,"quantity":2}', '[]', '[1]', '"x"', 'null', '1', 'true', '{bad', '{"quantity":1',
      '{"quantity":1}garbage', '   ', '\n', '\uFEFF{"quantity":1}', '{"paymentMethod":"pm_\u00fc"}', `${' '.repeat(16_000)}{}`,
      '\u0000', Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
    ];
    for (const body of bodies) await expectSame(drop.id, { body });
    for (const type of ['application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json;charset=UTF-8', 'application/json; charset=latin1',
      'text/plain', 'application/x-www-form-urlencoded', '']) {
      await expectSame(drop.id, { headers: { 'Content-Type': type } });
    }
  });

  it('answers every token as the Koa route does, 401 with its challenge', async () => {
    const drop = await createDrop(ctx, 1000);
    for (const [name, token] of Object.entries(await badTokens(ctx))) {
      const res = await expectSame(drop.id, { token: token ?? null });
      expect({ name, status: res.status }).toEqual({ name, status: 401 });
    }
    await expectSame(drop.id, { headers: { Authorization: 'Basic YWRtaW46eA==' }, token: null });
    await expectSame(drop.id, { headers: { Authorization: 'bearer x.y.z' }, token: null });
    for (const scheme of ['bearer', 'BEARER', 'Bearer  ']) {
      const [door, koa] = await Promise.all((['door', 'koa'] as const).map(async (via) =>
        send(drop.id, via, { token: null, headers: { Authorization: `${scheme} ${await ctx.token(`door-scheme-${via}-${scheme.trim()}`)}` } })));
      expect(shape(door)).toEqual(shape(koa));
      expect({ scheme, status: door.status }).toEqual({ scheme, status: 202 });
    }
  });

  it('answers request ids, idempotency keys and repeats as the Koa route does', async () => {
    const drop = await createDrop(ctx, 1000);
    for (const id of ['req-123', 'a'.repeat(64), 'a'.repeat(65), 'bad id', '../x']) await expectSame(drop.id, { headers: { 'X-Request-Id': id } });
    for (const key of ['k-1', 'x'.repeat(128), 'x'.repeat(129), 'k\u00e9y']) await expectSame(drop.id, { headers: { 'Idempotency-Key': key } });
    // The same buyer again: the first ticket, 200, whichever way each request came in.
    for (const [first, again] of [['door', 'koa'], ['koa', 'door'], ['door', 'door']] as const) {
      const user = `door-repeat-${first}-${again}`;
      const a = await send(drop.id, first, { user, headers: { 'Idempotency-Key': 'same' } });
      const b = await send(drop.id, again, { user, headers: { 'Idempotency-Key': 'same' } });
      const c = await send(drop.id, again, { user });
      expect([a.status, b.status, c.status]).toEqual([202, 200, 200]);
      expect([b.body.ticketId, c.body.ticketId]).toEqual([a.body.ticketId, a.body.ticketId]);
      expect(b.headers.location).toBe(`/tickets/${a.body.ticketId}`);
    }
  });

  it('answers a drop not open, paused, or hammered by one buyer as the Koa route does', async () => {
    const later = await createDrop(ctx, 10, { opensAt: new Date(Date.now() + 3_600_000).toISOString() });
    const res = await expectSame(later.id);
    expect(res.body.error.code).toBe('not_open');
    // Four requests in a second from one buyer: the fourth is 429 with Retry-After, either way.
    const door = [];
    const koa = [];
    for (let i = 0; i < 4; i++) door.push(shape(await send(later.id, 'door', { user: 'door-hammer-d' })));
    for (let i = 0; i < 4; i++) koa.push(shape(await send(later.id, 'koa', { user: 'door-hammer-k' })));
    expect(door).toEqual(koa);
    expect(door.map((r) => r.status)).toEqual([409, 409, 409, 429]);
    const paused = await createDrop(ctx, 10);
    await ctx.http('POST', `/admin/products/${paused.id}/pause`, { admin: true });
    expect((await expectSame(paused.id)).status).toBe(503);
  });

  it('reads a body that arrives in pieces before its lane turn, and answers a client that hung up with nothing', async () => {
    const drop = await createDrop(ctx, 1000);
    const token = await ctx.token('door-slow');
    const bytes = request('POST', `/products/${drop.id}/purchases`, { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, VALID);
    const cut = bytes.length - 5;
    const socket = await openSocket(ctx.baseUrl);
    const answered = new Promise<string>((resolve) => socket.once('data', (chunk) => resolve(chunk.toString())));
    socket.write(bytes.subarray(0, cut));
    await new Promise((r) => setTimeout(r, 100));
    socket.write(bytes.subarray(cut));
    expect(await answered).toMatch(/^HTTP\/1\.1 202 /);
    socket.destroy();
    // A client that half-closes after its last byte: Node ends a request whose client sent
    // FIN, so whether it is answered depends on whether the answer was written first, on the
    // door as on Koa. Either way nothing is lost or doubled: the buyer's next try gets the
    // ticket the first made (200) or makes it (202).
    const halfClosed = async (via: 'door' | 'koa') => {
      const path = `/products/${drop.id}/purchases${via === 'koa' ? '?via=koa' : ''}`;
      const user = `door-fin-${via}`;
      const b = request('POST', path, { Authorization: `Bearer ${await ctx.token(user)}`, 'Content-Type': 'application/json' }, VALID);
      const s = await openSocket(ctx.baseUrl);
      let text = '';
      s.on('data', (chunk) => (text += chunk.toString()));
      const closed = new Promise((resolve) => s.once('close', resolve));
      s.write(b.subarray(0, cut));
      await new Promise((r) => setTimeout(r, 50));
      s.end(b.subarray(cut));
      await closed;
      const first = text.split('\r\n')[0];
      expect({ via, first }).toEqual({ via, first: expect.stringMatching(/^(HTTP\/1\.1 202 Accepted)?$/) });
      const again = (await send(drop.id, via, { user })).status;
      expect({ via, first, again }).toEqual({ via, first, again: first ? 200 : again === 202 ? 202 : 200 });
    };
    await halfClosed('door');
    await halfClosed('koa');
    // Half a body, then gone: nothing is answered, and the next buyer gets in at once.
    const half = await openSocket(ctx.baseUrl);
    half.write(bytes.subarray(0, cut));
    await new Promise((r) => setTimeout(r, 50));
    half.destroy();
    expect((await send(drop.id, 'door')).status).toBe(202);
    const metrics = (await ctx.http('GET', '/metrics')).body as string;
    expect(metrics).toMatch(/^drop_api_lane_in_flight 0$/m);
  });
});

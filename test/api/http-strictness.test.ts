import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { appRoutes } from '@bull-board/api/dist/routes.js';
import { BULL_BOARD_PATH } from '../../dashboards/bull-board.ts';
import { ADMIN, createDrop, createTestContext, type TestContext } from '../setup/context.ts';
import { stats } from '../setup/buyers.ts';
import { head, rawRequest, request, type RawResponse } from '../setup/raw-http.ts';

/**
 * Strict HTTP on real sockets: every admin route, taken from the routers themselves, in
 * every spelling a lenient reader of URLs might accept; every method on every route;
 * bodies of other types. Paths are sent byte for byte (fetch would normalise them).
 */
let ctx: TestContext;
let dropId: number;
const BASIC = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`;
beforeAll(async () => {
  ctx = await createTestContext('http-strictness');
  dropId = (await createDrop(ctx, 10)).id;
});
afterAll(async () => {
  await ctx.close();
});

type Route = { method: string; path: string };

/** Every route the API's router holds, and Bull Board's, with its parameters filled in. */
function routes(): Route[] {
  const fill = (path: string) => path
    .replace(':id', String(dropId))
    .replace(':ticketId', `${dropId}-AAAAAAAAAAAAAAAA`)
    .replace(':queueName', `reserve-${dropId}`)
    .replace(/:[a-zA-Z]+/g, 'x');
  const ours = ctx.app.router.stack
    .filter((layer) => layer.methods.length > 0 && typeof layer.path === 'string')
    .flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((method) => ({ method, path: fill(layer.path as string) })));
  const board = [
    ...[appRoutes.entryPoint.route].flat().map((route) => ({ method: 'GET', path: fill(`${BULL_BOARD_PATH}${route === '/' ? '' : route}`) })),
    ...appRoutes.api.flatMap((r) => [r.method].flat().map((m) => ({ method: m.toUpperCase(), path: fill(`${BULL_BOARD_PATH}${r.route}`) }))),
  ];
  return [...ours, ...board];
}

/** A body that would change something if it got through. */
function bodyOf(r: Route): string {
  if (r.path.endsWith('/rate')) return JSON.stringify({ perSecond: 5 });
  if (r.path === '/admin/products') return JSON.stringify({ name: 'Sneaky', price: 1, type: 'general', stock: 5 });
  return r.method === 'PATCH' ? JSON.stringify({ stock: 7 }) : '{}';
}

/** Spellings of a path that a lenient server, proxy or router might take for it. */
function variants(path: string): string[] {
  const segments = path.split('/').slice(1);
  const at = (i: number, f: (s: string) => string) => `/${segments.map((s, j) => (j === i ? f(s) : s)).join('/')}`;
  const out = new Set<string>([
    path.toUpperCase(),
    path.replace('/admin', '/Admin'),
    path.replace('/admin', '/ADMIN'),
    ...segments.map((_, i) => at(i, (s) => s.toUpperCase())),
    `${path}/`,
    `/${path}`,
    path.replace('/admin/', '/admin//'),
    path.replace(/\//g, '//'),
    path.replace('/admin', '/%61dmin'),
    path.replace('/admin', '/%41DMIN'),
    path.replace('/admin', '/%2561dmin'),
    path.replace('/admin/', '/admin%2F'),
    ...segments.map((_, i) => at(i, (s) => (s ? `%${s.charCodeAt(0).toString(16)}${s.slice(1)}` : s))),
    path.replace('/admin/', '/admin/./'),
    `/x/..${path}`,
    path.replace('/admin', '/admin;x=1'),
    `${path}%20`,
  ]);
  out.delete(path);
  return [...out];
}

const send = (r: Route, path: string, headers: Record<string, string> = {}): Promise<RawResponse> => {
  const withBody = ['POST', 'PUT', 'PATCH'].includes(r.method);
  const bytes = withBody
    ? request(r.method, path, { 'Content-Type': 'application/json', ...headers }, bodyOf(r))
    : head(r.method, path, headers);
  return rawRequest(ctx.baseUrl, bytes, { headOnly: true });
};

describe('the admin surface', () => {
  it('meets every admin route, in every spelling, with a demand for credentials or a 404, never a 2xx, and changes nothing', async () => {
    const admin = routes().filter((r) => r.path.startsWith('/admin'));
    expect(admin.length).toBeGreaterThan(40);
    const countProducts = async () => (await ctx.http('GET', '/products')).body.length;
    const productsBefore = await countProducts();
    const seen: string[] = [];
    for (const route of admin) {
      for (const path of [route.path, `${route.path}?x=1`, ...variants(route.path)]) {
        const res = await send(route, path);
        seen.push(`${route.method} ${path} ${res.status}`);
        if (![400, 401, 403, 404].includes(res.status)) throw new Error(`${route.method} ${path} answered ${res.status} without credentials`);
      }
    }
    expect(seen.length).toBeGreaterThan(admin.length * 20);
    const s = await stats(ctx, dropId);
    expect({ paused: s.paused, total: s.stock.total, rate: s.ratePerSecond }).toEqual({ paused: false, total: 10, rate: ctx.config.ADMISSION_RATE_PER_SEC });
    expect(await countProducts()).toBe(productsBefore);
    expect(await ctx.deps.queues.get(`reserve-${dropId}`).isPaused()).toBe(false);
  });

  it('finds, with credentials, only the exact path: every other spelling of an admin route is a 404', async () => {
    for (const route of routes().filter((r) => r.path.startsWith('/admin/products'))) {
      for (const path of [`${route.path}/`, route.path.replace('/admin', '/ADMIN'), route.path.replace('/admin/', '/admin//')]) {
        const res = await send(route, path, { Authorization: BASIC });
        expect({ path, status: res.status }).toEqual({ path, status: 404 });
      }
    }
  });

  it('keeps every admin page out of other sites\' frames, with or without credentials', async () => {
    for (const path of [BULL_BOARD_PATH, `${BULL_BOARD_PATH}/api/queues`, '/admin/dashboard', `/admin/products/${dropId}/stats`]) {
      for (const headers of [{}, { Authorization: BASIC }] as Record<string, string>[]) {
        const res = await rawRequest(ctx.baseUrl, head('GET', path, headers));
        expect(res.headers['x-frame-options']).toBe('DENY');
        expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
        expect(res.headers['x-content-type-options']).toBe('nosniff');
      }
    }
    for (const path of [BULL_BOARD_PATH, '/admin/dashboard']) {
      expect((await rawRequest(ctx.baseUrl, head('GET', path, { Authorization: BASIC }))).status).toBe(200);
    }
  });
});

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE',
  'LOCK', 'UNLOCK', 'SEARCH', 'PURGE', 'REPORT', 'MKACTIVITY', 'CHECKOUT', 'MERGE', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'LINK',
  'UNLINK', 'QUERY', 'BIND', 'REBIND', 'UNBIND', 'ACL', 'MKCALENDAR', 'SOURCE'];

describe('methods', () => {
  it('answers every method on every route with the route, 405 and Allow, 204 for OPTIONS, or a 4xx with the error body: never a 5xx', async () => {
    const byPath = new Map<string, Set<string>>();
    for (const r of routes().filter((x) => !x.path.startsWith(BULL_BOARD_PATH))) {
      byPath.set(r.path, (byPath.get(r.path) ?? new Set()).add(r.method));
    }
    const token = await ctx.token('method-tester');
    for (const [path, allowed] of byPath) {
      const auth = path.startsWith('/admin') ? BASIC : `Bearer ${token}`;
      for (const method of METHODS) {
        if (allowed.has(method) || (method === 'HEAD' && allowed.has('GET'))) continue;
        const res = await rawRequest(ctx.baseUrl, head(method, path, { Authorization: auth }));
        const what = `${method} ${path}`;
        if (method === 'OPTIONS') {
          expect({ what, status: res.status }).toEqual({ what, status: 204 });
        } else {
          expect({ what, status: res.status }).toEqual({ what, status: 405 });
          if (method !== 'HEAD') expect(res.body.error.code).toBe('method_not_allowed'); // a HEAD answer has no body
        }
        expect(res.headers.allow.split(', ').sort()).toEqual([...new Set([...allowed, 'OPTIONS', ...(allowed.has('GET') ? ['HEAD'] : [])])].sort());
      }
    }
  });

  it('answers methods HTTP does not know, and CONNECT, with a 4xx and the error body', async () => {
    for (const bytes of ['FOO /products HTTP/1.1\r\nHost: x\r\n\r\n', 'CONNECT /products HTTP/1.1\r\nHost: x\r\n\r\n',
      'CONNECT 127.0.0.1:6379 HTTP/1.1\r\nHost: x\r\n\r\n', 'get /products HTTP/1.1\r\nHost: x\r\n\r\n']) {
      const res = await rawRequest(ctx.baseUrl, bytes);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(typeof res.body.error.code).toBe('string');
    }
  });

  it('answers a path no route has with 404 not_found, whatever the method', async () => {
    for (const method of ['GET', 'POST', 'PROPFIND', 'TRACE', 'DELETE']) {
      const res = await rawRequest(ctx.baseUrl, head(method, '/nowhere'));
      expect({ method, status: res.status, code: res.body.error.code }).toEqual({ method, status: 404, code: 'not_found' });
    }
  });
});

describe('request bodies', () => {
  it('answers 415 unsupported_media_type to a purchase whose body is not JSON, and admits nothing', async () => {
    const token = await ctx.token('form-buyer');
    const path = `/products/${dropId}/purchases`;
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', 'quantity=1'],
      ['text/plain', '{"quantity":1}'],
      ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="quantity"\r\n\r\n1\r\n--x--\r\n'],
      ['application/xml', '<quantity>1</quantity>'],
      [undefined, '{"quantity":1}'],
    ] as const) {
      const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
      if (type) headers['Content-Type'] = type;
      const res = await rawRequest(ctx.baseUrl, request('POST', path, headers, body));
      expect({ type, status: res.status, code: res.body.error.code }).toEqual({ type, status: 415, code: 'unsupported_media_type' });
    }
    expect((await stats(ctx, dropId)).tickets.queued).toBe(0);
    // JSON in its other spellings is JSON, and no body at all buys with the defaults.
    const ok = await rawRequest(ctx.baseUrl, request('POST', path, { Authorization: `Bearer ${token}`, 'Content-Type': 'application/vnd.api+json; charset=utf-8' }, '{"quantity":1}'));
    expect(ok.status).toBe(202);
    const again = await rawRequest(ctx.baseUrl, head('POST', path, { Authorization: `Bearer ${token}`, 'Content-Length': 0 }));
    expect(again.status).toBe(200);
  });

  it('answers 415 to admin changes whose body is not JSON, and changes nothing', async () => {
    for (const [method, path, body] of [
      ['POST', '/admin/products', 'name=x&price=1&type=general&stock=1'],
      ['PATCH', `/admin/products/${dropId}`, 'stock=7'],
      ['PUT', `/admin/products/${dropId}/rate`, 'perSecond=5'],
    ]) {
      const res = await rawRequest(ctx.baseUrl, request(method, path, { Authorization: BASIC, 'Content-Type': 'application/x-www-form-urlencoded' }, body));
      expect({ path, status: res.status, code: res.body.error.code }).toEqual({ path, status: 415, code: 'unsupported_media_type' });
    }
    expect((await stats(ctx, dropId)).stock.total).toBe(10);
  });
});

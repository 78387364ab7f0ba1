import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import type { Context } from 'koa';
import type { Deps } from '../../shared/deps.ts';
import { LiveFeed } from '../../dashboards/live-feed.ts';
import { newRouter } from '../router.ts';

export const DASHBOARD_PATH = '/admin/dashboard';

/** The page and its assets: plain files in dashboards/, read once. */
const DASHBOARDS = new URL('../../dashboards/', import.meta.url);

const ASSETS: Record<string, { type: string; body: string }> = Object.fromEntries(
  [
    ['', 'live-drop.html', 'text/html; charset=utf-8'],
    ['/live-drop.css', 'live-drop.css', 'text/css; charset=utf-8'],
    ['/live-drop.js', 'live-drop.js', 'text/javascript; charset=utf-8'],
  ].map(([route, file, type]) => [route, { type, body: readFileSync(new URL(file, DASHBOARDS), 'utf8') }]),
);

/** Nothing on the page comes from anywhere but this server. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * The live drop dashboard: a static page that listens to server-sent events (one frame a
 * second) and steers with the admin API (pause, resume, rate). Behind the admin guard, like every `/admin` path.
 */
export function dashboardRoutes(deps: Deps, feed = new LiveFeed(deps)) {
  // Full paths, no prefix: the page is `/admin/dashboard` itself, which a prefixed router
  // matches only with a trailing slash under strict routing.
  const router = newRouter();
  for (const [route, asset] of Object.entries(ASSETS)) {
    router.get(`${DASHBOARD_PATH}${route}`, (ctx) => {
      ctx.set('Content-Type', asset.type);
      ctx.set('Cache-Control', 'no-cache');
      ctx.set('Content-Security-Policy', CSP);
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.body = asset.body;
    });
  }
  router.get(`${DASHBOARD_PATH}/events`, (ctx) => streamEvents(ctx, feed));
  return router;
}

/** Server-sent events: `hello` (latest frame and history), then `frame` every second. */
function streamEvents(ctx: Context, feed: LiveFeed): void {
  const stream = new PassThrough();
  const send = (event: string, data: unknown) => stream.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  ctx.req.socket.setTimeout(0);
  ctx.req.socket.setNoDelay(true);
  ctx.set('Content-Type', 'text/event-stream; charset=utf-8');
  ctx.set('Cache-Control', 'no-cache, no-transform');
  ctx.set('X-Accel-Buffering', 'no');
  ctx.status = 200;
  ctx.body = stream;
  stream.write('retry: 2000\n\n');
  send('hello', feed.hello());
  const unsubscribe = feed.subscribe(send);
  const heartbeat = setInterval(() => stream.write(': keep-alive\n\n'), 15_000);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    unsubscribe();
    stream.end();
  };
  ctx.req.once('close', close);
  stream.once('close', close);
}

import type { Context, Next } from 'koa';
import type { Catalog } from '../../shared/domain/products/catalog.ts';
import { hasBody, readJsonBody } from './json-body.ts';
import type { Lane } from './lane.ts';

const PURCHASE = /^\/products\/([1-9][0-9]{0,9})\/purchases$/;
const TICKET = /^\/tickets\/([1-9][0-9]{0,9})-/;

/**
 * The lane in front of drop requests: purchases of reserve products and reads of their
 * tickets (the product from the path, its type from the catalogue cache). It sits before
 * everything else a request costs (body, token, routing, Redis): a rush is then worked on
 * `capacity` requests at a time, which costs measurably less CPU per request than working
 * on every open connection's request at once (bench/README.md, "Where the drop lane sits").
 *
 * Only requests whose whole body has arrived take a place: Node dispatches a request
 * when its head is parsed, before the body bytes of the same packet, so the check waits
 * one microtask (the rest of the packet is parsed by then). A client still sending reads
 * its body first, outside the lane, cut off by the server's request timeout if it stalls.
 * A request whose client hung up while it waited gives its place back unworked.
 */
export function dropLane(lane: Lane, catalog: Catalog, bodyLimit: number) {
  return async (ctx: Context, next: Next) => {
    if (!isDropRequest(ctx, catalog)) return next();
    const { req } = ctx;
    if (hasBody(req) && !req.complete) {
      await null;
      if (!req.complete) await readJsonBody(ctx, bodyLimit);
    }
    const place = await lane.enter();
    if (req.socket.destroyed) {
      place.leave();
      lane.gone();
      ctx.respond = false; // nobody is left to answer
      return;
    }
    try {
      await next();
    } finally {
      place.leave();
    }
  };
}

function isDropRequest(ctx: Context, catalog: Catalog): boolean {
  const m = ctx.method === 'POST' ? PURCHASE.exec(ctx.path) : ctx.method === 'GET' ? TICKET.exec(ctx.path) : null;
  return m !== null && catalog.typeOf(Number(m[1])) === 'reserve';
}

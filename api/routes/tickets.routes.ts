import type { Deps } from '../../shared/deps.ts';
import { readTicket } from '../../shared/domain/tickets/read-ticket.ts';
import { getOrder, listOrders } from '../../shared/domain/orders/buyer-orders.ts';
import { requireUser } from '../middleware/auth.ts';
import { newRouter } from '../router.ts';
import { parseId } from '../schemas.ts';

/** What buyers poll: their tickets, and the orders that came of them. */
export function ticketRoutes(deps: Deps) {
  const router = newRouter();
  const user = requireUser(deps.config);
  router.get('/tickets/:ticketId', user, async (ctx) => {
    ctx.body = await readTicket(deps, ctx.params.ticketId, ctx.state.userId);
  });
  router.get('/orders', user, async (ctx) => {
    ctx.body = await listOrders(deps, ctx.state.userId);
  });
  router.get('/orders/:id', user, async (ctx) => {
    ctx.body = await getOrder(deps, ctx.state.userId, parseId(ctx.params.id, 'Order'));
  });
  return router;
}

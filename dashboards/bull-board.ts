import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { KoaAdapter } from '@bull-board/koa';
import type { Context, Next } from 'koa';
import type { Deps } from '../shared/deps.ts';
import { queueNames, reserveProductIds } from '../shared/domain/reporting/overview.ts';

export const BULL_BOARD_PATH = '/admin/queues';

/** How often the queue list is re-read from Redis while someone uses the board. */
const REFRESH_MS = 1000;

/**
 * Bull Board over every queue, behind the admin guard (api/middleware/admin-guard.ts), which also keeps it from being framed. Reserve products get their
 * own queue when they are created, so the list is refreshed (at most once a second) on
 * requests to the board, whose UI polls: a new drop's queue shows up without a restart.
 */
export function bullBoard(deps: Deps) {
  const serverAdapter = new KoaAdapter().setBasePath(BULL_BOARD_PATH);
  const board = createBullBoard({
    queues: [],
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'Drop Admission',
        hideDocsLink: true,
        miscLinks: [{ text: 'Live drop dashboard', url: '/admin/dashboard' }],
      },
    },
  });
  const plugin = serverAdapter.registerPlugin();
  const shown = new Set<string>();
  let refreshedAt = 0;

  const refresh = async () => {
    if (Date.now() - refreshedAt < REFRESH_MS) return;
    refreshedAt = Date.now();
    for (const name of queueNames(await reserveProductIds(deps))) {
      if (shown.has(name)) continue;
      const description = name.startsWith('reserve-') ? `Admission queue of drop #${name.slice(8)}` : undefined;
      board.addQueue(new BullMQAdapter(deps.queues.get(name), { description }));
      shown.add(name);
    }
  };

  return async (ctx: Context, next: Next) => {
    if (ctx.path !== BULL_BOARD_PATH && !ctx.path.startsWith(`${BULL_BOARD_PATH}/`)) return next();
    await refresh();
    await plugin(ctx, next);
  };
}

import type { Context, Next } from 'koa';
import { DomainError } from '../../shared/errors.ts';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Browsers resend cached Basic credentials on cross-site form posts, so an admin page
 * open in one tab would let any other site pause a drop. Changes under `/admin` from a
 * browser must come from our own pages; clients without these headers (curl, k6) pass.
 */
export function sameOriginAdmin() {
  return async (ctx: Context, next: Next) => {
    if (!SAFE.has(ctx.method) && ctx.path.startsWith('/admin/') && isCrossSite(ctx)) {
      throw new DomainError('forbidden', 'Admin changes must come from this site\'s own pages.');
    }
    await next();
  };
}

function isCrossSite(ctx: Context): boolean {
  const site = ctx.get('Sec-Fetch-Site');
  if (site) return site !== 'same-origin' && site !== 'none';
  const origin = ctx.get('Origin');
  if (!origin) return false;
  try {
    return new URL(origin).host !== ctx.get('Host');
  } catch {
    return true;
  }
}

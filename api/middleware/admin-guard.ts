import { posix } from 'node:path';
import type { Context, Next } from 'koa';
import type { Config } from '../../shared/config.ts';
import { DomainError } from '../../shared/errors.ts';
import { requireAdmin } from './auth.ts';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The one guard in front of everything under `/admin` (the routes, Bull Board, the live
 * dashboard and its event stream), decided on the path as a lenient server might read
 * it: percent-decoded, any case, backslashes and doubled slashes as one slash, dot
 * segments resolved. Whatever spelling a client tries, it meets the admin credentials
 * before any handler; the routers themselves match strictly (see api/router.ts), so a
 * variant that passes here without being the exact path is a 404.
 *
 * It also keeps admin pages out of other sites: admin changes from a browser must come
 * from our own pages (browsers resend cached Basic credentials on cross-site form posts),
 * and no admin page may be framed by another site (Bull Board's buttons pause, clean and
 * obliterate queues).
 */
export function adminGuard(config: Config) {
  const admin = requireAdmin(config);
  return async (ctx: Context, next: Next) => {
    if (!isAdminPath(ctx.path)) return next();
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Content-Security-Policy', "frame-ancestors 'none'");
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'no-store');
    return admin(ctx, () => {
      if (!SAFE.has(ctx.method) && isCrossSite(ctx)) {
        throw new DomainError('forbidden', 'Admin changes must come from this site\'s own pages.');
      }
      return next();
    });
  };
}

/** Anything that could mean `/admin` or a path below it to some reader of URLs. */
const SUSPECT = /admin|%|\\|\/\/|\/\./i;

export function isAdminPath(path: string): boolean {
  if (!SUSPECT.test(path)) return false;
  let candidate = path;
  for (let i = 0; i < 3; i++) {
    if (/^\/admin(?![a-z0-9_-])/.test(normalise(candidate))) return true;
    // Escapes decoded one by one, so a malformed one elsewhere does not hide "admin".
    const decoded = candidate.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (decoded === candidate) return false;
    candidate = decoded;
  }
  return true;
}

function normalise(path: string): string {
  return posix.normalize(`/${path.replace(/\\/g, '/')}`).toLowerCase();
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

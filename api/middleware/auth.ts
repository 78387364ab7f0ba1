import { timingSafeEqual, type KeyObject } from 'node:crypto';
import { parse as parseBasic } from 'basic-auth';
import type { Context, Next } from 'koa';
import type { Config } from '../../shared/config.ts';
import { DomainError } from '../../shared/errors.ts';
import { hs256Key, verifyHs256 } from './jwt-hs256.ts';

/** User ids become parts of Redis keys, so they are kept to a safe alphabet. */
const USER_ID = /^[A-Za-z0-9._@|+-]{1,128}$/;

type Claims = { sub: string; role?: unknown };

/**
 * `Bearer <JWT>`: the scheme in any case and one or more spaces before the token, as
 * HTTP allows (RFC 9110 11.1, 11.4: OAuth clients that build the header from a token
 * response's `token_type: "bearer"` send it in lower case).
 */
const BEARER = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i;

function verifyBearer(header: string, key: KeyObject): Claims | null {
  const m = BEARER.exec(header);
  if (!m) return null;
  const payload = verifyHs256(m[1], key);
  if (!payload || typeof payload.sub !== 'string' || !USER_ID.test(payload.sub)) return null;
  return { sub: payload.sub, role: payload.role };
}

/** The buyer an `Authorization` header names with a valid HS256 bearer token, or `401 unauthorized`. */
export function bearerUser(header: string, key: KeyObject): string {
  const claims = verifyBearer(header, key);
  if (!claims) throw new DomainError('unauthorized', 'A valid bearer token is required.');
  return claims.sub;
}

/** Buyers: a valid HS256 bearer token; `sub` becomes `ctx.state.userId`. */
export function requireUser(config: Config) {
  const key = hs256Key(config.JWT_SECRET);
  return async (ctx: Context, next: Next) => {
    ctx.state.userId = bearerUser(ctx.get('Authorization'), key);
    await next();
  };
}

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** Operators: HTTP Basic admin credentials, or a bearer token whose `role` is `admin`. */
export function requireAdmin(config: Config) {
  const key = hs256Key(config.JWT_SECRET);
  return async (ctx: Context, next: Next) => {
    const header = ctx.get('Authorization');
    // jshttp's parser: `Basic` in any case, strict base64, `user:password`; else a bearer token.
    const basic = parseBasic(header);
    let ok: boolean;
    if (basic) {
      const userOk = same(basic.name, config.ADMIN_USER);
      const passwordOk = same(basic.pass, config.ADMIN_PASSWORD);
      ok = userOk && passwordOk;
    } else {
      ok = verifyBearer(header, key)?.role === 'admin';
    }
    if (!ok) {
      ctx.state.authChallenge = 'Basic realm="drop-admin", charset="UTF-8"';
      throw new DomainError('unauthorized', 'Admin credentials are required.');
    }
    await next();
  };
}

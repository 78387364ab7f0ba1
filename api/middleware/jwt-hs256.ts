import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

/** The claims of a verified token (only the registered ones are typed). */
export type JwtPayload = { sub?: unknown; exp?: unknown; nbf?: unknown; iat?: unknown; [claim: string]: unknown };

/**
 * Verifies a compact HS256 JWT synchronously with `node:crypto`, with the checks
 * `jose.jwtVerify(token, secret, { algorithms: ['HS256'] })` makes: header `alg` is
 * HS256 and no `crit`/`b64` extensions, signature by constant-time comparison, payload a
 * JSON object, `exp` and `nbf` numeric and in force, `iat` numeric. Returns the payload,
 * or null for any token that is not valid now.
 *
 * Why not jose on the hot path: its WebCrypto verify imports the key and hops through a
 * crypto job on every call, many times what one HMAC keyed by a {@link hs256Key} made
 * once costs (bench/README.md, "Measured choices in the code"). The tests check it
 * against jose on the same hostile tokens.
 */
export function verifyHs256(token: string, key: KeyObject, nowS = Math.floor(Date.now() / 1000)): JwtPayload | null {
  const dot1 = token.indexOf('.');
  const dot2 = token.indexOf('.', dot1 + 1);
  if (dot1 <= 0 || dot2 <= dot1 + 1 || dot2 === token.length - 1 || token.indexOf('.', dot2 + 1) !== -1) return null;
  const header = decodeJson(token.slice(0, dot1));
  if (!header || header.alg !== 'HS256' || 'crit' in header || 'b64' in header) return null;
  // The 43 base64url characters of a SHA-256 MAC (padding allowed, as jose allows it):
  // Node's decoder would also take `+` and `/`, other spellings of the same signature.
  const encoded = token.slice(dot2 + 1);
  if (!SIGNATURE.test(encoded)) return null;
  const expected = createHmac('sha256', key).update(token.slice(0, dot2)).digest();
  const signature = Buffer.from(encoded, 'base64url');
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return null;
  const payload = decodeJson(token.slice(dot1 + 1, dot2));
  if (!payload) return null;
  for (const claim of ['exp', 'nbf', 'iat'] as const) {
    if (payload[claim] !== undefined && (typeof payload[claim] !== 'number' || !Number.isFinite(payload[claim]))) return null;
  }
  if (typeof payload.exp === 'number' && payload.exp <= nowS) return null;
  if (typeof payload.nbf === 'number' && payload.nbf > nowS) return null;
  return payload;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const SIGNATURE = /^[A-Za-z0-9_-]{43}=?$/;

function decodeJson(part: string): Record<string, unknown> | null {
  if (!BASE64URL.test(part)) return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The HMAC key for {@link verifyHs256}, made once per secret. */
export function hs256Key(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret, 'utf8'));
}

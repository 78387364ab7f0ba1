import { describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import { hs256Key, verifyHs256 } from '../../api/middleware/jwt-hs256.ts';

/**
 * The door checks tokens with its own synchronous HS256 verify because jose's costs many
 * times more per request (bench/jwt.ts). It must give the library's verdict on every
 * token, the hostile ones first: here both judge the same tokens.
 */
const secret = 'test-secret-at-least-16-chars';
const raw = new TextEncoder().encode(secret);
const key = hs256Key(secret);
const now = Math.floor(Date.now() / 1000);

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const sign = (input: string, with_ = secret) => createHmac('sha256', with_).update(input).digest('base64url');
/** A token from a raw header and payload (any JSON, or any text), signed with the secret. */
const forge = (header: unknown, payload: unknown, with_ = secret) => {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign(input, with_)}`;
};

const HS = { alg: 'HS256', typ: 'JWT' };
const good = { sub: 'alice', iat: now, exp: now + 3600 };

/** A valid token whose signature has `-` or `_`, written with `+` and `/` instead. */
function urlUnsafe(): string {
  for (let i = 0; ; i++) {
    const token = forge(HS, { ...good, jti: String(i) });
    const [h, p, s] = token.split('.');
    if (/[-_]/.test(s)) return `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}`;
  }
}

async function hostileTokens(): Promise<Record<string, string>> {
  const valid = await new SignJWT({}).setProtectedHeader(HS).setSubject('alice').setIssuedAt().setExpirationTime('1h').sign(raw);
  const [h, p, s] = valid.split('.');
  return {
    'valid': valid,
    'valid, no typ': forge({ alg: 'HS256' }, good),
    'valid, no exp': forge(HS, { sub: 'alice' }),
    'another secret': forge(HS, good, 'not-the-secret-at-all'),
    'alg none, no signature': `${b64({ alg: 'none' })}.${b64(good)}.`,
    'alg none, signed anyway': forge({ alg: 'none' }, good),
    'alg HS512 header': forge({ alg: 'HS512' }, good),
    'alg RS256 header': forge({ alg: 'RS256' }, good),
    'alg in lower case': forge({ alg: 'hs256' }, good),
    'no alg': forge({ typ: 'JWT' }, good),
    'crit header': forge({ alg: 'HS256', crit: ['exp'] }, good),
    'b64 false': forge({ alg: 'HS256', b64: false, crit: ['b64'] }, good),
    'header not JSON': `${b64('not json')}.${p}.${sign(`${b64('not json')}.${p}`)}`,
    'header an array': forge(['HS256'], good),
    'payload not JSON': forge(HS, 'not json'),
    'payload an array': forge(HS, ['alice']),
    'payload a string': forge(HS, '"alice"'),
    'payload null': forge(HS, 'null'),
    'payload a number': forge(HS, '42'),
    'expired': forge(HS, { ...good, exp: now - 60 }),
    'exp a string': forge(HS, { ...good, exp: String(now + 3600) }),
    'exp null': forge(HS, { ...good, exp: null }),
    'exp not finite': forge(HS, `{"sub":"alice","exp":1e999}`),
    'not before in the future': forge(HS, { ...good, nbf: now + 600 }),
    'nbf a string': forge(HS, { ...good, nbf: String(now - 10) }),
    'nbf in the past': forge(HS, { ...good, nbf: now - 600 }),
    'iat a string': forge(HS, { ...good, iat: 'yesterday' }),
    'iat in the future': forge(HS, { ...good, iat: now + 600 }),
    'payload changed after signing': `${h}.${b64({ sub: 'mallory', exp: now + 3600 })}.${s}`,
    'signature cut short': `${h}.${p}.${s.slice(0, -2)}`,
    'signature longer': `${h}.${p}.${s}AA`,
    'signature of other bytes': `${h}.${p}.${sign('other')}`,
    'signature empty': `${h}.${p}.`,
    'signature with padding': `${h}.${p}.${s}=`,
    'signature in the base64 (not url) alphabet': urlUnsafe(),
    'header in base64 with padding': (() => {
      const padded = Buffer.from(JSON.stringify(HS)).toString('base64');
      return `${padded}.${p}.${sign(`${padded}.${p}`)}`;
    })(),
    'four parts': `${valid}.${s}`,
    'two parts': `${h}.${p}`,
    'empty header': `.${p}.${sign(`.${p}`)}`,
    'empty payload': `${h}..${sign(`${h}.`)}`,
    'spaces around': ` ${valid} `,
    'a space inside': `${h}.${p} .${s}`,
    'not a JWT': 'hello',
    'empty': '',
    'dots only': '..',
    'unicode in payload': forge(HS, { sub: 'ålice', exp: now + 3600 }),
    'duplicate exp keys': forge(HS, `{"sub":"alice","exp":${now - 60},"exp":${now + 3600}}`),
  };
}

describe('verifyHs256', () => {
  it('gives jose.jwtVerify\'s verdict on every token, hostile ones included', async () => {
    const tokens = await hostileTokens();
    const verdicts = await Promise.all(Object.entries(tokens).map(async ([name, token]) => ({
      name,
      library: await jwtVerify(token, raw, { algorithms: ['HS256'] }).then(() => 'valid', () => 'refused'),
      ours: verifyHs256(token, key) ? 'valid' : 'refused',
    })));
    // Where the two differ, ours is the stricter, on purpose: a token that never expires.
    const stricter = new Set(['exp not finite']);
    expect(verdicts.filter((v) => v.library !== v.ours && !(stricter.has(v.name) && v.ours === 'refused'))).toEqual([]);
    // The cases that must pass do pass, and the rest are refused: the comparison has teeth.
    const valid = verdicts.filter((v) => v.ours === 'valid').map((v) => v.name).sort();
    expect(valid).toEqual(['duplicate exp keys', 'header in base64 with padding', 'iat in the future', 'nbf in the past', 'signature with padding',
      'unicode in payload', 'valid', 'valid, no exp', 'valid, no typ']);
  });
});

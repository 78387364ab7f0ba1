import { SignJWT, jwtVerify } from 'jose';
import { hs256Key, verifyHs256 } from '../api/middleware/jwt-hs256.ts';

/**
 * What the door's token check costs: the project's synchronous HS256 verify against the
 * library it stands in for (`jose.jwtVerify`), on the same tokens, in the same run.
 * `node bench/jwt.ts [iterations]`. The tests hold both to the same verdicts on hostile
 * tokens (test/api/jwt-hs256.test.ts).
 */
const n = Number(process.argv[2] ?? 50_000);
const secret = 'bench-secret-at-least-16-chars';
const raw = new TextEncoder().encode(secret);
const key = hs256Key(secret);
const tokens = await Promise.all(Array.from({ length: 1000 }, (_, i) =>
  new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(`b-${i}`).setIssuedAt().setExpirationTime('1h').sign(raw)));

async function time(name: string, verify: (token: string) => unknown): Promise<number> {
  for (let i = 0; i < n / 10; i++) await verify(tokens[i % tokens.length]);
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < n; i++) await verify(tokens[i % tokens.length]);
  const used = process.cpuUsage(cpu);
  const us = ((used.user + used.system) / n);
  console.log(`${name.padEnd(34)} ${us.toFixed(2).padStart(7)} µs CPU per verify, ${(n / ((performance.now() - started) / 1000)).toFixed(0)} verifies/s`);
  return us;
}

const ours = await time('verifyHs256 (project)', (t) => verifyHs256(t, key));
const jose = await time('jose.jwtVerify (library)', (t) => jwtVerify(t, raw, { algorithms: ['HS256'] }));
const joseKey = await time('jose.jwtVerify, KeyObject', (t) => jwtVerify(t, key, { algorithms: ['HS256'] }));
console.log(`ratio: the library costs ${(jose / ours).toFixed(1)}x (${(joseKey / ours).toFixed(1)}x with a KeyObject) what the project's check costs`);

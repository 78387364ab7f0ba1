import { SignJWT } from 'jose';
import { loadConfigOrExit } from '../shared/config.ts';

/** `npm run token -- <userId> [--admin]`: prints a bearer token signed with JWT_SECRET. */
const args = process.argv.slice(2);
const userId = args.find((a) => !a.startsWith('--'));
if (!userId) {
  console.error('usage: npm run token -- <userId> [--admin]');
  process.exit(2);
}
const config = loadConfigOrExit();
const token = await new SignJWT(args.includes('--admin') ? { role: 'admin' } : {})
  .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
  .setSubject(userId)
  .setIssuedAt()
  .setExpirationTime('12h')
  .sign(new TextEncoder().encode(config.JWT_SECRET));
console.log(token);

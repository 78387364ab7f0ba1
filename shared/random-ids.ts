import { randomFillSync } from 'node:crypto';

/**
 * Random ids from bytes drawn from the OS 4 KB at a time (as `randomUUID` does) instead
 * of one system call per request (bench/README.md, "Measured choices in the code").
 */
const pool = Buffer.alloc(4092);
let offset = pool.length;

/** `bytes` random bytes as base64url (12 bytes: 16 characters, 96 bits). */
export function randomId(bytes = 12): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + bytes);
  offset += bytes;
  return id;
}

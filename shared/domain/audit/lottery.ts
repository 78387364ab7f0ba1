import { createHash, createHmac } from 'node:crypto';

const TWO_52 = 1n << 52n;

/**
 * A pre-queued ticket's order key: H − 2^52, H being the first 13 hex digits (52 bits) of
 * HMAC-SHA256(key = seed, message = ticketId), as a decimal string. Every such key is
 * negative, so every pre-queued ticket sorts before the tickets admitted after opensAt.
 */
export function lotteryKey(seed: string, ticketId: string): string {
  const hex = createHmac('sha256', seed).update(ticketId).digest('hex');
  return (BigInt(`0x${hex.slice(0, 13)}`) - TWO_52).toString();
}

/** The commitment shown from queueOpensAt: sha256 hex of the seed string. */
export function commitmentOf(seed: string): string {
  return createHash('sha256').update(seed).digest('hex');
}

/** A well-formed seed: 64 lowercase hex digits (32 random bytes). */
export function isSeed(seed: string): boolean {
  return /^[0-9a-f]{64}$/.test(seed);
}

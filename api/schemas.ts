import { z } from 'zod';
import { DomainError, invalid, notFound } from '../shared/errors.ts';

const MAX_ID = 2_147_483_647;

/** A path id: a positive integer, anything else is simply not found. */
export function parseId(raw: string, what: string): number {
  const id = /^[1-9][0-9]{0,9}$/.test(raw) ? Number(raw) : NaN;
  if (!(id <= MAX_ID)) throw notFound(what);
  return id;
}

/**
 * Validates with zod; the first problem becomes `422 invalid` naming the field
 * (`name` when the input is a single value, such as a header).
 */
export function parse<T extends z.ZodType>(schema: T, input: unknown, name = 'body'): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.length ? issue.path.join('.') : name;
  throw invalid(field, issue.message);
}

export const purchaseBody = z.object({
  quantity: z.number().int().min(1).max(100).default(1),
  paymentMethod: z.string().regex(/^[a-z0-9_]{1,64}$/, 'must be a payment method id like pm_card_ok').default('pm_card_ok'),
});

export const idempotencyKey = z.string().regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 printable ASCII characters');

const isoInstant = z.iso.datetime({ offset: true }).transform((s) => new Date(s));
const price = z.number().min(0).max(10_000_000).refine((n) => Math.abs(n * 100 - Math.round(n * 100)) < 1e-6, 'at most two decimals');

export const createProductBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    description: z.string().max(5000).default(''),
    manufacturer: z.string().max(200).default(''),
    price,
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code like USD').default('USD'),
    type: z.enum(['reserve', 'general']),
    opensAt: isoInstant.nullable().optional(),
    queueOpensAt: isoInstant.nullable().optional(),
    perUserLimit: z.number().int().min(0).max(10_000).default(1),
    stock: z.number().int().min(0).max(100_000_000),
  })
  .superRefine((p, ctx) => {
    if (p.type === 'reserve' && !p.opensAt) ctx.addIssue({ code: 'custom', path: ['opensAt'], message: 'is required for reserve products' });
    if (p.type === 'general' && p.opensAt) ctx.addIssue({ code: 'custom', path: ['opensAt'], message: 'must be null for general products' });
    if (p.type === 'general' && p.queueOpensAt) ctx.addIssue({ code: 'custom', path: ['queueOpensAt'], message: 'must be null for general products' });
    if (p.queueOpensAt && p.opensAt && p.queueOpensAt >= p.opensAt) {
      ctx.addIssue({ code: 'custom', path: ['queueOpensAt'], message: 'must be before opensAt' });
    }
  });

export const patchProductBody = z
  .object({
    stock: z.number().int().min(0).max(100_000_000).optional(),
    opensAt: isoInstant.optional(),
    queueOpensAt: isoInstant.nullable().optional(),
    perUserLimit: z.number().int().min(0).max(10_000).optional(),
  })
  .refine((p) => Object.keys(p).length > 0, 'give stock, opensAt, queueOpensAt or perUserLimit')
  .refine((p) => !(p.queueOpensAt && p.opensAt && p.queueOpensAt >= p.opensAt), { path: ['queueOpensAt'], message: 'must be before opensAt' });

export const rateBody = z.object({ perSecond: z.number().int().min(1).max(1_000_000) });

export const tooLarge = () => new DomainError('payload_too_large', 'The request body is too large.');

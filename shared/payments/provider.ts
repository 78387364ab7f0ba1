export type ChargeRequest = {
  /** The ticket id: the provider charges one key at most once, however often asked. */
  idempotencyKey: string;
  amountMinor: number;
  currency: string;
  paymentMethod: string;
};

export type ChargeResult = { outcome: 'succeeded'; reference: string } | { outcome: 'declined'; reason: string };

export type RefundRequest = { idempotencyKey: string; reference: string; amountMinor: number; currency: string };

/** What the provider holds under one idempotency key: the charge, and its refund if any. */
export type ChargeRecord = { reference: string; amountMinor: number; refundReference: string | null };

/** A failure worth retrying (timeouts, 5xx from the provider); declines are results. */
export class TransientPaymentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransientPaymentError';
  }
}

/**
 * What a real payment provider plugs into. Every call is idempotent by key. `lookup`
 * asks the provider's own ledger (Stripe: the PaymentIntent by idempotency key or
 * metadata): it is how a ticket that ended without a sale finds out whether a charge
 * went through anyway (a worker died after charging, an answer came too late) and gets
 * it refunded.
 */
export interface PaymentProvider {
  charge(req: ChargeRequest): Promise<ChargeResult>;
  refund(req: RefundRequest): Promise<{ reference: string }>;
  lookup(idempotencyKey: string): Promise<ChargeRecord | null>;
}

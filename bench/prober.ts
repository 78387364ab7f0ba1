import { SignJWT } from 'jose';
import { HttpPool, formatRequest } from './http-client.ts';
import { summarize, type Latency } from './stats.ts';

/**
 * General-product buyers at a steady rate (open loop: a request is due every
 * 1000/rate ms whether or not the previous one answered, and its latency counts from
 * when it was due). Runs in the orchestrator, not in the load generator, so the rush's
 * busy event loop does not inflate what general buyers see.
 */
export type Probe = { at: number; ms: number; status: number };

export class GeneralProber {
  readonly probes: Probe[] = [];
  private readonly pool: HttpPool;
  private readonly secret: Uint8Array;
  private timer: NodeJS.Timeout | undefined;
  private n = 0;
  private readonly inflight = new Set<Promise<void>>();
  private readonly productId: number;
  private readonly userPrefix: string;

  constructor(port: number, productId: number, secret: string, userPrefix: string) {
    this.pool = new HttpPool('127.0.0.1', port, 16);
    this.secret = new TextEncoder().encode(secret);
    this.productId = productId;
    this.userPrefix = userPrefix;
  }

  private tokens: string[] = [];

  /** Signs the tokens of `count` general buyers ahead, so no probe waits on signing. */
  async prepare(count: number): Promise<void> {
    this.tokens = await Promise.all(Array.from({ length: count }, (_, i) =>
      new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(`${this.userPrefix}${i}`)
        .setIssuedAt().setExpirationTime('2h').sign(this.secret)));
  }

  start(perSecond: number): void {
    const interval = 1000 / perSecond;
    let due = performance.now();
    const tick = () => {
      const now = performance.now();
      while (due <= now) {
        this.fire(due);
        due += interval;
      }
      this.timer = setTimeout(tick, Math.max(0, due - performance.now()));
    };
    tick();
  }

  private fire(due: number): void {
    const token = this.tokens[this.n++ % this.tokens.length];
    const at = Date.now() - (performance.now() - due);
    const p = this.pool.request(formatRequest('POST', `/products/${this.productId}/purchases`,
      { Authorization: `Bearer ${token}` }, '{"quantity":1,"paymentMethod":"pm_card_ok"}'), due)
      .then((r) => { this.probes.push({ at, ms: r.ms, status: r.status }); },
        () => { this.probes.push({ at, ms: performance.now() - due, status: 0 }); })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await Promise.all(this.inflight);
    this.pool.close();
  }
}

/** Latency of the probes sent in each named window [from, to), and how many failed. */
export function summarizeProbes(probes: Probe[], windows: { idle: [number, number]; drop: [number, number] }) {
  const inside = ([from, to]: [number, number]) => probes.filter((p) => p.at >= from && p.at < to);
  const latency = (w: [number, number]): Latency => summarize(inside(w).map((p) => p.ms));
  return {
    idle: latency(windows.idle),
    drop: latency(windows.drop),
    failures: inside([windows.idle[0], windows.drop[1]]).filter((p) => p.status !== 202).length,
  };
}

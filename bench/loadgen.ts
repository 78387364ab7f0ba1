import { SignJWT } from 'jose';
import { HttpPool, formatRequest } from './http-client.ts';
import { Samples, summarize, type Latency } from './stats.ts';

/**
 * The load generator, in a process of its own so that its CPU and its event loop are
 * apart from the orchestrator's probes and timers. Driven over IPC by bench/run.ts:
 * `sign` the buyers' tokens (a named set of them), `rush` (every buyer of a set buys once,
 * closed loop with bounded concurrency; or, with `durationMs`, buyers in turn until the
 * deadline), `verify` (every buyer of the last rush reads its ticket once).
 */
/** `set` names the tokens (default `drop`), so the drop's buyers and another phase's coexist. */
export type SignTask = { type: 'sign'; buyers: number; secret: string; userPrefix: string; set?: string };
/**
 * Buyer i buys at `paths[i % paths.length]` (one path per drop). `durationMs`: no new
 * request after that long (those in flight are answered); each buyer still buys at most once.
 */
export type RushTask = {
  type: 'rush'; port: number; paths: string[]; concurrency: number; startAt: number; set?: string; durationMs?: number;
};
export type VerifyTask = { type: 'verify'; port: number; concurrency: number };
export type Task = SignTask | RushTask | VerifyTask;

export type RushResult = {
  sent: number;
  durationMs: number;
  perSecond: number;
  latency: Latency;
  /** `202`, `200`, `409 sold_out`, `error` ... → count. */
  outcomes: Record<string, number>;
  admitted: number;
  /** Answers received in each second of the rush (the first is the warm-up: cold code, new connections). */
  answersPerSecond: number[];
  /** Tokens of the set not used (a duration-bounded rush that ran out of buyers shows 0). */
  unused: number;
};
export type VerifyResult = { checked: number; durationMs: number; statuses: Record<string, number> };

const BODY = JSON.stringify({ quantity: 1, paymentMethod: 'pm_card_ok' });
const TICKET_ID = /"ticketId":"([^"]+)"/;
const CODE = /"code":"([a-z_]+)"/;
const STATUS = /"status":"([a-z_]+)"/;

const sets = new Map<string, string[]>();
/** The tokens of the last rush (verify reads its tickets). */
let tokens: string[] = [];
/** Buyer index → ticket id, for the buyers who got one. */
let tickets = new Map<number, string>();

async function sign(t: SignTask): Promise<{ ms: number }> {
  const started = performance.now();
  const secret = new TextEncoder().encode(t.secret);
  const tokens = new Array<string>(t.buyers);
  sets.set(t.set ?? 'drop', tokens);
  for (let i = 0; i < t.buyers; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(t.buyers, i + 1000); j++) {
      batch.push(new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(`${t.userPrefix}${j}`)
        .setIssuedAt().setExpirationTime('2h').sign(secret).then((tok) => { tokens[j] = tok; }));
    }
    await Promise.all(batch);
  }
  return { ms: performance.now() - started };
}

/** Runs `count` calls of `one(i)` with at most `concurrency` in flight. */
async function lanes(count: number, concurrency: number, one: (i: number) => Promise<void>, until = Infinity): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count && performance.now() < until) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

async function rush(t: RushTask): Promise<RushResult> {
  const set = sets.get(t.set ?? 'drop');
  if (!set) throw new Error(`no tokens signed for set ${t.set ?? 'drop'}`);
  tokens = set;
  const pool = new HttpPool('127.0.0.1', t.port, t.concurrency);
  const latencies = new Samples();
  const outcomes: Record<string, number> = {};
  tickets = new Map();
  let done = 0;
  let sent = 0;
  const answers: number[] = [];
  const wait = t.startAt - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const progress = setInterval(() => process.send!({ type: 'progress', done }), 250);
  const started = performance.now();
  await lanes(tokens.length, t.concurrency, async (i) => {
    sent++;
    let key = 'error';
    try {
      const r = await pool.request(formatRequest('POST', t.paths[i % t.paths.length], { Authorization: `Bearer ${tokens[i]}` }, BODY));
      latencies.push(r.ms);
      key = String(r.status);
      if (r.status === 202 || r.status === 200) tickets.set(i, TICKET_ID.exec(r.body)![1]);
      else key += ` ${CODE.exec(r.body)?.[1] ?? ''}`.trimEnd();
    } catch {
      /* counted as an error */
    }
    outcomes[key] = (outcomes[key] ?? 0) + 1;
    const second = Math.floor((performance.now() - started) / 1000);
    answers[second] = (answers[second] ?? 0) + 1;
    done++;
  }, started + (t.durationMs ?? Infinity));
  const durationMs = performance.now() - started;
  clearInterval(progress);
  pool.close();
  return {
    sent,
    durationMs,
    perSecond: (sent / durationMs) * 1000,
    latency: summarize(latencies.values()),
    outcomes,
    admitted: tickets.size,
    answersPerSecond: Array.from(answers, (n) => n ?? 0),
    unused: tokens.length - sent,
  };
}

async function verify(t: VerifyTask): Promise<VerifyResult> {
  const pool = new HttpPool('127.0.0.1', t.port, t.concurrency);
  const statuses: Record<string, number> = {};
  const entries = [...tickets];
  const started = performance.now();
  await lanes(entries.length, t.concurrency, async (n) => {
    const [i, ticketId] = entries[n];
    let key = 'error';
    try {
      const r = await pool.request(formatRequest('GET', `/tickets/${ticketId}`, { Authorization: `Bearer ${tokens[i]}` }));
      key = r.status === 200 ? (STATUS.exec(r.body)?.[1] ?? 'unparsed') : `http_${r.status}`;
    } catch {
      /* counted as an error */
    }
    statuses[key] = (statuses[key] ?? 0) + 1;
  });
  pool.close();
  return { checked: entries.length, durationMs: performance.now() - started, statuses };
}

const handlers = { sign, rush, verify } as const;

process.on('message', (task: Task) => {
  const run = handlers[task.type] as (t: Task) => Promise<unknown>;
  run(task).then(
    (result) => process.send!({ type: 'done', result }),
    (err: Error) => process.send!({ type: 'failed', error: err.stack ?? err.message }),
  );
});
process.on('disconnect', () => process.exit(0));

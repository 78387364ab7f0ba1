import { parseArgs } from 'node:util';
import { Redis as Redis5 } from 'ioredis';
import { Redis as Redis6 } from 'ioredis6';

/**
 * What reading Redis's replies costs the client: ioredis 5 (the system's client, which
 * BullMQ shares) against ioredis 6 (the newest major, as `ioredis6`), on the replies the
 * system reads most, in the same run, alternating. CPU of this process per call; Redis's
 * work is the same for both.
 *
 *   admit answers of a batch of 8   an array of 8 arrays of 8 (admit.lua's reply to the door)
 *   100 events of a drop's log      XRANGE of 100 entries of 8 fields (the event log's drain)
 *   a ticket's hash                 HGETALL of 12 fields (a poll)
 *   a small reply                   GET of a missing key
 *
 * `node bench/redis-client.ts [--redis-url URL] [--rounds N]`; keys under `bench:rc:`,
 * removed at the end. bench/README.md, "Measured choices in the code", has a run.
 */
const { values: flags } = parseArgs({
  options: { 'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' }, rounds: { type: 'string', default: '3' } },
});
const url = flags['redis-url'];
const rounds = Number(flags.rounds);
const LOG = 'bench:rc:log';
const TICKET = 'bench:rc:ticket';
const ADMIT_LIKE = `local out = {}
for i = 1, tonumber(ARGV[1]) do out[i] = {'created', '5-abcdefghijklmnop' .. i, i, 1000, '0', -1, 0, 1796067525997} end
return out`;

type Client = {
  xrange(key: string, start: string, end: string, count: 'COUNT', n: number): Promise<unknown>;
  hgetall(key: string): Promise<unknown>;
  get(key: string): Promise<unknown>;
  eval(script: string, keys: number, ...args: (string | number)[]): Promise<unknown>;
  quit(): Promise<unknown>;
};

const setup = new Redis5(url);
await setup.del(LOG, TICKET);
for (let i = 0; i < 100; i++) {
  await setup.xadd(LOG, '*', 'e', 'admitted', 't', `5-abcdefghijklmno${i % 10}`, 'u', `b-${i}`, 'q', '1', 's', String(i), 'x', 'pm_card_ok', 'h', 'f'.repeat(40));
}
await setup.hset(TICKET, {
  user: 'b-1', qty: 1, pm: 'pm_card_ok', status: 'paid', seq: 17, created: Date.now(), rid: 'abcdefghijklmnop',
  job: 'adm-5-1', resAt: Date.now(), updated: Date.now(), pay: 'pay-5-abcdefghijklmnop', order: 123,
});

const calls: [string, number, (c: Client) => Promise<unknown>][] = [
  ['admit answers of a batch of 8', 10_000, (c) => c.eval(ADMIT_LIKE, 0, 8)],
  ['100 events of a drop\'s log', 1_500, (c) => c.xrange(LOG, '-', '+', 'COUNT', 100)],
  ['a ticket\'s hash', 15_000, (c) => c.hgetall(TICKET)],
  ['a small reply', 20_000, (c) => c.get('bench:rc:none')],
];

/** CPU µs of this process per call, 16 calls in flight. */
async function cost(client: Client, n: number, call: (c: Client) => Promise<unknown>): Promise<number> {
  const run = async (count: number) => {
    for (let i = 0; i < count; i += 16) await Promise.all(Array.from({ length: Math.min(16, count - i) }, () => call(client)));
  };
  await run(Math.ceil(n / 10));
  const cpu = process.cpuUsage();
  await run(n);
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / n;
}

const v5 = new Redis5(url) as unknown as Client;
const v6 = new Redis6(url) as unknown as Client;
for (const [name, n, call] of calls) {
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    a.push(await cost(v5, n, call));
    b.push(await cost(v6, n, call));
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const m5 = median(a);
  const m6 = median(b);
  console.log(`${name.padEnd(32)} ioredis 5: ${m5.toFixed(1).padStart(7)} µs   ioredis 6: ${m6.toFixed(1).padStart(7)} µs   6 ÷ 5: ${(m6 / m5).toFixed(2)}x`);
}
await setup.del(LOG, TICKET);
await Promise.all([setup.quit(), v5.quit(), v6.quit()]);

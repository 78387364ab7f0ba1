import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

/** What one benchmark run does; every field has a flag (see bench/README.md). */
export type Settings = {
  buyers: number;
  units: number;
  /** Requests in flight from the load generator (its keep-alive connections). */
  concurrency: number;
  generalRate: number;
  idleSeconds: number;
  port: number;
  metricsPort: number;
  basePort: number;
  shopPort: number;
  /** The baseline's second bare server, for its general buyers. */
  bareShopPort: number;
  redisUrl: string;
  /** Drops opening at once, the units shared out among them (buyers go to each in turn). */
  drops: number;
  /** --cluster: run on a local 3-master Redis Cluster of the bench's own. */
  cluster: boolean;
  /** Seeds of that cluster (set by the run), empty on one server. */
  clusterNodes: string;
  mysqlUrl: string;
  database: string;
  prefix: string;
  basePrefix: string;
  admissionRate: number;
  stockConcurrency: number;
  paymentConcurrency: number;
  paymentLatencyMs: number;
  paymentHoldMs: number;
  userRateLimit: number;
  baseline: boolean;
  /** Baseline + drop pairs to run; the quietest is shown. */
  rounds: number;
  verify: boolean;
  /** The pure-admission phase (bench/admission.ts): seconds of each timed rush, and tokens signed for it. */
  admission: boolean;
  admissionOnly: boolean;
  admissionSeconds: number;
  admissionTokens: number;
  keep: boolean;
  /** Write V8 CPU profiles of the API and the workers to <outDir>/profiles. */
  profile: boolean;
  /**
   * General buyers on an API process of their own (the shop pool, port + 3), as
   * docker-compose.yml deploys them; false: on the drop's API, like `npm start`.
   */
  shopApi: boolean;
  /**
   * Niceness of the drop's API (and of the bare API in the baseline), as
   * docker-compose.yml gives the drop pool a lower CPU weight. 0: every process equal.
   */
  nice: number;
  timeoutS: number;
  outDir: string;
  jwtSecret: string;
  adminUser: string;
  adminPassword: string;
};

const FLAGS = {
  buyers: { type: 'string', default: '100000' },
  units: { type: 'string', default: '10000' },
  concurrency: { type: 'string', default: '64' },
  'general-rate': { type: 'string', default: '50' },
  'idle-seconds': { type: 'string', default: '8' },
  port: { type: 'string', default: '3900' },
  /** Empty: the bench starts its own redis-server, configured like docker-compose.yml's. */
  'redis-url': { type: 'string', default: '' },
  /** A local Redis Cluster of three masters (ports port+20..22) instead of one server. */
  cluster: { type: 'boolean', default: false },
  /** Several drops at once (on a cluster, placed over the shards). */
  drops: { type: 'string', default: '1' },
  'mysql-url': { type: 'string', default: 'mysql://root@127.0.0.1:3306' },
  database: { type: 'string', default: 'drops_bench' },
  prefix: { type: 'string', default: 'bench' },
  rate: { type: 'string', default: '100000' },
  'stock-concurrency': { type: 'string', default: '16' },
  /**
   * Payments in flight per worker process. The system's default (64) with the simulated
   * provider's 30 ms caps sales at about 2,100/s, a pace a fast machine reaches before it
   * runs out of CPU: like --rate, the bench lifts it, to measure what the work costs.
   */
  'payment-concurrency': { type: 'string', default: '256' },
  'payment-latency': { type: 'string', default: '30' },
  'payment-hold': { type: 'string', default: '120000' },
  'user-rate-limit': { type: 'string', default: '10' },
  'no-baseline': { type: 'boolean', default: false },
  rounds: { type: 'string', default: '3' },
  'no-verify': { type: 'boolean', default: false },
  /** Pure admission: every request really queues a ticket (see bench/README.md). */
  'no-admission': { type: 'boolean', default: false },
  'admission-only': { type: 'boolean', default: false },
  'admission-seconds': { type: 'string', default: '6' },
  /** Buyers signed for the pure-admission rushes; 0: admission-seconds × 40,000. */
  'admission-tokens': { type: 'string', default: '0' },
  keep: { type: 'boolean', default: false },
  profile: { type: 'boolean', default: false },
  'one-api': { type: 'boolean', default: false },
  nice: { type: 'string', default: '10' },
  /** Seconds the drop (and the bare worker) may take to settle after the rush's last answer. */
  timeout: { type: 'string', default: '180' },
  out: { type: 'string', default: 'bench-results' },
  help: { type: 'boolean', default: false },
} as const;

export function parseSettings(argv: string[]): Settings {
  const { values: v } = parseArgs({ args: argv, options: FLAGS, strict: true });
  if (v.help) {
    console.log(`usage: npm run bench -- [--buyers N] [--units N] [--concurrency N] ...\n${Object.entries(FLAGS)
      .map(([k, o]) => `  --${k}${o.type === 'string' ? ` (default ${o.default})` : ''}`).join('\n')}`);
    process.exit(0);
  }
  const int = (name: keyof typeof v, min = 1) => {
    const n = Number(v[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min} (got ${v[name]})`);
    return n;
  };
  if (v['admission-only'] && v['no-admission']) throw new Error('--admission-only and --no-admission exclude each other');
  const port = int('port');
  return {
    buyers: int('buyers'),
    units: int('units'),
    concurrency: int('concurrency'),
    generalRate: int('general-rate'),
    idleSeconds: int('idle-seconds', 2),
    port,
    metricsPort: port + 1,
    basePort: port + 2,
    shopPort: port + 3,
    bareShopPort: port + 4,
    redisUrl: String(v['redis-url']),
    cluster: Boolean(v.cluster),
    drops: int('drops'),
    clusterNodes: '',
    mysqlUrl: String(v['mysql-url']).replace(/\/+$/, ''),
    database: String(v.database),
    prefix: String(v.prefix),
    basePrefix: `${v.prefix}-base`,
    admissionRate: int('rate'),
    stockConcurrency: int('stock-concurrency'),
    paymentConcurrency: int('payment-concurrency'),
    paymentLatencyMs: int('payment-latency', 0),
    paymentHoldMs: int('payment-hold', 100),
    userRateLimit: int('user-rate-limit'),
    baseline: !v['no-baseline'],
    rounds: int('rounds'),
    verify: !v['no-verify'],
    admission: !v['no-admission'],
    admissionOnly: Boolean(v['admission-only']),
    admissionSeconds: int('admission-seconds'),
    admissionTokens: int('admission-tokens', 0) || int('admission-seconds') * 40_000,
    keep: Boolean(v.keep),
    profile: Boolean(v.profile),
    shopApi: !v['one-api'],
    nice: Math.min(int('nice', 0), 19),
    timeoutS: int('timeout'),
    outDir: String(v.out),
    jwtSecret: randomBytes(24).toString('base64url'),
    adminUser: 'bench-admin',
    adminPassword: randomBytes(12).toString('base64url'),
  };
}

/** The system's environment (shared/config.ts validates it). */
export function systemEnv(s: Settings): Record<string, string> {
  return {
    NODE_ENV: 'production',
    PORT: String(s.port),
    METRICS_PORT: String(s.metricsPort),
    REDIS_URL: s.redisUrl,
    ...(s.clusterNodes && { REDIS_CLUSTER_NODES: s.clusterNodes }),
    DATABASE_URL: `${s.mysqlUrl}/${s.database}`,
    KEY_PREFIX: s.prefix,
    JWT_SECRET: s.jwtSecret,
    ADMIN_USER: s.adminUser,
    ADMIN_PASSWORD: s.adminPassword,
    ADMISSION_RATE_PER_SEC: String(s.admissionRate),
    STOCK_CONCURRENCY: String(s.stockConcurrency),
    PAYMENT_CONCURRENCY: String(s.paymentConcurrency),
    PAYMENT_LATENCY_MS: String(s.paymentLatencyMs),
    PAYMENT_HOLD_MS: String(s.paymentHoldMs),
    USER_RATE_LIMIT_PER_SEC: String(s.userRateLimit),
  };
}

/** One progress line on stderr (stdout carries only the final table). */
export function line(text: string): void {
  process.stderr.write(`${text}\n`);
}

/**
 * Node flags for one of the system's processes: the flags its npm script runs it with
 * (package.json: `start`, `start:api`, `start:workers`, the heap limits), so the bench runs
 * what users run; CPU profiles with --profile.
 */
export function nodeArgs(s: Pick<Settings, 'profile' | 'outDir'>, entry: string): string[] {
  const scripts = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const command = Object.values(scripts).find((c) => c.startsWith('node ') && c.endsWith(` ${entry}`));
  if (!command) throw new Error(`no npm script runs ${entry}`);
  const deployed = command.slice('node '.length, -entry.length).trim().split(/\s+/).filter(Boolean);
  return [...deployed, ...profileArgs(s)];
}

/** With --profile, the Node flags that write a process's V8 CPU profile to <outDir>/profiles (as `name`, if given). */
export function profileArgs(s: Pick<Settings, 'profile' | 'outDir'>, name?: string): string[] {
  if (!s.profile) return [];
  return ['--cpu-prof', `--cpu-prof-dir=${s.outDir}/profiles`, ...(name ? [`--cpu-prof-name=${name}`] : [])];
}

/**
 * General buyers to sign up for a phase: enough for the idle window, the rush (at no less
 * than 2,000 buyers a second, however slow the machine) and `--timeout` after it.
 */
export const generalBuyerCount = (s: Settings): number =>
  s.generalRate * (s.idleSeconds + Math.ceil(s.buyers / 2_000) + s.timeoutS + 60);

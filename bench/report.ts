import type { BaselineResult } from './baseline.ts';
import type { DropResult } from './drop.ts';
import type { Settings } from './settings.ts';
import { round } from './stats.ts';

export type Machine = { cpu: string; cores: number; memoryGb: number; node: string; redis: string; mysql: string };
export type Checks = Record<string, { ok: boolean; detail: string }>;

/** A target's row also has `goal`: its short name and the value held against the target. */
type Row = { metric: string; drop: string; baseline: string; ratio: string; target: string; met?: boolean; goal?: string };

const MB = (b: number) => `${round(b / 2 ** 20, 0)} MB`;
const ms = (n: number) => `${round(n, 1)} ms`;
const cores = (c: Record<string, number>) => Object.entries(c).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ') || 'under 0.5 s';
/** Not the drop's cost: the clients, the orchestrator, the rest of the machine, the shop's API (general buyers). */
const NOT_THE_DROP = new Set(['loadgen', 'bench', 'other', 'shop']);
const ours = (c: Record<string, number>) => Object.entries(c).reduce((n, [k, v]) => (NOT_THE_DROP.has(k) ? n : n + v), 0);

/**
 * CPU time the processes under test (API, workers, Redis, MySQL; not the load generator)
 * spent per buyer, in µs: on a 2-core box that is what bounds throughput.
 */
export function cpuPerBuyer(d: DropResult, b: BaselineResult | null, buyers: number) {
  const rushS = d.admission.durationMs / 1000;
  const drop = ((ours(d.cpu.rush) * rushS + ours(d.cpu.settle) * Math.max(0, d.settledSeconds - rushS)) / buyers) * 1e6;
  return { drop, baseline: b ? ((ours(b.cpu) * b.drain.seconds) / buyers) * 1e6 : NaN };
}
const n0 = (n: number) => Math.round(n).toLocaleString('en-US');

/** The rows of the results table; ratios are drop ÷ baseline from the same run. */
export function rows(d: DropResult, b: BaselineResult | null): Row[] {
  const cpu = cpuPerBuyer(d, b, d.admission.sent);
  const admitRatio = b ? d.admission.perSecond / b.admission.perSecond : NaN;
  const settleRatio = b ? d.settledPerSecond / b.drain.perSecond : NaN;
  const generalRatio = d.general.drop.p99 / d.general.idle.p99;
  const bareGeneralRatio = b ? b.general.drop.p99 / b.general.idle.p99 : NaN;
  const ratio = (r: number) => (Number.isFinite(r) ? `${round(r, 2)}x` : '-');
  return [
    { metric: 'admission throughput (requests/s)', drop: n0(d.admission.perSecond), baseline: b ? `${n0(b.admission.perSecond)} (bare Koa + queue.add)` : '-',
      ratio: ratio(admitRatio), target: '>= 0.8x', met: admitRatio >= 0.8, goal: b ? `admission ${ratio(admitRatio)}` : undefined },
    { metric: 'admission latency p50 / p99', drop: `${ms(d.admission.latency.p50)} / ${ms(d.admission.latency.p99)}`,
      baseline: b ? `${ms(b.admission.latency.p50)} / ${ms(b.admission.latency.p99)}` : '-', ratio: '', target: '' },
    { metric: 'time until every ticket is terminal', drop: `${round(d.allTerminalSeconds, 2)} s`, baseline: '', ratio: '', target: '' },
    { metric: 'buyers settled per second', drop: n0(d.settledPerSecond), baseline: b ? `${n0(b.drain.perSecond)} (bare worker, no-op jobs)` : '-',
      ratio: ratio(settleRatio), target: '>= 0.8x', met: settleRatio >= 0.8, goal: b ? `settled ${ratio(settleRatio)}` : undefined },
    { metric: 'general purchase p99: idle / during the drop', drop: `${ms(d.general.idle.p99)} / ${ms(d.general.drop.p99)}`,
      baseline: b ? `${ms(b.general.idle.p99)} / ${ms(b.general.drop.p99)} = ${ratio(bareGeneralRatio)} (bare shop)` : '-',
      ratio: ratio(generalRatio), target: '<= 1.5x', met: generalRatio <= 1.5,
      goal: `general p99 ${ratio(generalRatio)}${b ? ` (bare ${ratio(bareGeneralRatio)})` : ''}` },
    { metric: 'CPU per buyer: API + workers + Redis + MySQL', drop: `${n0(cpu.drop)} µs`, baseline: b ? `${n0(cpu.baseline)} µs` : '-',
      ratio: ratio(cpu.drop / cpu.baseline), target: '' },
    { metric: 'peak RSS: API / workers', drop: `${MB(d.peakRss.api)} / ${MB(d.peakRss.workers)}`,
      baseline: b ? `${MB(b.peakRss.api)} / ${MB(b.peakRss.worker)}` : '-', ratio: '', target: '' },
    { metric: 'Redis memory per waiting ticket', drop: `${n0(d.redisBytesPerWaitingTicket)} B (${n0(d.footprint?.waiting ?? 0)} waiting)`,
      baseline: b ? `${n0(b.redisBytesPerWaitingJob)} B per bare job` : '-', ratio: '', target: '< 1024 B',
      met: d.redisBytesPerWaitingTicket > 0 && d.redisBytesPerWaitingTicket < 1024,
      goal: `Redis per waiting ticket ${n0(d.redisBytesPerWaitingTicket)} B` },
  ];
}

export function markdown(s: Settings, m: Machine, d: DropResult, b: BaselineResult | null, checks: Checks, which = ''): string {
  const table = rows(d, b).map((r) =>
    `| ${r.metric} | ${r.drop} | ${r.baseline} | ${r.ratio} | ${r.target}${r.met === undefined ? '' : r.met ? ' ✅' : ' ❌'} |`);
  const outcomes = Object.entries(d.admission.outcomes).map(([k, v]) => `${k}: ${n0(v)}`).join(', ');
  return [
    `${s.drops > 1 ? `${s.drops} drops at once, together ` : 'Drop of '}**${n0(s.buyers)} buyers for ${n0(s.units)} units**, load generator concurrency ${s.concurrency}, ` +
      `${m.cores} × ${m.cpu}, ${m.memoryGb} GB RAM, Node ${m.node}, Redis ${m.redis}, MariaDB ${m.mysql}` +
      `${which ? ` (${which})` : ''}.`,
    '',
    '| metric | drop admission | baseline | ratio | target |',
    '|---|---|---|---|---|',
    ...table,
    '',
    `Admission answers: ${outcomes}. Tickets: ${Object.entries(d.stats.tickets).map(([k, v]) => `${k} ${n0(v)}`).join(', ')}. ` +
      `Every ticket terminal after ${round(d.allTerminalSeconds, 2)} s, admission queue empty after ${round(d.settledSeconds, 2)} s.`,
    '',
    `Redis at the peak: ${n0(d.peak.queued)} tickets waiting (${n0(d.peak.parked)} parked after their admission job, ` +
      `${n0(d.peak.jobsWaiting)} admission jobs not yet picked up), ${MB(d.peak.usedMemory)} in use.` +
      (d.footprint ? ` A waiting ticket: hash ${n0(d.footprint.ticket)} B, queued and parked sets ${n0(d.footprint.queues)} B, ` +
        `live map ${n0(d.footprint.live)} B, admission jobs ${n0(d.footprint.job)} B (MEMORY USAGE).` : '') +
      ` The whole instance grew by ${n0(d.redisGrowthPerWaitingTicket)} B per waiting ticket (paid tickets, payment jobs and ` +
      `event streams included)${b ? `; the baseline's by ${n0(b.redisGrowthPerWaitingJob)} B per waiting job` : ''}.`,
    '',
    `Cores busy during the rush: ${cores(d.cpu.rush)}; after it, until settled: ${cores(d.cpu.settle)}` +
      (b ? `; baseline (rush and drain): ${cores(b.cpu)}.` : '.'),
    '',
    `Checks: ${Object.entries(checks).map(([k, c]) => `${c.ok ? '✅' : '❌'} ${k} (${c.detail})`).join('; ')}.`,
    '',
    `Settings: ADMISSION_RATE_PER_SEC=${s.admissionRate}, STOCK_CONCURRENCY=${s.stockConcurrency}, ` +
      `PAYMENT_CONCURRENCY=${s.paymentConcurrency}, PAYMENT_LATENCY_MS=${s.paymentLatencyMs}, general buyers ${s.generalRate}/s ` +
      `${s.shopApi ? 'on an API process of their own (the shop pool)' : 'on the drop\'s API'}; ` +
      `${s.nice ? `the drop's API (and the bare API) at nice ${s.nice}` : 'every process at the same priority'}.`,
  ].join('\n');
}

/** Every target of every round, so the rounds the table does not show are not hidden. */
export function everyRound(rounds: { index: number; drop: DropResult; baseline: BaselineResult | null }[]): string {
  return `Every round: ${rounds.map((r) => `round ${r.index}: ${rows(r.drop, r.baseline).filter((row) => row.goal)
    .map((row) => `${row.goal}${row.met ? ' ✅' : ' ❌'}`).join(', ')}`).join('; ')}.`;
}

/** The table for a terminal: aligned columns, no markdown. */
export function text(d: DropResult, b: BaselineResult | null): string {
  const all = [{ metric: 'metric', drop: 'drop admission', baseline: 'baseline', ratio: 'ratio', target: 'target' } as Row, ...rows(d, b)];
  const keys = ['metric', 'drop', 'baseline', 'ratio', 'target'] as const;
  const width = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  return all.map((r) => keys.map((k, i) => r[k].padEnd(width[i])).join('  ') +
    (r.met === undefined ? '' : r.met ? '  met' : '  MISSED')).join('\n');
}

import { TARGET_NAMES, type AdmissionRound, type AdmissionRun, type AdmissionTarget } from './admission.ts';
import type { BaselineResult } from './baseline.ts';
import type { DropResult } from './drop.ts';
import type { Settings } from './settings.ts';
import { round, summarize } from './stats.ts';

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
      // Met when the rise over idle is no larger than the bare shop's in the same round.
      ratio: ratio(generalRatio), target: b ? '<= the bare shop\'s' : '-', met: b ? generalRatio <= bareGeneralRatio : undefined,
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
      `Every ticket terminal after ${round(d.allTerminalSeconds, 2)} s (the rush's last answer after ${round(d.admission.durationMs / 1000, 2)} s), ` +
      `admission queue empty after ${round(d.settledSeconds, 2)} s.`,
    '',
    `Redis at the peak: ${n0(d.peak.queued)} tickets waiting (${n0(d.peak.parked)} parked after their admission job, ` +
      `${n0(d.peak.jobsWaiting)} admission jobs not yet picked up), ${MB(d.peak.usedMemory)} in use.` +
      (d.footprint ? ` A waiting ticket: hash ${n0(d.footprint.ticket)} B, queued, pending and parked sets ${n0(d.footprint.queues)} B, ` +
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

/** Pure admission (bench/admission.ts): one row per target and round, system ÷ bare from the same round. */
const TARGETS: AdmissionTarget[] = ['single', 'split', 'bareQueue', 'bareEval'];
const ADMISSION_HEAD = ['round', 'target', '202s / requests', 'requests/s', 'after 1st s', 'p50 / p99', '÷ bare queue.add', '÷ bare EVALSHA', 'server CPU / request', 'cores busy'];

/** The failures of a run: any answer but 202, a 202 not recorded, a rush that ran out of buyers. */
export function admissionFailures(r: AdmissionRun): string[] {
  const out = Object.entries(r.failures).map(([k, v]) => `${n0(v)} × ${k}`);
  if (r.recorded !== r.accepted) out.push(`${n0(r.recorded)} recorded for ${n0(r.accepted)} × 202`);
  if (r.rush.unused === 0) out.push('ran out of buyers before the deadline (raise --admission-tokens)');
  return out;
}

/** Requests/s once the first second (cold code, new connections) is over; NaN for a rush under 1.5 s. */
export function warmPerSecond(r: AdmissionRun): number {
  const seconds = r.rush.durationMs / 1000 - 1;
  return seconds < 0.5 ? NaN : (r.rush.sent - (r.rush.answersPerSecond[0] ?? 0)) / seconds;
}

function admissionRows(rounds: AdmissionRound[]): string[][] {
  const ratio = (a?: AdmissionRun, b?: AdmissionRun) => (a && b ? `${round(a.rush.perSecond / b.rush.perSecond, 2)}x` : '-');
  return rounds.flatMap((rd) => TARGETS.filter((t) => rd.runs[t]).map((t) => {
    const r = rd.runs[t]!;
    const system = t === 'single' || t === 'split';
    const bad = admissionFailures(r);
    return [String(rd.index), TARGET_NAMES[t], `${n0(r.accepted)} / ${n0(r.rush.sent)} ${bad.length ? `FAILED: ${bad.join(', ')}` : 'ok'}`,
      n0(r.rush.perSecond), Number.isFinite(warmPerSecond(r)) ? n0(warmPerSecond(r)) : '-', `${ms(r.rush.latency.p50)} / ${ms(r.rush.latency.p99)}`,
      system || t === 'bareEval' ? ratio(r, rd.runs.bareQueue) : '', system ? ratio(r, rd.runs.bareEval) : '',
      `${n0(r.cpuPerRequestUs)} µs`, cores(r.cpu)];
  }));
}

/**
 * Where each target's CPU goes, per request: each process's share of the cores over its
 * rush ÷ its requests per second, the median over the rounds (nearest rank, as the bench's
 * other percentiles), the load generator and the rest of the machine included, since the
 * box is full and the ratio follows the total.
 */
export function admissionCosts(rounds: AdmissionRound[]): string[][] {
  return TARGETS.flatMap((t) => {
    const runs = rounds.map((rd) => rd.runs[t]).filter((r): r is AdmissionRun => r !== undefined && r.rush.perSecond > 0);
    if (runs.length === 0) return [];
    const perRequest = (r: AdmissionRun, k: string) => ((r.cpu[k] ?? 0) / r.rush.perSecond) * 1e6;
    const names = [...new Set(runs.flatMap((r) => Object.keys(r.cpu)))].filter((k) => k !== 'bench');
    const parts = names.map((k) => [k, summarize(runs.map((r) => perRequest(r, k))).p50] as const);
    const all = summarize(runs.map((r) => names.reduce((sum, k) => sum + perRequest(r, k), 0))).p50;
    return [[TARGET_NAMES[t], parts.map(([k, v]) => `${k} ${n0(v)}`).join(', '), `${n0(all)} µs`]];
  });
}

/** The system's ratios per round and deployment, on one line. */
export function admissionRatios(rounds: AdmissionRound[]): string {
  const by = (rate: (x: AdmissionRun) => number) => (a?: AdmissionRun, b?: AdmissionRun) => (a && b ? `${round(rate(a) / rate(b), 2)}x` : '-');
  const line = (r: ReturnType<typeof by>) => rounds.map((rd) => `round ${rd.index}: one process ` +
    `${r(rd.runs.single, rd.runs.bareQueue)}, ${r(rd.runs.single, rd.runs.bareEval)}; apart ${r(rd.runs.split, rd.runs.bareQueue)}, ` +
    `${r(rd.runs.split, rd.runs.bareEval)}`).join('; ');
  return `Pure admission, system ÷ bare (queue.add, EVALSHA): ${line(by((x) => x.rush.perSecond))}. ` +
    `After the first second: ${line(by(warmPerSecond))}.`;
}

export function admissionMarkdown(s: Settings, rounds: AdmissionRound[]): string {
  return [
    `**Pure admission**: a reserve product with 5,000,000 units, open, admission rate 1/s, every request a new buyer ` +
      `(\`a-<n>\`, ${n0(s.admissionTokens)} tokens signed) who must get a \`202\`; each target rushed for ${s.admissionSeconds} s ` +
      `at concurrency ${s.concurrency}, system and bare alternating${s.nice ? `, the serving process at nice ${s.nice}` : ''}.`,
    '',
    `| ${ADMISSION_HEAD.join(' | ')} |`,
    `|${ADMISSION_HEAD.map(() => '---').join('|')}|`,
    ...admissionRows(rounds).map((r) => `| ${r.join(' | ')} |`),
    '',
    admissionRatios(rounds),
    '',
    `CPU per request by process, µs (median of ${rounds.length} round${rounds.length === 1 ? '' : 's'}; the bench's own process left out):`,
    '',
    '| target | by process | all |',
    '|---|---|---|',
    ...admissionCosts(rounds).map((r) => `| ${r.join(' | ')} |`),
    '',
    '"after 1st s": requests/s once the first second (cold code, new connections) is over. ' +
      'Server CPU / request: the target\'s processes, Redis and MySQL (not the load generator) over the rush, per request. ' +
      '`other` is the rest of the machine: above ~0.1 of a core, the run was disturbed. The bare queue.add server is the ' +
      'issue\'s baseline without @koa/router (the floor); the bare EVALSHA server is one round trip of a minimal admission script.',
  ].join('\n');
}

/** The pure-admission table for a terminal. */
export function admissionText(rounds: AdmissionRound[]): string {
  const all = [ADMISSION_HEAD, ...admissionRows(rounds)];
  const width = ADMISSION_HEAD.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => c.padEnd(width[i])).join('  ').trimEnd()).join('\n');
}

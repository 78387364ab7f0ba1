import { loadConfigOrExit } from '../shared/config.ts';
import { closeDeps, createDeps } from '../shared/deps.ts';
import { auditDrop } from '../shared/domain/audit/audit.ts';

/**
 * `npm run audit -- <productId> [--json]`: replays a drop's event log from MySQL and prints
 * the verdict (docs/event-log.md); exits 1 when the log shows any violation, 2 on misuse.
 */
const args = process.argv.slice(2);
const id = args.find((a) => !a.startsWith('--'));
if (!id || !/^[1-9][0-9]{0,9}$/.test(id)) {
  console.error('usage: npm run audit -- <productId> [--json]');
  process.exit(2);
}
const config = loadConfigOrExit();
const deps = await createDeps({ ...config, LOG_LEVEL: 'warn' }, 'audit', 'producer');
let ok = false;
try {
  const report = await auditDrop(deps, Number(id));
  ok = report.ok;
  if (args.includes('--json')) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    const { tickets, stock, lottery } = report;
    console.log(`drop ${id}: ${report.events} events replayed in ${report.tookMs} ms (${report.drained} drained from Redis first)`);
    console.log(`  tickets: ${tickets.admitted} admitted (${tickets.preQueued} pre-queued); ${Object.entries(tickets.byStatus).map(([s, n]) => `${s} ${n}`).join(', ')}`);
    console.log(`  stock: total ${stock.total}, sold ${stock.sold}, reserved ${stock.reserved}, available ${stock.available}`);
    console.log(`  refused at the door: ${Object.entries(report.refusals).map(([c, n]) => `${c} ${n}`).join(', ') || 'none'}`);
    console.log(`  lottery: ${lottery.commitment ? `commitment ${lottery.commitment}, ${lottery.seedRevealed ? (lottery.verified ? 'seed verified' : 'seed does NOT verify') : 'seed not revealed yet'}` : 'none'}`);
    for (const v of report.violations) console.log(`  VIOLATION ${v.code}${v.eventId ? ` at ${v.eventId}` : ''}: ${v.message}`);
    if (report.violationCount > report.violations.length) console.log(`  ... and ${report.violationCount - report.violations.length} more`);
    console.log(report.ok ? 'verdict: OK' : `verdict: ${report.violationCount} violation(s)`);
  }
} catch (err) {
  console.error(`audit failed: ${(err as Error).message}`);
  process.exitCode = 2;
} finally {
  await closeDeps(deps);
}
if (process.exitCode === undefined) process.exit(ok ? 0 : 1);
process.exit(process.exitCode);

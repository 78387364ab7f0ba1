/**
 * What mysql2's formatter costs on a statement MikroORM has already formatted (no values
 * left to fill): the walk `shared/db/orm.ts`'s `queryFormat` skips. One event-log drain
 * insert of `--rows` rows (the drain's 2,000 by default), built with mysql2's `format` as
 * `shared/db/events.repository.ts` builds it, then formatted again with no values, as
 * mysql2 did before every statement; prints both per row, warm, for `--rounds` rounds.
 *   npx node bench/sql-rescan.ts
 */
import { parseArgs } from 'node:util';
import { format } from 'mysql2';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '5' } } });
const n = Number(values.rows);
const INSERT = 'insert ignore into drop_events (product_id, event_ms, event_seq, type, ticket_id, user_id, qty, order_key, extra, hash) values ?';
const rows = Array.from({ length: n }, (_, i) => [1, '1764590000000', i, 'admitted', `t_${'x'.repeat(22)}${i}`, `a-${i}`, 1, String(i), 'pm_card_ok', 'f'.repeat(64)]);
const perRow = (run: () => unknown, times = 100) => {
  const t0 = performance.now();
  for (let i = 0; i < times; i++) run();
  return (((performance.now() - t0) / times) * 1000) / n;
};
let sql = format(INSERT, [rows]);
for (let r = 0; r < Number(values.rounds); r++) {
  const build = perRow(() => { sql = format(INSERT, [rows]); });
  const rescan = perRow(() => format(sql, []));
  console.log(`${n} rows, ${sql.length} characters: building the insert ${build.toFixed(2)} µs a row; mysql2 formatting it again with no values ${rescan.toFixed(2)} µs a row (${((100 * rescan) / build).toFixed(0)}% of the build)`);
}

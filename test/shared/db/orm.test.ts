import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { format } from 'mysql2';
import type { Pool } from 'mysql2';
import { createTestContext, type TestContext } from '../../setup/context.ts';
import { queryFormat } from '../../../shared/db/orm.ts';

const AWKWARD = ["it's", 'back\\slash', 'a "quote"', '? and ??', 'tab\tnew\nline\r', 'nul\0byte', 'ctrl-z\x1a', 'ünï©ødé 🎟', "'); select sleep(5); --", ''];

/**
 * The connection under MikroORM (shared/db/orm.ts): mysql2 no longer rescans statements
 * MikroORM has already formatted, and every value still reaches MySQL exactly, through
 * MikroORM's parameters and through mysql2's own.
 */
describe('the ORM connection', () => {
  let ctx: TestContext;
  let pool: Pool;
  beforeAll(async () => {
    ctx = await createTestContext('orm-connection');
    pool = await ctx.deps.orm.em.getConnection().getNativeClient() as unknown as Pool;
  });
  afterAll(async () => {
    await ctx.close();
  });

  const viaPool = (sql: string, values?: unknown[]) => new Promise<Record<string, unknown>[]>((resolve, reject) => {
    pool.query(sql, values, (err, rows) => (err ? reject(err) : resolve(rows as Record<string, unknown>[])));
  });

  it('is the pool mysql2 runs MikroORM statements on', () => {
    expect((pool as unknown as { config: { connectionConfig: { queryFormat: unknown } } }).config.connectionConfig.queryFormat).toBe(queryFormat);
  });

  it('sends a statement without values as it is, question marks included', async () => {
    const sql = "select 'a?b' as s, '??' as t, ? as u";
    expect(queryFormat.call({ config: {} }, sql, [])).toBe(sql);
    expect(queryFormat.call({ config: {} }, sql, undefined)).toBe(sql);
    expect(format(sql, [])).toBe(sql); // what mysql2 returned for it, after walking it
    const [row] = await ctx.deps.orm.em.getConnection().execute("select 'a?b' as s, '??' as t, 'it''s' as u");
    expect(row).toEqual({ s: 'a?b', t: '??', u: "it's" });
  });

  it.each(AWKWARD.map((v) => [JSON.stringify(v), v]))('carries %s exactly through MikroORM parameters and mysql2 values', async (_, value) => {
    const [orm] = await ctx.deps.orm.em.getConnection().execute('select ? as v, ? as n', [value, 7]);
    expect(orm).toEqual({ v: value, n: 7 });
    const [native] = await viaPool('select ? as v, ?? as n from (select 7 as `x`) t', [value, 'x']);
    expect(native).toEqual({ v: value, n: 7 });
  });

  it('formats with values as mysql2 itself does, with the connection settings', () => {
    const sql = 'insert into t (a, b) values ? on duplicate key update ?';
    const values = [[[1, "o'k"], [2, new Date(Date.UTC(2026, 0, 2, 3, 4, 5))]], { b: 'x' }];
    expect(queryFormat.call({ config: { stringifyObjects: false } }, sql, values, 'Z')).toBe(format(sql, values, false, 'Z'));
  });
});

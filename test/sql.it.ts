/**
 * Prepared statements against the real database: a migration that changes what a statement returns (a rolling
 * upgrade: the new version migrates while the old one runs) must not break the statements already prepared.
 */
import { joinJsonTexts, Sql, splitJsonTexts } from '../libs/db/sql';
import { useMigratedDatabase } from './support/harness';

const database = useMigratedDatabase();
let sql: Sql;

beforeAll(() => {
  sql = new Sql(database.source);
});

/** Runs a statement on both connections of the pool at once, so each has it prepared. */
const onBoth = (text: string) => Promise.all([sql.rows(text), sql.rows(text)]);

describe('Sql, after a migration changes what a prepared statement returns', () => {
  it('runs the statement again, prepared anew, on every connection', async () => {
    await database.db.query('CREATE TABLE plain (a int)');
    await database.db.query('INSERT INTO plain VALUES (1)');
    expect(await onBoth('SELECT * FROM plain')).toEqual([[{ a: 1 }], [{ a: 1 }]]);
    await database.db.query('ALTER TABLE plain ADD COLUMN b int DEFAULT 7');
    expect(await onBoth('SELECT * FROM plain')).toEqual([[{ a: 1, b: 7 }], [{ a: 1, b: 7 }]]);
    await database.db.query('ALTER TABLE plain ALTER COLUMN b TYPE text');
    expect(await onBoth('SELECT * FROM plain')).toEqual([[{ a: 1, b: '7' }], [{ a: 1, b: '7' }]]);
  });

  it('runs a transaction again, prepared anew', async () => {
    await database.db.query('CREATE TABLE tx (a int)');
    const insertAndRead = (a: number) =>
      sql.transaction(async (tx) => {
        await tx.rows('INSERT INTO tx (a) VALUES ($1)', [a]);
        return tx.rows('SELECT * FROM tx ORDER BY a');
      });
    expect(await insertAndRead(1)).toEqual([{ a: 1 }]);
    await database.db.query('ALTER TABLE tx ADD COLUMN b int DEFAULT 7');
    // the first try is rolled back when its read is refused, so the row goes in once
    expect(await insertAndRead(2)).toEqual([{ a: 1, b: 7 }, { a: 2, b: 7 }]);
  });

  it('still fails a statement the migration really broke', async () => {
    await database.db.query('CREATE TABLE broken (a int, b int)');
    expect(await sql.rows('SELECT a, b FROM broken')).toEqual([]);
    await database.db.query('ALTER TABLE broken DROP COLUMN b');
    await expect(sql.rows('SELECT a, b FROM broken')).rejects.toThrow('column "b" does not exist');
  });
});

describe('JSON texts sent as one text', () => {
  it('come back as the same texts, in order, whatever characters their values hold', async () => {
    const values: unknown[] = ['\u0001 and \u0000', 'quote " backslash \\ newline \n', 'été 😀 \u2028', '', [], {}, { k: ['L', '\u0001'] }, 7];
    const texts = values.map((v) => JSON.stringify(v));
    const rows = await sql.rows<{ t: string; i: string }>(`SELECT t, i FROM ${splitJsonTexts('$1')} WITH ORDINALITY AS x(t, i)`, [
      joinJsonTexts(texts),
    ]);
    expect(rows.map((r) => r.t)).toEqual(texts);
    expect(rows.map((r) => Number(r.i))).toEqual(texts.map((_, i) => i + 1));
    expect(await sql.rows(`SELECT * FROM ${splitJsonTexts('$1')} AS x(t)`, [joinJsonTexts([])])).toEqual([]);
  });
});

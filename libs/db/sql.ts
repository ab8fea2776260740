import { DataSource, EntityManager } from 'typeorm';

/**
 * The rows a statement returns. TypeORM's `query()` answers `[rows, count]` for UPDATE and DELETE on Postgres, even
 * with RETURNING; the structured result always carries the rows.
 */
export async function returning<T>(q: DataSource | EntityManager, text: string, params: unknown[]): Promise<T[]> {
  if (q instanceof EntityManager && q.queryRunner) return (await q.queryRunner.query(text, params, true)).records;
  const runner = (q instanceof DataSource ? q : q.connection).createQueryRunner();
  try {
    return (await runner.query(text, params, true)).records;
  } finally {
    await runner.release();
  }
}

import { Pool, PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/** Where a statement runs: the pool, or one transaction's connection. */
export interface Queryable {
  /** The rows the statement returns (RETURNING rows for INSERT, UPDATE and DELETE). */
  rows<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
}

class Connection implements Queryable {
  constructor(private readonly client: Pool | PoolClient) {}
  async rows<T>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.client.query(text, params)).rows as T[];
  }
}

/**
 * The repositories' access to Postgres: the pg pool behind the TypeORM DataSource (TypeORM keeps the connection
 * settings and the migrations). Going to pg directly halves the cost of a large insert, and answers rows for every
 * statement, where TypeORM answers `[rows, count]` for UPDATE and DELETE.
 */
export class Sql implements Queryable {
  private readonly pool: Pool;
  private readonly direct: Connection;

  constructor(db: DataSource) {
    this.pool = (db.driver as PostgresDriver).master as Pool;
    this.direct = new Connection(this.pool);
  }

  rows<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]> {
    return this.direct.rows<T>(text, params);
  }

  async transaction<R>(work: (tx: Queryable) => Promise<R>): Promise<R> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(new Connection(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}

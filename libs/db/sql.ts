import { createHash } from 'node:crypto';
import { Pool, PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/**
 * JSON texts as one text parameter, which pg sends as it is (a `text[]` it would quote and escape element by element)
 * and Postgres splits without parsing them (`splitJsonTexts`). No JSON text holds the separator: JSON escapes every
 * control character.
 */
export const joinJsonTexts = (texts: string[]): string => texts.join('\u0001');
/** The texts of a parameter made by joinJsonTexts, as a set of rows, in order. */
export const splitJsonTexts = (param: string): string => `unnest(string_to_array(${param}, E'\\x01'))`;

/** Where a statement runs: the pool, or one transaction's connection. */
export interface Queryable {
  /** The rows the statement returns (RETURNING rows for INSERT, UPDATE and DELETE). */
  rows<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
}

/**
 * Statements are prepared once per connection, under a name taken from their text: Postgres then skips parsing and,
 * once its plan cache settles, planning (about a fifth less Postgres CPU over a bench run). The texts are constants;
 * past `max` distinct ones a text runs unnamed, so a statement built from values cannot fill every connection's
 * memory with prepared statements.
 */
export class StatementNames {
  private readonly names = new Map<string, string>();
  private renewals = 0;

  constructor(private readonly max: number) {}

  /** The same name for the same text, a different one for another; undefined (unnamed) past `max` texts. */
  nameOf(text: string): string | undefined {
    let name = this.names.get(text);
    if (name === undefined && this.names.size < this.max) {
      this.names.set(text, (name = `s${createHash('sha1').update(text).digest('hex').slice(0, 16)}`));
    }
    return name;
  }

  /** Gives `text` a name no connection has prepared yet, so each prepares it again. */
  renew(text: string): void {
    const name = this.names.get(text);
    if (name !== undefined) this.names.set(text, `${name.split('_')[0]}_${++this.renewals}`);
  }
}

/**
 * Postgres refuses to run a prepared statement whose result columns changed since it was prepared (a migration run
 * by a newer version during a rolling upgrade, say) on every later call on that connection. The statement did
 * nothing, so it can run again under a new name.
 */
const isStalePlan = (err: unknown): boolean => {
  const { code, routine } = (err ?? {}) as { code?: string; routine?: string };
  return code === '0A000' && routine === 'RevalidateCachedQuery';
};

/** Runs `work` again, once, if a prepared statement in it was stale (and has been renamed meanwhile). */
async function retryStalePlan<R>(work: () => Promise<R>): Promise<R> {
  try {
    return await work();
  } catch (err) {
    if (!isStalePlan(err)) throw err;
    return work();
  }
}

const statementNames = new StatementNames(500);

class Connection implements Queryable {
  constructor(private readonly client: Pool | PoolClient) {}
  async rows<T>(text: string, params: unknown[] = []): Promise<T[]> {
    try {
      return (await this.client.query({ name: statementNames.nameOf(text), text, values: params })).rows as T[];
    } catch (err) {
      if (isStalePlan(err)) statementNames.renew(text);
      throw err;
    }
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
    return retryStalePlan(() => this.direct.rows<T>(text, params));
  }

  /** Runs `work` in one transaction; `work` touches nothing but the database, as it may run twice (stale plan). */
  transaction<R>(work: (tx: Queryable) => Promise<R>): Promise<R> {
    return retryStalePlan(() => this.transactionOnce(work));
  }

  private async transactionOnce<R>(work: (tx: Queryable) => Promise<R>): Promise<R> {
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

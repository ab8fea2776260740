import { DataSource } from 'typeorm';
import { InitialSchema1764430000000 } from './migrations/1764430000000-initial-schema';
import { DeliveredSeq1764430000001 } from './migrations/1764430000001-delivered-seq';
import { QueuePrimaryKey1764430000002 } from './migrations/1764430000002-queue-primary-key';
import { QueuePerEvent1764430000003 } from './migrations/1764430000003-queue-per-event';
import { DocRowsJson1764430000004 } from './migrations/1764430000004-doc-rows-json';
import { QueueEventText1764430000005 } from './migrations/1764430000005-queue-event-text';
import { DocRowsText1764430000006 } from './migrations/1764430000006-doc-rows-text';

/** Migrations in order; never `synchronize`. */
export const MIGRATIONS = [
  InitialSchema1764430000000,
  DeliveredSeq1764430000001,
  QueuePrimaryKey1764430000002,
  QueuePerEvent1764430000003,
  DocRowsJson1764430000004,
  QueueEventText1764430000005,
  DocRowsText1764430000006,
];

export interface PoolOptions {
  poolSize?: number;
  /**
   * Commits return before the WAL reaches disk. Only for writes whose loss in a database crash is harmless: a lost
   * delivery record means the batch is sent again, which at-least-once delivery allows.
   */
  asyncCommit?: boolean;
}

export function createDataSource(databaseUrl: string, { poolSize = 10, asyncCommit = false }: PoolOptions = {}): DataSource {
  return new DataSource({
    type: 'postgres',
    url: databaseUrl,
    migrations: MIGRATIONS,
    migrationsTransactionMode: 'all',
    synchronize: false,
    logging: false,
    extra: { max: poolSize, ...(asyncCommit ? { options: '-c synchronous_commit=off' } : {}) },
  });
}

/** Connects and applies pending migrations; several apps starting together are serialised by an advisory lock. */
export async function openDatabase(databaseUrl: string, poolSize?: number): Promise<DataSource> {
  const dataSource = createDataSource(databaseUrl, { poolSize });
  await dataSource.initialize();
  const runner = dataSource.createQueryRunner();
  try {
    await runner.connect();
    await runner.query('SELECT pg_advisory_lock(7426001)');
    await dataSource.runMigrations({ transaction: 'all' });
  } finally {
    await runner.query('SELECT pg_advisory_unlock(7426001)').catch(() => undefined);
    await runner.release();
  }
  return dataSource;
}

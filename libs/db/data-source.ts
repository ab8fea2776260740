import { DataSource } from 'typeorm';
import { InitialSchema1764430000000 } from './migrations/1764430000000-initial-schema';

/** Migrations in order; never `synchronize`. */
export const MIGRATIONS = [InitialSchema1764430000000];

export function createDataSource(databaseUrl: string, poolSize = 10): DataSource {
  return new DataSource({
    type: 'postgres',
    url: databaseUrl,
    migrations: MIGRATIONS,
    migrationsTransactionMode: 'all',
    synchronize: false,
    logging: false,
    extra: { max: poolSize },
  });
}

/** Connects and applies pending migrations; several apps starting together are serialised by an advisory lock. */
export async function openDatabase(databaseUrl: string, poolSize?: number): Promise<DataSource> {
  const dataSource = createDataSource(databaseUrl, poolSize);
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

import { Injectable, OnApplicationShutdown, Provider } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { EngineConfig } from '../../libs/config';
import { createDataSource } from '../../libs/db/data-source';
import { DeliveryRepository } from '../../libs/db/delivery.repository';
import { CONFIG } from '../../libs/runtime/core.module';

/** The loops' statements are gathered into a few round trips at a time (Coalescer), whatever their number. */
const DELIVERY_POOL_SIZE = 12;

/**
 * The delivery loops' own connection pool, with asynchronous commits: losing the last
 * delivery records in a database crash only means batches are sent again. Intake keeps the durable pool, since
 * Kafka offsets are committed on the strength of its writes.
 */
@Injectable()
export class DeliveryStore implements OnApplicationShutdown {
  readonly repo: DeliveryRepository;

  constructor(private readonly db: DataSource) {
    this.repo = new DeliveryRepository(db);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.db.isInitialized) await this.db.destroy();
  }
}

export const deliveryStoreProvider: Provider = {
  provide: DeliveryStore,
  // the main DataSource first: it applies the migrations
  inject: [DataSource, CONFIG],
  useFactory: async (_migrated: DataSource, config: EngineConfig) => {
    const db = createDataSource(config.databaseUrl, { poolSize: DELIVERY_POOL_SIZE, asyncCommit: true });
    await db.initialize();
    return new DeliveryStore(db);
  },
};

import { DynamicModule, Global, Inject, Injectable, LoggerService, Module, OnApplicationShutdown } from '@nestjs/common';
import { Admin, Kafka } from 'kafkajs';
import { DataSource } from 'typeorm';
import { EngineConfig } from '../config';
import { openDatabase } from '../db/data-source';
import { Logger, MetricsRegistry } from '../observability';
import { HEALTH_CHECKS, HealthCheck, HealthController } from './health';
import { createKafka, ensureTopics } from './kafka';

export const CONFIG = Symbol('CONFIG');
export const LOGGER = Symbol('LOGGER');
export const KAFKA_ADMIN = Symbol('KAFKA_ADMIN');

export interface AppContext {
  config: EngineConfig;
  logger: Logger;
  metrics: MetricsRegistry;
}

/** Closes the shared connections last, after the app's own consumers and workers have stopped. */
@Injectable()
class ConnectionCloser implements OnApplicationShutdown {
  constructor(
    private readonly db: DataSource,
    @Inject(KAFKA_ADMIN) private readonly admin: Admin,
  ) {}
  async onApplicationShutdown(): Promise<void> {
    await this.admin.disconnect().catch(() => undefined);
    if (this.db.isInitialized) await this.db.destroy();
  }
}

/**
 * What every app shares: validated config, JSON logger, metrics, the database (migrations applied) and Kafka
 * (the engine's topics created when missing), plus /health and /metrics.
 */
@Global()
@Module({})
export class CoreModule {
  static forRoot(ctx: AppContext, dbPoolSize = 10): DynamicModule {
    const { config, logger } = ctx;
    return {
      module: CoreModule,
      controllers: [HealthController],
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: MetricsRegistry, useValue: ctx.metrics },
        { provide: DataSource, useFactory: () => openDatabase(config.databaseUrl, dbPoolSize) },
        { provide: Kafka, useValue: createKafka(config, logger) },
        {
          provide: KAFKA_ADMIN,
          inject: [Kafka],
          useFactory: async (kafka: Kafka) => {
            const admin = kafka.admin();
            await admin.connect();
            const { actionsTopic, eventsTopic } = config;
            await ensureTopics(admin, [actionsTopic, `${actionsTopic}.dlq`, eventsTopic, `${eventsTopic}.dlq`], config.topicPartitions);
            return admin;
          },
        },
        {
          provide: HEALTH_CHECKS,
          inject: [DataSource, KAFKA_ADMIN],
          useFactory: (db: DataSource, admin: Admin): HealthCheck[] => [
            { name: 'postgres', check: async () => (await db.query('SELECT 1 AS ok'))[0].ok === 1 },
            { name: 'kafka', check: async () => (await admin.describeCluster()).brokers.length > 0 },
          ],
        },
        ConnectionCloser,
      ],
      exports: [CONFIG, LOGGER, MetricsRegistry, DataSource, Kafka, KAFKA_ADMIN],
    };
  }
}

/** Nest's own messages, as JSON lines through the app logger. */
export class NestJsonLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string): void {
    this.logger.debug(String(message), { context });
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn(String(message), { context });
  }
  error(message: unknown, stack?: string, context?: string): void {
    this.logger.error(String(message), { context, stack });
  }
}

import { Admin, Kafka, logCreator, logLevel } from 'kafkajs';
import { EngineConfig } from '../config';
import { Logger } from '../observability';

const LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** kafkajs logs go through the app's JSON logger. */
const kafkaLogCreator =
  (logger: Logger): logCreator =>
  () =>
  ({ level, label, log }) => {
    const { message, ...fields } = log;
    logger[LEVEL[level] ?? 'info'](String(message), { kafka: label, ...fields });
  };

export function createKafka(config: EngineConfig, logger: Logger): Kafka {
  return new Kafka({
    clientId: `webhook-engine-${config.app}`,
    brokers: config.kafkaBrokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(logger.child({ component: 'kafkajs' })),
    retry: { initialRetryTime: 200, retries: 8 },
  });
}

/** Creates the topics that are missing (one partition count for all; keys keep per-document and per-webhook order). */
export async function ensureTopics(admin: Admin, topics: string[], numPartitions: number): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length === 0) return;
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((topic) => ({ topic, numPartitions, replicationFactor: -1 })),
  });
}

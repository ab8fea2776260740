/** The local stack, and one isolated environment per scenario: its own database, topics and consumer groups. */
import path from 'node:path';
import { Admin, Kafka, logLevel, Message, Partitioners, Producer } from 'kafkajs';
import { Client } from 'pg';
import { MAX_MESSAGE_BYTES } from '../libs/runtime/kafka';

/** Repository root, from dist/bench/ where the compiled bench runs. */
export const ROOT = path.resolve(__dirname, '../..');

interface StackScript {
  up(): Promise<void>;
  readEnv(): Record<string, string | undefined>;
}

export interface Stack {
  brokers: string[];
  /** Any database URL on the Postgres server; the bench swaps the database name. */
  serverUrl: string;
}

/** Uses KAFKA_BROKERS/DATABASE_URL when both are set, else brings the local stack up (a no-op when it is up). */
export async function ensureStack(): Promise<Stack> {
  let { KAFKA_BROKERS: brokers, DATABASE_URL: databaseUrl } = process.env;
  if (!brokers || !databaseUrl) {
    // plain JS shared with `npm run stack:up`; resolved from the repository root so it works from dist/bench
    const stack = require(path.join(ROOT, 'scripts/stack.js')) as StackScript;
    await stack.up();
    const env = stack.readEnv();
    brokers ||= env.KAFKA_BROKERS;
    databaseUrl ||= env.DATABASE_URL;
  }
  if (!brokers || !databaseUrl) throw new Error('the stack did not report KAFKA_BROKERS and DATABASE_URL');
  return { brokers: brokers.split(','), serverUrl: databaseUrl };
}

export interface BenchEnv {
  name: string;
  databaseUrl: string;
  /** A connection to the scenario's database, for progress polls. */
  db: Client;
  actionsTopic: string;
  eventsTopic: string;
  matcherGroupId: string;
  dispatcherGroupId: string;
  kafka: Kafka;
  admin: Admin;
  producer: Producer;
  /** Sends messages in chunks, each acknowledged by the broker like a real publisher's. */
  publish(messages: Message[]): Promise<void>;
  close(): Promise<void>;
}

export const withDatabase = (serverUrl: string, name: string): string => {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
};

export async function onServer(serverUrl: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function createEnv(stack: Stack, name: string, partitions: number): Promise<BenchEnv> {
  await onServer(stack.serverUrl, `CREATE DATABASE "${name}"`);
  const databaseUrl = withDatabase(stack.serverUrl, name);
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();

  const kafka = new Kafka({ clientId: 'bench', brokers: stack.brokers, logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  const actionsTopic = `${name}.doc-actions`;
  const eventsTopic = `${name}.webhook-events`;
  const topics = [actionsTopic, `${actionsTopic}.dlq`, eventsTopic, `${eventsTopic}.dlq`];
  // as the engine creates its topics (ensureTopics): large payload events fit
  const configEntries = [{ name: 'max.message.bytes', value: String(MAX_MESSAGE_BYTES) }];
  await admin.createTopics({ waitForLeaders: true, topics: topics.map((topic) => ({ topic, numPartitions: partitions, configEntries })) });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const matcherGroupId = `${name}.matcher`;
  const dispatcherGroupId = `${name}.dispatcher`;

  return {
    name,
    databaseUrl,
    db,
    actionsTopic,
    eventsTopic,
    matcherGroupId,
    dispatcherGroupId,
    kafka,
    admin,
    producer,
    publish: async (messages) => {
      for (let i = 0; i < messages.length; i += 500) {
        await producer.send({ topic: actionsTopic, acks: -1, messages: messages.slice(i, i + 500) });
      }
    },
    close: async () => {
      await producer.disconnect().catch(() => undefined);
      await admin.deleteTopics({ topics }).catch(() => undefined);
      await admin.deleteGroups([matcherGroupId, dispatcherGroupId]).catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
      await db.end().catch(() => undefined);
      await onServer(stack.serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}

/**
 * Removes every topic, consumer group and database whose name starts with `prefix`: what a run cut short leaves
 * beside its open scenarios (a scratch topic of the raw producer, an environment still being created).
 */
export async function sweep(stack: Stack, prefix: string): Promise<void> {
  const admin = new Kafka({ clientId: 'bench-sweep', brokers: stack.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
  const client = new Client({ connectionString: stack.serverUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [prefix]);
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/**
 * The consumer both apps read with, against the real broker: it commits only what its batches resolved, every so
 * often while it runs, and once more when it disconnects, after the batches in flight are done.
 */
import { Admin, EachBatchPayload, Kafka, logLevel, Producer } from 'kafkajs';
import { createLogger } from '../libs/observability';
import { BatchConsumer, startBatchConsumer } from '../libs/runtime/kafka';
import { brokers, uniqueName, waitFor } from './support/harness';

const kafka = new Kafka({ clientId: 'it-batch-consumer', brokers: brokers(), logLevel: logLevel.NOTHING });
const logger = createLogger({ test: 'batch-consumer' }, 'error');
let admin: Admin;
let producer: Producer;
const topics: string[] = [];

beforeAll(async () => {
  admin = kafka.admin();
  producer = kafka.producer();
  await Promise.all([admin.connect(), producer.connect()]);
});

afterAll(async () => {
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await Promise.all([admin.disconnect(), producer.disconnect()]);
});

/** A consumer of a new one-partition topic holding `count` messages, in a group of its own. */
async function consumerOf(
  count: number,
  commitEveryMs: number,
  eachBatch: (payload: EachBatchPayload) => Promise<void>,
): Promise<{ consumer: BatchConsumer; committed(): Promise<string> }> {
  const topic = uniqueName('batch_consumer');
  const groupId = `${topic}-group`;
  topics.push(topic);
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
  await producer.send({ topic, acks: -1, messages: Array.from({ length: count }, (_, i) => ({ value: String(i) })) });
  const consumer = await startBatchConsumer(kafka, { groupId, topic, logger, commitEveryMs, eachBatch });
  return { consumer, committed: async () => (await admin.fetchOffsets({ groupId, topics: [topic] }))[0].partitions[0].offset };
}

describe('startBatchConsumer', () => {
  it('commits on disconnect what its batches resolved, and nothing past it', async () => {
    // offsets handed over; kafkajs hands the unresolved ones over again and again
    const seen = new Set<string>();
    const { consumer, committed } = await consumerOf(10, 600_000, async ({ batch, resolveOffset }) => {
      for (const m of batch.messages) {
        seen.add(m.offset);
        if (Number(m.offset) < 6) resolveOffset(m.offset);
      }
    });
    try {
      await waitFor('every message handed over', () => seen.size === 10);
      expect(await committed()).toBe('-1');
    } finally {
      await consumer.disconnect();
    }
    expect(await committed()).toBe('6');
  });

  it('commits while it runs, without waiting for a disconnect', async () => {
    const { consumer, committed } = await consumerOf(5, 100, async ({ batch, resolveOffset }) => {
      for (const m of batch.messages) resolveOffset(m.offset);
    });
    try {
      await waitFor('offsets committed', async () => (await committed()) === '5');
    } finally {
      await consumer.disconnect();
    }
  });

  it('lets a batch in flight finish, and commits what it resolved, before it leaves', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    const { consumer, committed } = await consumerOf(3, 600_000, async ({ batch, resolveOffset }) => {
      started = true;
      await held;
      resolveOffset(batch.messages[batch.messages.length - 1].offset);
    });
    await waitFor('the batch to start', () => started);
    let left = false;
    const leaving = consumer.disconnect().then(() => (left = true));
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(left).toBe(false);
    } finally {
      release();
      await leaving;
    }
    expect(await committed()).toBe('3');
  });
});

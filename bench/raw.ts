/** Raw limits of the machine, with the bench's own data: a bare Kafka consumer and producer, a bare HTTP client. */
import { Kafka, KafkaMessage } from 'kafkajs';
import { Pool } from 'undici';
import { createEventProducer, MATCHER_PARTITIONS_AT_ONCE, MAX_MESSAGE_BYTES, Outgoing, sendInSlices } from '../libs/runtime/kafka';
import { perSecond, waitFor } from './util';

export interface RawKafkaResult {
  messages: number;
  ms: number;
  messagesPerSec: number;
}

/**
 * Reads `topic` from the beginning with the matcher's consumer settings, handing each batch's messages to
 * `eachBatch`, until `expected` messages were read; then again from the beginning (a seek, no new group join) as
 * long as `again()` says so. As the matcher's (startBatchConsumer), the consumer handles several partitions at once
 * and does not commit after every batch: kafkajs's autoCommit default would add a broker round trip to each batch, a
 * cost the matcher does not pay, and understate the ceiling it is compared with.
 */
async function readFromStart(
  kafka: Kafka,
  topic: string,
  expected: number,
  groupId: string,
  eachBatch: (messages: KafkaMessage[]) => void,
  again: () => boolean = () => false,
): Promise<void> {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000, maxWaitTimeInMs: 100 });
  const partitions = new Set<number>();
  let read = 0;
  let done = false;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: MATCHER_PARTITIONS_AT_ONCE,
      eachBatch: async ({ batch }) => {
        eachBatch(batch.messages);
        partitions.add(batch.partition);
        read += batch.messages.length;
        if (read < expected || done) return;
        if (!again()) done = true;
        else {
          read = 0;
          for (const partition of partitions) consumer.seek({ topic, partition, offset: '0' });
        }
      },
    });
    await waitFor(`the raw consumer to read ${expected} messages of ${topic}`, () => done, 300_000, 20);
  } finally {
    await consumer.disconnect();
  }
}

/**
 * Reads the `expected` messages of `topic` from the beginning, doing nothing but JSON.parse, pass after pass for at
 * least `minMs` (one pass of a small topic lasts a few ms, too short to time). Timed from the first batch to the
 * last, as the matcher is, so the group join does not count.
 */
export async function rawKafka(kafka: Kafka, topic: string, expected: number, groupId: string, minMs: number): Promise<RawKafkaResult> {
  let messages = 0;
  let firstAt = 0;
  let lastAt = 0;
  const again = (): boolean => lastAt - firstAt < minMs;
  await readFromStart(
    kafka,
    topic,
    expected,
    groupId,
    (batch) => {
      if (firstAt === 0) firstAt = Date.now();
      for (const message of batch) JSON.parse(message.value?.toString('utf8') ?? 'null');
      messages += batch.length;
      lastAt = Date.now();
    },
    again,
  );
  return { messages, ms: lastAt - firstAt, messagesPerSec: perSecond(messages, lastAt - firstAt) };
}

export interface RawProduceResult {
  /** Distinct payload events read back and sent again (each sent once per pass). */
  events: number;
  passes: number;
  messages: number;
  bytes: number;
  ms: number;
  messagesPerSec: number;
}

/**
 * The matcher's payload events, read back from `topic`, sent again to a scratch topic by the matcher's own producer
 * and send path (createEventProducer, sendInSlices): the most events per second the matcher could publish here,
 * with nothing else to do. Passes over them until `minMs` went by, so a short list still gives a steady figure.
 */
export async function rawKafkaProduce(kafka: Kafka, topic: string, expected: number, groupId: string, minMs: number): Promise<RawProduceResult> {
  const scratch = `${topic}.raw-produce`;
  const events: Outgoing[] = [];
  await readFromStart(kafka, topic, expected, groupId, (batch) => {
    for (const m of batch) {
      events.push({ topic: scratch, message: { key: m.key?.toString('utf8'), value: m.value?.toString('utf8') ?? '' }, bytes: m.value?.length ?? 0 });
    }
  });

  const admin = kafka.admin();
  await admin.connect();
  const producer = createEventProducer(kafka);
  try {
    const numPartitions = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length;
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: scratch, numPartitions, configEntries: [{ name: 'max.message.bytes', value: String(MAX_MESSAGE_BYTES) }] }],
    });
    await producer.connect();
    const started = Date.now();
    let passes = 0;
    while (passes === 0 || Date.now() - started < minMs) {
      await sendInSlices(producer, events);
      passes++;
    }
    const ms = Date.now() - started;
    const bytes = events.reduce((sum, e) => sum + e.bytes, 0) * passes;
    return { events: events.length, passes, messages: events.length * passes, bytes, ms, messagesPerSec: perSecond(events.length * passes, ms) };
  } finally {
    await producer.disconnect().catch(() => undefined);
    await admin.deleteTopics({ topics: [scratch] }).catch(() => undefined);
    await admin.disconnect();
  }
}

export interface RawHttpResult {
  rowsPerRequest: number;
  concurrency: number;
  requests: number;
  ms: number;
  requestsPerSec: number;
}

/**
 * `concurrency` requests in flight for `seconds`, each a POST of `body` to `origin` + /raw, over kept-alive
 * connections. A warm-up first (connections opened, code optimised), not counted: the dispatcher is measured warm too.
 */
export async function rawHttp(origin: string, body: string, rowsPerRequest: number, concurrency: number, seconds: number): Promise<RawHttpResult> {
  const pool = new Pool(origin, { connections: concurrency });
  const headers = { 'content-type': 'application/json' };
  let requests = 0;
  const warmUntil = Date.now() + Math.max(500, seconds * 200);
  const started = warmUntil;
  const deadline = started + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const res = await pool.request({ path: '/raw', method: 'POST', headers, body });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`raw HTTP: status ${res.statusCode}`);
      if (Date.now() >= started) requests += 1;
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await pool.close();
  }
  const ms = Date.now() - started;
  return { rowsPerRequest, concurrency, requests, ms, requestsPerSec: perSecond(requests, ms) };
}

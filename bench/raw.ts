/** Raw limits of the machine, with the bench's own data: a bare Kafka consumer and a bare HTTP client. */
import { Kafka } from 'kafkajs';
import { Pool } from 'undici';
import { perSecond, waitFor } from './util';

export interface RawKafkaResult {
  messages: number;
  ms: number;
  messagesPerSec: number;
}

/**
 * Reads `expected` messages of `topic` from the beginning with the matcher's consumer settings, doing nothing but
 * JSON.parse. Timed from the first batch, as the matcher is, so group joins do not count.
 */
export async function rawKafka(kafka: Kafka, topic: string, expected: number, groupId: string): Promise<RawKafkaResult> {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000, maxWaitTimeInMs: 100 });
  let messages = 0;
  let firstAt = 0;
  let lastAt = 0;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        if (firstAt === 0) firstAt = Date.now();
        for (const message of batch.messages) JSON.parse(message.value?.toString('utf8') ?? 'null');
        messages += batch.messages.length;
        lastAt = Date.now();
      },
    });
    await waitFor(`the raw consumer to read ${expected} messages`, () => messages >= expected, 300_000, 20);
  } finally {
    await consumer.disconnect();
  }
  return { messages, ms: lastAt - firstAt, messagesPerSec: perSecond(messages, lastAt - firstAt) };
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

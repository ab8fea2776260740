import { Admin, EachBatchPayload, ICustomPartitioner, Kafka, logCreator, logLevel, Message, Partitioners, Producer } from 'kafkajs';
import { EngineConfig } from '../config';
import { Logger, LogLevel, OutageLog } from '../observability';

const LEVEL: Record<number, LogLevel> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * The app's level for a kafkajs log line. kafkajs logs every failed request at error although the caller retries
 * or reports it (heartbeats answered "rebalancing" in every rebalance, the creation of a topic another app just
 * created): warnings, as is a member re-joining its group.
 */
export function kafkaLogLevel(level: logLevel, message: string): LogLevel {
  const mapped = LEVEL[level] ?? 'info';
  const routine = message.startsWith('Response ') || message.startsWith('The coordinator is not aware of this member');
  return mapped === 'error' && routine ? 'warn' : mapped;
}

/** kafkajs logs go through the app's JSON logger. */
const kafkaLogCreator =
  (logger: Logger): logCreator =>
  () =>
  ({ level, label, log }) => {
    const { message, ...fields } = log;
    logger[kafkaLogLevel(level, String(message))](String(message), { kafka: label, ...fields });
  };

export function createKafka(config: EngineConfig, logger: Logger): Kafka {
  return new Kafka({
    clientId: `webhook-engine-${config.app}`,
    brokers: config.kafkaBrokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(logger.child({ component: 'kafkajs' })),
    // generous: a broker restart or a slow start of the stack is waited out, not fatal
    retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 20 },
  });
}

export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Creates the topics that are missing (one partition count for all; keys keep per-document and per-webhook order). */
export async function ensureTopics(admin: Admin, topics: string[], numPartitions: number): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length === 0) return;
  await admin.createTopics({
    waitForLeaders: true,
    // one payload event holds every matching row of a bundle for a webhook: allow more than the 1 MB default
    topics: missing.map((topic) => ({
      topic,
      numPartitions,
      replicationFactor: -1,
      configEntries: [{ name: 'max.message.bytes', value: String(MAX_MESSAGE_BYTES) }],
    })),
  });
}

/**
 * Partitions the matcher matches at once, at most: each holds a chunk and its events in memory (256 MB heap, see
 * app-process). The bench's raw consumer reads with the same.
 */
export const MATCHER_PARTITIONS_AT_ONCE = 8;

export interface BatchConsumerOptions {
  groupId: string;
  topic: string;
  logger: Logger;
  /** Partitions handled at once; each keeps its own order. */
  partitionsConsumedConcurrently?: number;
  /** How often resolved offsets are committed (default one second); they are also committed on disconnect. */
  commitEveryMs?: number;
  eachBatch(payload: EachBatchPayload): Promise<void>;
  /** After each rebalance: partitions may have moved to or from other members. */
  onGroupJoin?(): void;
}

/** How often resolved offsets are committed (PendingOffsets). */
const COMMIT_EVERY_MS = 1000;

export interface PartitionOffset {
  partition: number;
  /** The next offset to read, as Kafka commits it. */
  offset: string;
}

/**
 * Offsets resolved but not yet committed, per partition. They are committed every second rather than after each
 * batch (kafkajs's autoCommit), which takes a broker round trip off every batch; a crash replays at most that
 * second of batches, and both consumers drop what they see again (actionNum, eventId).
 */
export class PendingOffsets {
  private readonly next = new Map<number, string>();
  /** The partitions of the last group join; null before the first. */
  private assigned: Set<number> | null = null;

  /**
   * `offset` and everything before it in `partition` are saved. Ignored for a partition lost in a rebalance: a batch
   * still finishing there must not commit over its new owner's offsets.
   */
  resolved(partition: number, offset: string): void {
    if (this.isAssigned(partition)) this.next.set(partition, (BigInt(offset) + 1n).toString());
  }

  isAssigned(partition: number): boolean {
    return this.assigned === null || this.assigned.has(partition);
  }

  /** Everything pending, which is no longer pending. */
  take(): PartitionOffset[] {
    const taken = [...this.next].map(([partition, offset]) => ({ partition, offset }));
    this.next.clear();
    return taken;
  }

  /** Puts back what a failed commit took, except where a later offset was resolved meanwhile. */
  restore(taken: PartitionOffset[]): void {
    for (const { partition, offset } of taken) if (!this.next.has(partition)) this.next.set(partition, offset);
  }

  /** After a rebalance: the partitions this member lost are its new owner's to commit. */
  keepOnly(partitions: number[]): void {
    this.assigned = new Set(partitions);
    for (const partition of [...this.next.keys()]) if (!this.assigned.has(partition)) this.next.delete(partition);
  }
}

export interface BatchConsumer {
  /** Lets the batches in flight finish, commits what they resolved, and leaves the group. */
  disconnect(): Promise<void>;
}

/**
 * A consumer that commits only what `eachBatch` resolves, so no offset moves before the work it covers is saved
 * (PendingOffsets). It restarts itself after any crash (a broker restart included) rather than exiting, and returns
 * once connected: joining the group may wait for a dead member's session to expire, and /health should not.
 */
export async function startBatchConsumer(kafka: Kafka, opts: BatchConsumerOptions): Promise<BatchConsumer> {
  const consumer = kafka.consumer({
    groupId: opts.groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 100,
    retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 20, restartOnFailure: async () => true },
  });
  const pending = new PendingOffsets();
  const inFlight = new Set<Promise<void>>();
  let stopping = false;
  let committing: Promise<void> = Promise.resolve();
  const commits = new OutageLog(opts.logger, 'commit offsets', { topic: opts.topic });
  const commit = (): Promise<void> =>
    (committing = committing.then(async () => {
      const taken = pending.take();
      if (taken.length === 0) return;
      await commits.run(() =>
        consumer.commitOffsets(taken.map((t) => ({ topic: opts.topic, ...t }))).catch((err) => {
          pending.restore(taken);
          throw err;
        }),
      );
    }));

  consumer.on(consumer.events.CRASH, ({ payload }) => {
    opts.logger.error('consumer crashed', { topic: opts.topic, err: payload.error, restart: payload.restart });
  });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    pending.keepOnly(payload.memberAssignment[opts.topic] ?? []);
    opts.onGroupJoin?.();
  });
  await consumer.connect();
  await consumer.subscribe({ topic: opts.topic, fromBeginning: true });
  consumer
    .run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 1,
      eachBatch: async (payload) => {
        if (stopping) return;
        const { partition } = payload.batch;
        const resolveOffset = (offset: string): void => {
          payload.resolveOffset(offset);
          pending.resolved(partition, offset);
        };
        // kafkajs's isStale covers seeks only; a batch on a partition lost in a rebalance is stale too
        const isStale = (): boolean => payload.isStale() || !pending.isAssigned(partition);
        const work = opts.eachBatch({ ...payload, resolveOffset, isStale });
        inFlight.add(work);
        try {
          await work;
        } finally {
          inFlight.delete(work);
        }
      },
    })
    .catch((err) => {
      opts.logger.error('consumer could not start', { topic: opts.topic, err });
      process.exit(1);
    });
  const timer = setInterval(() => void commit(), opts.commitEveryMs ?? COMMIT_EVERY_MS);
  return {
    async disconnect() {
      stopping = true;
      clearInterval(timer);
      await Promise.allSettled([...inFlight]);
      await commit();
      await consumer.disconnect();
    },
  };
}

/** Keys whose partition is remembered per topic; past it the memory starts afresh (webhooks come and go). */
const REMEMBERED_KEYS = 100_000;

export interface Outgoing {
  topic: string;
  message: Message;
  /** Bytes of the message's value. */
  bytes: number;
}

/**
 * kafkajs's default partitioner (murmur2 of the key, as Java's client), remembered per key: with a key its answer
 * depends on the key and the partition count only, and hashing every event's key again (murmur2 on emulated 64-bit
 * longs) took about 5% of the matcher's CPU.
 */
export const rememberKeyPartitions: ICustomPartitioner = () => {
  const partitioner = Partitioners.DefaultPartitioner();
  const byTopic = new Map<string, { count: number; byKey: Map<string, number> }>();
  return (args) => {
    const { topic, partitionMetadata, message } = args;
    if (typeof message.key !== 'string' || (message.partition !== undefined && message.partition !== null)) {
      return partitioner(args);
    }
    let known = byTopic.get(topic);
    if (!known || known.count !== partitionMetadata.length || known.byKey.size >= REMEMBERED_KEYS) {
      byTopic.set(topic, (known = { count: partitionMetadata.length, byKey: new Map() }));
    }
    let partition = known.byKey.get(message.key);
    if (partition === undefined) known.byKey.set(message.key, (partition = partitioner(args)));
    return partition;
  };
};

/** Consecutive slices whose values stay under `limit` bytes (a larger message goes alone), taken as they come. */
export function* slicesOf(items: Iterable<Outgoing>, limit: number): Generator<Outgoing[]> {
  let current: Outgoing[] = [];
  let size = 0;
  for (const item of items) {
    if (current.length > 0 && size + item.bytes > limit) {
      yield current;
      current = [];
      size = 0;
    }
    current.push(item);
    size += item.bytes;
  }
  if (current.length > 0) yield current;
}

/**
 * Bytes of messages per produce request. The broker refuses a record batch over the topic's max.message.bytes
 * (1 MB by default), and a chunk of bundles can yield far more events than that.
 */
export const SEND_BYTES = 512 * 1024;

/** The matcher's producer: idempotent with one request in flight, so retries keep each partition's order. */
export const createEventProducer = (kafka: Kafka): Producer =>
  kafka.producer({ createPartitioner: rememberKeyPartitions, idempotent: true, maxInFlightRequests: 1 });

/** Sends messages in order, in requests of at most SEND_BYTES, each acknowledged by every in-sync replica. */
export async function sendInSlices(producer: Producer, items: Iterable<Outgoing>): Promise<void> {
  for (const slice of slicesOf(items, SEND_BYTES)) {
    const byTopic = new Map<string, Message[]>();
    for (const { topic, message } of slice) {
      const messages = byTopic.get(topic) ?? [];
      messages.push(message);
      byTopic.set(topic, messages);
    }
    await producer.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })), acks: -1 });
  }
}

import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { DataSource } from 'typeorm';
import { EngineConfig } from '../../libs/config';
import { DocStateRepository } from '../../libs/db/doc-state.repository';
import { FIRST_CHUNK_BUNDLES, nextChunkSize, splitPayloadEvent } from '../../libs/matching';
import { keyForLog, Logger } from '../../libs/observability';
import { CONFIG, LOGGER } from '../../libs/runtime/core.module';
import {
  BatchConsumer,
  createEventProducer,
  MATCHER_PARTITIONS_AT_ONCE,
  Outgoing,
  SEND_BYTES,
  sendInSlices,
  startBatchConsumer,
} from '../../libs/runtime/kafka';
import { ActionMessage, BundleProcessor } from './bundle-processor';
import { MatcherMetrics } from './matcher.metrics';

/**
 * A larger payload event goes as several (splitPayloadEvent): one message must fit even a topic left at the
 * broker's 1 MB default, or the batch would be refused on every retry and its partition would stop for good.
 */
const EVENT_BYTES = SEND_BYTES;

/**
 * The only consumer of the doc-actions topic. Per batch: match, publish payload events and dead letters, save the
 * document state, then commit. A crash anywhere before the commit replays the batch: bundles already saved are
 * skipped by actionNum, the others yield the same events (same eventId), which the dispatcher drops as duplicates.
 */
@Injectable()
export class BundleConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private consumer: BatchConsumer | null = null;
  private readonly producer: Producer;
  private readonly docs: DocStateRepository;
  /** Bundles per chunk, from the payload events the last chunk fired (shared: they are the same workload). */
  private chunkSize = FIRST_CHUNK_BUNDLES;

  constructor(
    private readonly kafka: Kafka,
    db: DataSource,
    private readonly processor: BundleProcessor,
    private readonly metrics: MatcherMetrics,
    @Inject(CONFIG) private readonly config: EngineConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.docs = new DocStateRepository(db);
    this.producer = createEventProducer(kafka);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.producer.connect();
    this.consumer = await startBatchConsumer(this.kafka, {
      groupId: this.config.matcherGroupId,
      topic: this.config.actionsTopic,
      logger: this.logger,
      // several partitions at once, each in its order: a batch does not wait behind the others' round trips, and
      // partitions hold distinct documents (key = docId), so their writes never wait on each other
      partitionsConsumedConcurrently: Math.min(this.config.topicPartitions, MATCHER_PARTITIONS_AT_ONCE),
      eachBatch: (payload) => this.handleBatch(payload),
      // a partition back from another member holds documents it moved meanwhile
      onGroupJoin: () => this.processor.forgetDocs(),
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumer?.disconnect();
    await this.producer.disconnect();
  }

  private async handleBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    // lowered for the rest of the batch when a chunk's rows were too many to hold at once
    let cellCap = Infinity;
    for (let start = 0; start < batch.messages.length; ) {
      if (!isRunning() || isStale()) return;
      const chunk = batch.messages.slice(start, start + Math.min(cellCap, this.chunkSize));
      const events = await this.handleChunk(
        chunk.map((m) => ({ key: m.key, value: m.value, timestamp: Number(m.timestamp), offset: m.offset })),
        batch.partition,
      ).catch((err) => {
        // the documents remembered may be why (another instance moved one): the batch is read again from Postgres
        this.processor.forgetDocs();
        throw err;
      });
      // rows too many to hold at once: matched again in halves (nothing was published or saved)
      if (events === null) {
        cellCap = Math.ceil(chunk.length / 2);
        continue;
      }
      this.chunkSize = nextChunkSize(chunk.length, events);
      resolveOffset(chunk[chunk.length - 1].offset);
      start += chunk.length;
      await heartbeat();
    }
  }

  /** The payload events published; null when the chunk's rows were too many to hold at once, and nothing was done. */
  private async handleChunk(messages: ActionMessage[], partition: number): Promise<number | null> {
    const matched = await this.processor.process(messages);
    if (matched.overBudget) return null;
    const { actionsTopic, eventsTopic } = this.config;
    const { encode } = matched;
    const logger = this.logger;
    // Encoded as the slices are sent, so only one slice of serialized events is held at a time.
    function* outgoing(): Generator<Outgoing> {
      for (const e of matched.events) {
        const value = encode(e);
        const bytes = Buffer.byteLength(value);
        if (bytes <= EVENT_BYTES) {
          yield { topic: eventsTopic, message: { key: e.webhookId, value }, bytes };
          continue;
        }
        const parts = splitPayloadEvent(e, EVENT_BYTES);
        logger.info('payload event split', { docId: e.docId, actionNum: e.actionNum, webhookId: e.webhookId, bytes, parts: parts.length });
        for (const part of parts) {
          const json = encode(part);
          yield { topic: eventsTopic, message: { key: part.webhookId, value: json }, bytes: Buffer.byteLength(json) };
        }
      }
      for (const { message, reason } of matched.deadLetters) {
        const dead = { key: message.key, value: message.value, headers: { 'dlq-reason': reason } };
        yield { topic: `${actionsTopic}.dlq`, message: dead, bytes: message.value?.length ?? 0 };
      }
    }
    await sendInSlices(this.producer, outgoing());
    // logged once each is on the dead-letter topic; the key is the docId the publisher meant
    for (const { message, reason } of matched.deadLetters) {
      this.logger.warn('bundle dead-lettered', { partition, offset: message.offset, key: keyForLog(message.key), reason });
    }
    await this.docs.save(matched.docChanges);
    this.processor.remember(matched.docStates);
    this.metrics.payloadEvents.inc({}, matched.events.length);
    this.metrics.deadLettered.inc({}, matched.deadLetters.length);
    return matched.events.length;
  }
}

import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { Consumer, EachBatchPayload, Kafka, Partitioners, Producer } from 'kafkajs';
import { DataSource } from 'typeorm';
import { EngineConfig } from '../../libs/config';
import { DocStateRepository } from '../../libs/db/doc-state.repository';
import { Logger } from '../../libs/observability';
import { CONFIG, LOGGER } from '../../libs/runtime/core.module';
import { startBatchConsumer } from '../../libs/runtime/kafka';
import { ActionMessage, BundleProcessor } from './bundle-processor';
import { MatcherMetrics } from './matcher.metrics';

/** Documents of different partitions are matched in parallel; each partition keeps its order. */
const PARTITIONS_AT_ONCE = 3;
/** Bundles matched, published and saved together: bounds the work between two heartbeats. */
const CHUNK = 1000;

/**
 * The only consumer of the doc-actions topic. Per batch: match, publish payload events and dead letters, save the
 * document state, then commit. A crash anywhere before the commit replays the batch: bundles already saved are
 * skipped by actionNum, the others yield the same events (same eventId), which the dispatcher drops as duplicates.
 */
@Injectable()
export class BundleConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private consumer: Consumer | null = null;
  private readonly producer: Producer;
  private readonly docs: DocStateRepository;

  constructor(
    private readonly kafka: Kafka,
    db: DataSource,
    private readonly processor: BundleProcessor,
    private readonly metrics: MatcherMetrics,
    @Inject(CONFIG) private readonly config: EngineConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.docs = new DocStateRepository(db);
    this.producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.producer.connect();
    this.consumer = await startBatchConsumer(this.kafka, {
      groupId: this.config.matcherGroupId,
      topic: this.config.actionsTopic,
      logger: this.logger,
      partitionsConsumedConcurrently: PARTITIONS_AT_ONCE,
      eachBatch: (payload) => this.handleBatch(payload),
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumer?.disconnect();
    await this.producer.disconnect();
  }

  private async handleBatch({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }: EachBatchPayload): Promise<void> {
    for (let start = 0; start < batch.messages.length; start += CHUNK) {
      if (!isRunning() || isStale()) return;
      const chunk = batch.messages.slice(start, start + CHUNK);
      await this.handleChunk(
        chunk.map((m) => ({ key: m.key, value: m.value, timestamp: Number(m.timestamp), offset: m.offset })),
        batch.partition,
      );
      resolveOffset(chunk[chunk.length - 1].offset);
      await commitOffsetsIfNecessary();
      await heartbeat();
    }
  }

  private async handleChunk(messages: ActionMessage[], partition: number): Promise<void> {
    const matched = await this.processor.process(messages);
    const { actionsTopic, eventsTopic } = this.config;
    const topicMessages = [];
    if (matched.events.length > 0) {
      topicMessages.push({
        topic: eventsTopic,
        messages: matched.events.map((e) => ({ key: e.webhookId, value: JSON.stringify(e) })),
      });
    }
    if (matched.deadLetters.length > 0) {
      topicMessages.push({
        topic: `${actionsTopic}.dlq`,
        messages: matched.deadLetters.map(({ message, reason }) => ({
          key: message.key,
          value: message.value,
          headers: { 'dlq-reason': reason },
        })),
      });
      for (const { message, reason } of matched.deadLetters) {
        this.logger.warn('bundle dead-lettered', { offset: message.offset, partition, reason });
      }
    }
    if (topicMessages.length > 0) await this.producer.sendBatch({ topicMessages, acks: -1 });
    await this.docs.save(matched.docChanges);
    this.metrics.payloadEvents.inc({}, matched.events.length);
    this.metrics.deadLettered.inc({}, matched.deadLetters.length);
  }
}

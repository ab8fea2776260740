import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { Consumer, EachBatchPayload, Kafka, Message, Partitioners, Producer } from 'kafkajs';
import { DataSource } from 'typeorm';
import { EngineConfig } from '../../libs/config';
import { DocStateRepository } from '../../libs/db/doc-state.repository';
import { Logger } from '../../libs/observability';
import { CONFIG, LOGGER } from '../../libs/runtime/core.module';
import { slicesUnder, startBatchConsumer } from '../../libs/runtime/kafka';
import { ActionMessage, BundleProcessor } from './bundle-processor';
import { MatcherMetrics } from './matcher.metrics';

/** Documents of different partitions are matched in parallel; each partition keeps its order. */
const PARTITIONS_AT_ONCE = 3;
/** Bundles matched, published and saved together: bounds the work between two heartbeats. */
const CHUNK = 1000;

/**
 * Bytes of messages per produce request. The broker refuses a record batch over the topic's max.message.bytes
 * (1 MB by default), and a chunk of bundles can yield far more events than that.
 */
const SEND_BYTES = 512 * 1024;

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
    const outgoing: Array<{ topic: string; message: Message }> = matched.events.map((e) => ({
      topic: eventsTopic,
      message: { key: e.webhookId, value: JSON.stringify(e) },
    }));
    for (const { message, reason } of matched.deadLetters) {
      outgoing.push({ topic: `${actionsTopic}.dlq`, message: { key: message.key, value: message.value, headers: { 'dlq-reason': reason } } });
      this.logger.warn('bundle dead-lettered', { offset: message.offset, partition, reason });
    }
    for (const slice of slicesUnder(outgoing, SEND_BYTES)) {
      const byTopic = new Map<string, Message[]>();
      for (const { topic, message } of slice) {
        const messages = byTopic.get(topic) ?? [];
        messages.push(message);
        byTopic.set(topic, messages);
      }
      await this.producer.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })), acks: -1 });
    }
    await this.docs.save(matched.docChanges);
    this.metrics.payloadEvents.inc({}, matched.events.length);
    this.metrics.deadLettered.inc({}, matched.deadLetters.length);
  }
}

import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { EachBatchPayload, Kafka, KafkaMessage, Partitioners, Producer } from 'kafkajs';
import { DataSource } from 'typeorm';
import { EngineConfig } from '../../libs/config';
import { DeliveryRepository, ReceivedEvent, receivedEvent } from '../../libs/db/delivery.repository';
import { parsePayloadEvent } from '../../libs/delivery';
import { keyForLog, Logger } from '../../libs/observability';
import { CONFIG, LOGGER } from '../../libs/runtime/core.module';
import { BatchConsumer, startBatchConsumer } from '../../libs/runtime/kafka';
import { DeliveryScheduler } from './delivery-scheduler';
import { DispatcherMetrics } from './dispatcher.metrics';

/** The dead-letter reason of a message that is no payload event this version reads. */
const UNREADABLE = 'not a payload event (v1)';

/**
 * The only consumer of the webhook-events topic: stores each batch of payload events in the webhooks' queues,
 * then commits. Offsets move only after the store, so a crash loses nothing.
 */
@Injectable()
export class EventIntakeConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private consumer: BatchConsumer | null = null;
  private readonly producer: Producer;
  private readonly queues: DeliveryRepository;

  constructor(
    private readonly kafka: Kafka,
    db: DataSource,
    private readonly scheduler: DeliveryScheduler,
    private readonly metrics: DispatcherMetrics,
    @Inject(CONFIG) private readonly config: EngineConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.queues = new DeliveryRepository(db);
    this.producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.producer.connect();
    this.consumer = await startBatchConsumer(this.kafka, {
      groupId: this.config.dispatcherGroupId,
      topic: this.config.eventsTopic,
      logger: this.logger,
      // every partition at once: a partition's webhooks are its own (key = webhookId), so their statements never
      // wait on each other, and a batch does not wait behind the other partitions' writes
      partitionsConsumedConcurrently: this.config.topicPartitions,
      eachBatch: (payload) => this.handleBatch(payload),
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumer?.disconnect();
    await this.producer.disconnect();
  }

  private async handleBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (!isRunning() || isStale() || batch.messages.length === 0) return;
    const events: ReceivedEvent[] = [];
    const unreadable: KafkaMessage[] = [];
    for (const message of batch.messages) {
      // decoded once: parsed here, and sent as it is to Postgres
      const json = message.value?.toString('utf8') ?? null;
      const event = parsePayloadEvent(json);
      if (event) events.push(receivedEvent(event, json!));
      else unreadable.push(message);
    }
    if (unreadable.length > 0) {
      const dead = unreadable.map(({ key, value }) => ({ key, value, headers: { 'dlq-reason': UNREADABLE } }));
      await this.producer.send({ topic: `${this.config.eventsTopic}.dlq`, messages: dead, acks: -1 });
      this.metrics.eventsDeadLettered.inc({}, unreadable.length);
      // one line per message, logged once it is on the dead-letter topic: its ids are what an operator looks for
      for (const { offset, key } of unreadable) {
        this.logger.warn('payload event dead-lettered', { partition: batch.partition, offset, key: keyForLog(key), reason: UNREADABLE });
      }
    }
    const stored = await this.queues.storeEvents(events);
    const storedAt = Date.now();
    for (const { bundleTime } of events) this.metrics.intakeLag.observe((storedAt - bundleTime) / 1000);
    this.metrics.eventsQueued.inc({}, stored.queuedEvents);
    this.metrics.rowsQueued.inc({}, stored.queuedRows);
    this.metrics.eventsDuplicate.inc({}, stored.duplicates);
    this.metrics.eventsDropped.inc({}, stored.dropped);
    resolveOffset(batch.messages[batch.messages.length - 1].offset);
    await heartbeat();
    if (stored.queuedRows > 0) this.scheduler.poke();
  }
}

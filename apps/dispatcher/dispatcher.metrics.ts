import { Injectable } from '@nestjs/common';
import { AttemptResult } from '../../libs/delivery';
import { Counter, Histogram, MetricsRegistry } from '../../libs/observability';

const LAG_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

@Injectable()
export class DispatcherMetrics {
  readonly eventsQueued: Counter;
  readonly rowsQueued: Counter;
  readonly eventsDuplicate: Counter;
  readonly eventsDropped: Counter;
  readonly eventsDeadLettered: Counter;
  readonly attempts: Counter;
  readonly rowsDelivered: Counter;
  readonly intakeLag: Histogram;
  readonly endToEndLag: Histogram;

  constructor(registry: MetricsRegistry) {
    this.eventsQueued = registry.counter('dispatcher_events_queued_total', 'Payload events stored in webhook queues.');
    this.rowsQueued = registry.counter('dispatcher_rows_queued_total', 'Rows stored in webhook queues.');
    this.eventsDuplicate = registry.counter('dispatcher_events_duplicate_total', 'Payload events dropped as duplicates (same eventId).');
    this.eventsDropped = registry.counter(
      'dispatcher_events_dropped_total',
      'Payload events for webhooks deleted, disabled or enabled after the bundle.',
    );
    this.eventsDeadLettered = registry.counter('dispatcher_events_dead_lettered_total', 'Unreadable payload events sent to the DLQ.');
    const outcomes: Array<AttemptResult['kind']> = ['success', 'http-error', 'network-error', 'forbidden-url'];
    this.attempts = registry.counter('dispatcher_attempts_total', 'Delivery attempts, by outcome.', outcomes.map((outcome) => ({ outcome })));
    // not by webhook: a counter would keep a deleted webhook's series for the life of the process; per-webhook
    // series are gauges read again from Postgres (QueueHousekeeping), so they go with the webhook
    this.rowsDelivered = registry.counter('dispatcher_rows_delivered_total', 'Rows delivered (2xx).');
    this.intakeLag = registry.histogram(
      'dispatcher_intake_lag_seconds',
      'From the bundle appended to doc-actions to its payload event stored in the queue.',
      LAG_BUCKETS,
    );
    this.endToEndLag = registry.histogram(
      'dispatcher_end_to_end_lag_seconds',
      // not by webhook: 14 series per webhook would swamp /metrics; the lag per webhook is dispatcher_queue_lag_seconds
      'From the bundle appended to doc-actions to its rows delivered.',
      LAG_BUCKETS,
    );
  }
}

import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DeliveryRepository } from '../../libs/db/delivery.repository';
import { Gauge, Logger, MetricsRegistry, repeatLogged } from '../../libs/observability';
import { LOGGER } from '../../libs/runtime/core.module';

const DEPTH_EVERY_MS = 2000;
const PRUNE_EVERY_MS = 10 * 60_000;
/** Event ids are remembered this long to drop re-processed duplicates; far longer than any replay. */
const REMEMBER_EVENTS_MS = 7 * 24 * 3600_000;

/** Queue depth and lag per webhook for /metrics, and pruning of the event ids kept to drop duplicates. */
@Injectable()
export class QueueHousekeeping implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly repo: DeliveryRepository;
  private readonly depth: Gauge;
  private readonly lag: Gauge;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(db: DataSource, registry: MetricsRegistry, @Inject(LOGGER) private readonly logger: Logger) {
    this.repo = new DeliveryRepository(db);
    this.depth = registry.gauge('dispatcher_queue_rows', 'Rows waiting in each webhook queue (the batch in flight included).');
    // the end-to-end lag per webhook (SPEC section 7) as one series per waiting queue: a histogram by webhook would
    // be 14 series per webhook, and a webhook that is up to date has none
    this.lag = registry.gauge(
      'dispatcher_queue_lag_seconds',
      'Per webhook: seconds since the bundle of its oldest waiting row was appended to doc-actions.',
    );
  }

  onApplicationBootstrap(): void {
    this.timers.push(
      repeatLogged(this.logger, 'read queue depths', DEPTH_EVERY_MS, async () => {
        const depths = await this.repo.queueDepths();
        const now = Date.now();
        this.depth.reset();
        this.lag.reset();
        for (const [webhookId, { rows, oldestBundleTime }] of depths) {
          this.depth.set(rows, { webhookId });
          if (oldestBundleTime !== null) this.lag.set((now - oldestBundleTime) / 1000, { webhookId });
        }
      }),
      repeatLogged(this.logger, 'forget old event ids', PRUNE_EVERY_MS, () =>
        this.repo.forgetEventsBefore(new Date(Date.now() - REMEMBER_EVENTS_MS)),
      ),
    );
  }

  onApplicationShutdown(): void {
    this.timers.forEach(clearInterval);
  }
}

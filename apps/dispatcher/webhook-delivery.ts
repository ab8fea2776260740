import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { EngineConfig } from '../../libs/config';
import { DeliveryRepository, DeliveryState, DeliveryTarget } from '../../libs/db/delivery.repository';
import { DeliveryStore } from './delivery-store';
import {
  Batch,
  buildPayloadBody,
  buildRequest,
  headAfter,
  HttpSender,
  nextStep,
  onAttemptFinished,
  onAttemptStarted,
  parseAllowedDomains,
  RetryPolicy,
} from '../../libs/delivery';
import { Logger } from '../../libs/observability';
import { CONFIG, LOGGER } from '../../libs/runtime/core.module';
import { DispatcherMetrics } from './dispatcher.metrics';

export const USER_AGENT = 'GristWebhookEngine/0.1.0 (+https://github.com/gristlabs/grist-core)';

/** Logged when an answer comes after the webhook was cleared or taken over by another instance. */
const RESULT_DROPPED = 'attempt result dropped: queue cleared or webhook taken over by another instance';

const isAbort = (err: unknown): boolean => err instanceof Error && err.name === 'AbortError';

/**
 * Delivers one webhook's queue, oldest batch first: one request at a time, the same batch (same webhook-id header)
 * until it succeeds, then the next. A failure ends the loop; the scheduler resumes it when the retry is due.
 */
@Injectable()
export class WebhookDelivery implements OnApplicationShutdown {
  private readonly repo: DeliveryRepository;
  private readonly sender: HttpSender;
  private readonly policy: RetryPolicy;
  /** Generation of each webhook as its loop read it: a change means its queue was cleared under it. */
  private readonly generations = new Map<string, number>();

  constructor(
    store: DeliveryStore,
    private readonly metrics: DispatcherMetrics,
    @Inject(CONFIG) private readonly config: EngineConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.repo = store.repo;
    this.sender = new HttpSender({
      timeoutMs: config.webhookTimeoutMs,
      allowed: parseAllowedDomains(config.allowedWebhookDomains),
      proxyUrl: config.proxyForUntrustedUrls,
    });
    this.policy = { unitMs: config.triggerWaitDelayMs, maxAttempts: config.triggerMaxAttempts };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.sender.close();
  }

  generationOf(webhookId: string): number | undefined {
    return this.generations.get(webhookId);
  }

  /** Resolves true when the success that emptied the queue also released its lease. */
  async deliverQueue(webhookId: string, owner: string, signal: AbortSignal): Promise<boolean> {
    try {
      while (!signal.aborted) {
        const head = await this.repo.loadHead(webhookId, this.config.webhookBatchSize);
        if (!head?.batch || !head.target.enabled || head.state.nextAttemptAt > Date.now()) return false;
        this.generations.set(webhookId, head.state.generation);
        const outcome = await this.attempt(head.target, head.state, head.batch, owner, signal);
        if (outcome !== 'next') return outcome === 'emptied';
      }
      return false;
    } finally {
      this.generations.delete(webhookId);
    }
  }

  /**
   * One attempt at the head batch: `next` when it was delivered and more rows wait, `emptied` when it was delivered
   * and nothing waits (the lease went with it), `stop` otherwise.
   */
  private async attempt(
    target: DeliveryTarget,
    state: DeliveryState,
    batch: Batch,
    owner: string,
    signal: AbortSignal,
  ): Promise<'next' | 'emptied' | 'stop'> {
    const { webhookId } = target;
    const { rows, end: batchEnd } = batch;
    const batchId = state.batchId ?? randomUUID();
    const log = this.logger.child({ webhookId, docId: target.docId, batchId });
    const started = onAttemptStarted(state.status, Date.now());
    const ref = { webhookId, generation: state.generation, owner };
    if (!(await this.repo.startAttempt({ ...ref, status: started, batchId, batchEnd }))) return 'stop';

    const body = buildPayloadBody(target.payloadFormat, webhookId, target.docId, rows);
    const request = buildRequest({
      url: target.url,
      authorization: target.authorization,
      batchId,
      timestampSec: Math.floor(Date.now() / 1000),
      userAgent: USER_AGENT,
      body,
    });
    let result;
    try {
      result = await this.sender.send(request, signal);
    } catch (err) {
      if (isAbort(err)) {
        log.info('delivery abandoned', { reason: String((signal.reason as Error)?.message ?? signal.reason) });
        return 'stop';
      }
      throw err;
    }
    const now = Date.now();
    const failedAttempts = started.batchAttempts + 1;
    const step = nextStep(result, failedAttempts, this.policy, now, Math.random);
    const finished = onAttemptFinished(started, rows.length, result, step, now);
    this.metrics.attempts.inc({ outcome: result.kind });
    if (step.kind === 'delivered') {
      const rowsLeft = await this.repo.recordSuccess({ ...ref, status: finished, batchSize: rows.length, head: headAfter(batch) });
      if (rowsLeft === null) {
        log.info(RESULT_DROPPED, { outcome: result.kind });
        return 'stop';
      }
      this.metrics.rowsDelivered.inc({ webhookId }, rows.length);
      for (const r of rows) this.metrics.endToEndLag.observe((now - r.bundleTime) / 1000);
      log.debug('batch delivered', { size: rows.length, attempts: finished.lastEventBatch?.attempts });
      return rowsLeft > 0 ? 'next' : 'emptied';
    }
    if (!(await this.repo.recordFailure({ ...ref, status: finished, nextAttemptAt: now + step.delayMs }))) {
      log.info(RESULT_DROPPED, { outcome: result.kind });
      return 'stop';
    }
    log.warn('delivery failed', {
      size: rows.length,
      attempt: failedAttempts,
      status: finished.status,
      httpStatus: finished.lastEventBatch?.httpStatus,
      error: finished.lastErrorMessage,
      retryInMs: step.delayMs,
    });
    return 'stop';
  }
}

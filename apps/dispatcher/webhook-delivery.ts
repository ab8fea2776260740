import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { EngineConfig } from '../../libs/config';
import { DeliveryRepository, HeadBatch } from '../../libs/db/delivery.repository';
import { DeliveryStore } from './delivery-store';
import {
  BatchEnd,
  buildPayloadBody,
  buildRequest,
  DeliveryStatus,
  headAfter,
  HttpSender,
  nextStep,
  onAttemptFinished,
  onAttemptStarted,
  OutgoingRequest,
  parseAllowedDomains,
  QueueHead,
  RetryPolicy,
} from '../../libs/delivery';
import { Logger } from '../../libs/observability';
import { CONFIG, LOGGER } from '../../libs/runtime/core.module';
import { DispatcherMetrics } from './dispatcher.metrics';

export const USER_AGENT = 'GristWebhookEngine/0.1.0 (+https://github.com/gristlabs/grist-core)';

/** Logged when an answer comes after the webhook was cleared or taken over by another instance. */
const RESULT_DROPPED = 'attempt result dropped: queue cleared or webhook taken over by another instance';

/** An attempt ready to go: the request, and what recording its outcome needs (not the batch's rows). */
interface PreparedAttempt {
  /** The webhook, the generation its queue was read at, and this instance as the lease owner. */
  ref: { webhookId: string; generation: number; owner: string };
  docId: string;
  batchId: string;
  batchEnd: BatchEnd;
  started: DeliveryStatus;
  request: OutgoingRequest;
  size: number;
  /** Of each row, for the end-to-end lag. */
  bundleTimes: number[];
  headAfter: QueueHead;
}

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

  /**
   * Resolves true when the success that emptied the queue also released its lease. `signal` abandons the request in
   * flight; `finishing` (shutdown) lets it finish and ends the loop before the next one.
   */
  async deliverQueue(webhookId: string, owner: string, signal: AbortSignal, finishing: AbortSignal): Promise<boolean> {
    try {
      while (!signal.aborted && !finishing.aborted) {
        // read and prepared in one expression: the head batch's rows are never held in this function's locals,
        // which an async function keeps across its awaits, so they are not held while the request is in flight
        const attempt = this.prepare(await this.repo.loadHead(webhookId, this.config.webhookBatchSize), owner);
        if (!attempt) return false;
        this.generations.set(webhookId, attempt.ref.generation);
        const outcome = await this.attempt(attempt, signal);
        if (outcome !== 'next') return outcome === 'emptied';
      }
      return false;
    } finally {
      this.generations.delete(webhookId);
    }
  }

  /** The request for the head batch and what its outcome needs, without the rows; null when nothing is due. */
  private prepare(head: HeadBatch | null, owner: string): PreparedAttempt | null {
    const now = Date.now();
    if (!head?.batch || !head.target.enabled || head.state.nextAttemptAt > now) return null;
    const { target, state, batch } = head;
    const batchId = state.batchId ?? randomUUID();
    return {
      ref: { webhookId: target.webhookId, generation: state.generation, owner },
      docId: target.docId,
      batchId,
      batchEnd: batch.end,
      started: onAttemptStarted(state.status, this.policy.maxAttempts, now),
      request: buildRequest({
        url: target.url,
        authorization: target.authorization,
        batchId,
        timestampSec: Math.floor(now / 1000),
        userAgent: USER_AGENT,
        body: buildPayloadBody(target.payloadFormat, target.webhookId, target.docId, batch.rows),
      }),
      size: batch.rows.length,
      bundleTimes: batch.rows.map((r) => r.bundleTime),
      headAfter: headAfter(batch),
    };
  }

  /**
   * One attempt at the head batch: `next` when it was delivered and more rows wait, `emptied` when it was delivered
   * and nothing waits (the lease went with it), `stop` otherwise.
   */
  private async attempt(attempt: PreparedAttempt, signal: AbortSignal): Promise<'next' | 'emptied' | 'stop'> {
    const { ref, batchId, batchEnd, started, size } = attempt;
    const { webhookId } = ref;
    const log = this.logger.child({ webhookId, docId: attempt.docId, batchId });
    if (!(await this.repo.startAttempt({ ...ref, status: started, batchId, batchEnd }))) return 'stop';

    let result;
    try {
      result = await this.sender.send(attempt.request, signal);
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
    const finished = onAttemptFinished(started, size, result, step, now);
    this.metrics.attempts.inc({ outcome: result.kind });
    if (step.kind === 'delivered') {
      const rowsLeft = await this.repo.recordSuccess({ ...ref, status: finished, batchSize: size, head: attempt.headAfter });
      if (rowsLeft === null) {
        log.info(RESULT_DROPPED, { outcome: result.kind });
        return 'stop';
      }
      this.metrics.rowsDelivered.inc({}, size);
      for (const bundleTime of attempt.bundleTimes) this.metrics.endToEndLag.observe((now - bundleTime) / 1000);
      log.debug('batch delivered', { size, attempts: finished.lastEventBatch?.attempts });
      return rowsLeft > 0 ? 'next' : 'emptied';
    }
    if (!(await this.repo.recordFailure({ ...ref, status: finished, nextAttemptAt: now + step.delayMs }))) {
      log.info(RESULT_DROPPED, { outcome: result.kind });
      return 'stop';
    }
    log.warn('delivery failed', {
      size,
      attempt: failedAttempts,
      status: finished.status,
      httpStatus: finished.lastEventBatch?.httpStatus,
      error: finished.lastErrorMessage,
      retryInMs: step.delayMs,
    });
    return 'stop';
  }
}

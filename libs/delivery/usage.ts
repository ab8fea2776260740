import { toStorableText, WebhookStatus, WebhookUsage } from '../domain';
import { AttemptResult, NextStep } from './retry-schedule';

/** What the dispatcher keeps per webhook (persisted as columns): the `usage` of SPEC section 5 plus retry state. */
export interface DeliveryStatus extends WebhookUsage {
  /** Failed attempts of the batch at the head of the queue (0 = its first attempt is not made yet). */
  batchAttempts: number;
}

/** Longest error message kept: a response body is cut here, so a huge error page cannot bloat the status. */
export const ERROR_MESSAGE_MAX = 1000;

/** Never sent, just cleared or just disabled: only the queue depth is known. */
export const idleStatus = (numWaiting: number): DeliveryStatus => ({
  numWaiting,
  status: 'idle',
  updatedTime: null,
  lastSuccessTime: null,
  lastFailureTime: null,
  lastErrorMessage: null,
  lastHttpStatus: null,
  lastEventBatch: null,
  batchAttempts: 0,
});

/**
 * A request for the batch at the head goes out. A batch that has had `maxAttempts` (TRIGGER_MAX_ATTEMPTS) failed
 * attempts is `postponed` while it keeps being retried: counted from its attempts, not its previous status, which
 * may be `error` (URL no longer allowed) in between.
 */
export function onAttemptStarted(s: DeliveryStatus, maxAttempts: number, now: number): DeliveryStatus {
  const later: WebhookStatus = s.batchAttempts >= maxAttempts ? 'postponed' : 'retrying';
  const status: WebhookStatus = s.batchAttempts === 0 ? 'sending' : later;
  return { ...s, status, updatedTime: now };
}

/**
 * The request for the head batch (`batchSize` rows) ended with `result`; `step` is what `nextStep` decided for it.
 * After a success with rows still waiting the status stays `sending`: the next batch goes out at once, and `idle`
 * means nothing waits (SPEC section 5). On a network error `lastHttpStatus` keeps the status of the last response
 * actually received.
 */
export function onAttemptFinished(
  s: DeliveryStatus,
  batchSize: number,
  result: AttemptResult,
  step: NextStep,
  now: number,
): DeliveryStatus {
  const attempts = s.batchAttempts + 1;
  if (result.kind === 'success') {
    const numWaiting = Math.max(s.numWaiting - batchSize, 0);
    return {
      ...s,
      numWaiting,
      status: numWaiting === 0 ? 'idle' : 'sending',
      updatedTime: now,
      lastSuccessTime: now,
      lastHttpStatus: result.httpStatus,
      lastEventBatch: { size: batchSize, attempts, status: 'success', httpStatus: result.httpStatus, errorMessage: null },
      batchAttempts: 0,
    };
  }
  const httpStatus = result.kind === 'http-error' ? result.httpStatus : null;
  const errorMessage = describeFailure(result);
  return {
    ...s,
    status: result.kind === 'forbidden-url' ? 'error' : step.kind === 'retry' && step.postponed ? 'postponed' : 'retrying',
    updatedTime: now,
    lastFailureTime: now,
    lastErrorMessage: errorMessage,
    lastHttpStatus: httpStatus ?? s.lastHttpStatus,
    lastEventBatch: { size: batchSize, attempts, status: 'failure', httpStatus, errorMessage },
    batchAttempts: attempts,
  };
}

/** The `usage` object of SPEC section 5. */
export function toUsage(s: DeliveryStatus): WebhookUsage {
  const { batchAttempts: _retryState, ...usage } = s;
  return usage;
}

/**
 * The response body (trimmed, cut to ERROR_MESSAGE_MAX; `HTTP <status>` when empty) or the error's message, as text
 * Postgres can store: a NUL in a binary body, or an emoji cut in half, would make the failure's record fail.
 */
function describeFailure(result: Exclude<AttemptResult, { kind: 'success' }>): string {
  if (result.kind !== 'http-error') return truncate(result.message);
  const body = result.body.trim();
  return body === '' ? `HTTP ${result.httpStatus}` : truncate(body);
}

function truncate(text: string): string {
  return toStorableText(text.length <= ERROR_MESSAGE_MAX ? text : `${text.slice(0, ERROR_MESSAGE_MAX - 1)}…`);
}

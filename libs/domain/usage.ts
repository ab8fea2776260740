export type WebhookStatus = 'idle' | 'sending' | 'retrying' | 'postponed' | 'error' | 'invalid';

export interface EventBatchUsage {
  size: number;
  attempts: number;
  status: 'success' | 'failure';
  httpStatus: number | null;
  errorMessage: string | null;
}

/** The `usage` object of SPEC section 5, as the API shows it. */
export interface WebhookUsage {
  numWaiting: number;
  status: WebhookStatus;
  updatedTime: number | null;
  lastSuccessTime: number | null;
  lastFailureTime: number | null;
  lastErrorMessage: string | null;
  lastHttpStatus: number | null;
  lastEventBatch: EventBatchUsage | null;
}

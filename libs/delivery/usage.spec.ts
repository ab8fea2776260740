import { AttemptResult, NextStep } from './retry-schedule';
import { DeliveryStatus, ERROR_MESSAGE_MAX, idleStatus, onAttemptFinished, onAttemptStarted, toUsage } from './usage';

const ok = (httpStatus = 200): AttemptResult => ({ kind: 'success', httpStatus });
const httpError = (httpStatus: number, body = 'boom'): AttemptResult => ({
  kind: 'http-error',
  httpStatus,
  body,
  retryAfter: null,
});
const networkError: AttemptResult = { kind: 'network-error', message: 'connect ECONNREFUSED 127.0.0.1:1' };
const forbidden: AttemptResult = { kind: 'forbidden-url', message: 'URL is not allowed' };
const delivered: NextStep = { kind: 'delivered' };
const retry: NextStep = { kind: 'retry', delayMs: 1000, postponed: false };
const postpone: NextStep = { kind: 'retry', delayMs: 64000, postponed: true };

/** TRIGGER_MAX_ATTEMPTS of these tests. */
const maxAttempts = 20;

/** Runs one attempt: started at `t`, finished at `t + 1`. */
const attempt = (s: DeliveryStatus, size: number, result: AttemptResult, step: NextStep, t: number): DeliveryStatus =>
  onAttemptFinished(onAttemptStarted(s, maxAttempts, t), size, result, step, t + 1);

describe('idleStatus', () => {
  it('is the SPEC shape of a webhook that never sent anything', () => {
    expect(toUsage(idleStatus(7))).toEqual({
      numWaiting: 7,
      status: 'idle',
      updatedTime: null,
      lastSuccessTime: null,
      lastFailureTime: null,
      lastErrorMessage: null,
      lastHttpStatus: null,
      lastEventBatch: null,
    });
  });
});

describe('onAttemptStarted', () => {
  it.each<[string, Partial<DeliveryStatus>, string]>([
    ['first attempt of a batch', { batchAttempts: 0, status: 'idle' }, 'sending'],
    ['first attempt after a success', { batchAttempts: 0, status: 'sending' }, 'sending'],
    ['a later attempt', { batchAttempts: 2, status: 'retrying' }, 'retrying'],
    ['a later attempt after a forbidden URL', { batchAttempts: 1, status: 'error' }, 'retrying'],
    ['a postponed batch', { batchAttempts: 20, status: 'postponed' }, 'postponed'],
    ['a postponed batch past the limit', { batchAttempts: 25, status: 'postponed' }, 'postponed'],
    ['a postponed batch whose URL was then forbidden', { batchAttempts: 25, status: 'error' }, 'postponed'],
    ['the limit reached by a forbidden URL', { batchAttempts: 20, status: 'error' }, 'postponed'],
    ['one attempt short of the limit', { batchAttempts: 19, status: 'error' }, 'retrying'],
  ])('%s', (_name, patch, status) => {
    const started = onAttemptStarted({ ...idleStatus(3), ...patch }, maxAttempts, 50);
    expect(started).toMatchObject({ status, updatedTime: 50, numWaiting: 3 });
  });
});

describe('onAttemptFinished', () => {
  it('success of the only batch: idle, counters and last batch', () => {
    const s = attempt(idleStatus(3), 3, ok(), delivered, 100);
    expect(s).toEqual({
      numWaiting: 0,
      status: 'idle',
      updatedTime: 101,
      lastSuccessTime: 101,
      lastFailureTime: null,
      lastErrorMessage: null,
      lastHttpStatus: 200,
      lastEventBatch: { size: 3, attempts: 1, status: 'success', httpStatus: 200, errorMessage: null },
      batchAttempts: 0,
    });
    expect(toUsage(s)).not.toHaveProperty('batchAttempts');
  });

  it('success with rows still waiting stays sending: the next batch goes out at once', () => {
    const s = attempt(idleStatus(250), 100, ok(204), delivered, 100);
    expect(s).toMatchObject({ numWaiting: 150, status: 'sending', lastHttpStatus: 204 });
  });

  it('http failure: retrying, body as message, status recorded', () => {
    const s = attempt(idleStatus(2), 2, httpError(500, '  internal error \n'), retry, 100);
    expect(s).toEqual({
      numWaiting: 2,
      status: 'retrying',
      updatedTime: 101,
      lastSuccessTime: null,
      lastFailureTime: 101,
      lastErrorMessage: 'internal error',
      lastHttpStatus: 500,
      lastEventBatch: { size: 2, attempts: 1, status: 'failure', httpStatus: 500, errorMessage: 'internal error' },
      batchAttempts: 1,
    });
  });

  it('an empty error body is described by its status', () => {
    expect(attempt(idleStatus(1), 1, httpError(404, ''), retry, 0).lastErrorMessage).toBe('HTTP 404');
  });

  it('a long body is cut to ERROR_MESSAGE_MAX', () => {
    const s = attempt(idleStatus(1), 1, httpError(500, 'x'.repeat(5000)), retry, 0);
    expect(s.lastErrorMessage).toHaveLength(ERROR_MESSAGE_MAX);
    expect(s.lastErrorMessage?.endsWith('…')).toBe(true);
    expect(s.lastEventBatch?.errorMessage).toBe(s.lastErrorMessage);
  });

  it.each([
    ['a NUL in a binary body', 'proto\u0000buf', 'proto\uFFFDbuf'],
    ['a lone surrogate in the body', 'a\ud800b', 'a\uFFFDb'],
    ['an emoji cut in half at the limit', `${'x'.repeat(ERROR_MESSAGE_MAX - 2)}\u{1F375}tail`, `${'x'.repeat(ERROR_MESSAGE_MAX - 2)}\uFFFD…`],
    ['an emoji kept whole', 'tea \u{1F375}', 'tea \u{1F375}'],
  ])('an error message Postgres can store: %s', (_name, body, expected) => {
    const s = attempt(idleStatus(1), 1, httpError(500, body), retry, 0);
    expect(s.lastErrorMessage).toBe(expected);
    expect(s.lastEventBatch?.errorMessage).toBe(expected);
  });

  it('network error: httpStatus null in the batch, lastHttpStatus keeps the last response', () => {
    let s = attempt(idleStatus(1), 1, httpError(502), retry, 0);
    s = attempt(s, 1, networkError, retry, 10);
    expect(s).toMatchObject({
      status: 'retrying',
      lastHttpStatus: 502,
      lastErrorMessage: networkError.kind === 'network-error' ? networkError.message : '',
      lastEventBatch: { attempts: 2, status: 'failure', httpStatus: null },
      batchAttempts: 2,
    });
  });

  it('postponed once the retry step says so, and stays postponed on later attempts', () => {
    let s: DeliveryStatus = { ...idleStatus(1), batchAttempts: 19, status: 'retrying' };
    s = attempt(s, 1, httpError(500), postpone, 0);
    expect(s).toMatchObject({ status: 'postponed', batchAttempts: 20 });
    expect(onAttemptStarted(s, maxAttempts, 5).status).toBe('postponed');
    s = attempt(s, 1, httpError(500), postpone, 10);
    expect(s).toMatchObject({ status: 'postponed', batchAttempts: 21, lastEventBatch: { attempts: 21 } });
  });

  it('forbidden URL: error, events kept', () => {
    const s = attempt(idleStatus(4), 4, forbidden, retry, 0);
    expect(s).toMatchObject({
      status: 'error',
      numWaiting: 4,
      lastErrorMessage: 'URL is not allowed',
      lastEventBatch: { status: 'failure', httpStatus: null },
    });
  });

  it('a success after failures counts every attempt and keeps the last error', () => {
    let s = attempt(idleStatus(5), 5, httpError(500, 'down'), retry, 0);
    s = attempt(s, 5, networkError, retry, 10);
    s = attempt(s, 5, ok(), delivered, 20);
    expect(s).toMatchObject({
      status: 'idle',
      numWaiting: 0,
      lastSuccessTime: 21,
      lastFailureTime: 11,
      lastErrorMessage: 'connect ECONNREFUSED 127.0.0.1:1',
      lastHttpStatus: 200,
      lastEventBatch: { size: 5, attempts: 3, status: 'success', httpStatus: 200, errorMessage: null },
      batchAttempts: 0,
    });
  });

  it('a success after a forbidden URL leaves the error status', () => {
    let s = attempt(idleStatus(2), 1, forbidden, retry, 0);
    s = attempt(s, 1, ok(), delivered, 10);
    expect(s).toMatchObject({ status: 'sending', numWaiting: 1, lastEventBatch: { attempts: 2 } });
  });

  it('never lets numWaiting go negative', () => {
    expect(attempt(idleStatus(1), 3, ok(), delivered, 0).numWaiting).toBe(0);
  });
});

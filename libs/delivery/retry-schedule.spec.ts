import { AttemptResult, nextStep, parseRetryAfter, RetryPolicy } from './retry-schedule';

const policy: RetryPolicy = { unitMs: 1000, maxAttempts: 20 };
const now = Date.UTC(2025, 0, 1, 12, 0, 0);
const noJitter = (): number => 0;
const serverError: AttemptResult = { kind: 'http-error', httpStatus: 500, body: '', retryAfter: null };
const refused: AttemptResult = { kind: 'network-error', message: 'connect ECONNREFUSED' };
const httpError = (httpStatus: number, retryAfter: string | null): AttemptResult => ({
  kind: 'http-error',
  httpStatus,
  body: '',
  retryAfter,
});

describe('nextStep', () => {
  it('is delivered on success', () => {
    expect(nextStep({ kind: 'success', httpStatus: 204 }, 3, policy, now, noJitter)).toEqual({ kind: 'delivered' });
  });

  it.each([
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [4, 8000],
    [5, 16000],
    [6, 32000],
    [7, 64000],
    [8, 64000],
    [19, 64000],
  ])('after %i failed attempt(s) waits %i ms', (attempts, delayMs) => {
    expect(nextStep(serverError, attempts, policy, now, noJitter)).toEqual({ kind: 'retry', delayMs, postponed: false });
    expect(nextStep(refused, attempts, policy, now, noJitter)).toEqual({ kind: 'retry', delayMs, postponed: false });
  });

  it('scales with the unit', () => {
    expect(nextStep(serverError, 3, { unitMs: 10, maxAttempts: 20 }, now, noJitter)).toMatchObject({ delayMs: 40 });
  });

  it.each([0, 0.5, 0.999999])('adds at most 10%% jitter (random = %d)', (r) => {
    const step = nextStep(serverError, 4, policy, now, () => r);
    expect(step.kind === 'retry' && step.delayMs).toBeGreaterThanOrEqual(8000);
    expect(step.kind === 'retry' && step.delayMs).toBeLessThanOrEqual(8800);
    expect(step).toMatchObject({ delayMs: Math.round(8000 * (1 + 0.1 * r)) });
  });

  it.each([
    [20, true],
    [21, true],
    [100, true],
  ])('is postponed at the longest delay after %i attempts', (attempts, postponed) => {
    expect(nextStep(serverError, attempts, policy, now, noJitter)).toEqual({ kind: 'retry', delayMs: 64000, postponed });
    expect(nextStep(serverError, attempts, policy, now, () => 0.5)).toMatchObject({ delayMs: 67200 });
  });

  it('postpones with the longest delay even before the exponential cap is reached', () => {
    expect(nextStep(serverError, 3, { unitMs: 1000, maxAttempts: 3 }, now, noJitter)).toEqual({
      kind: 'retry',
      delayMs: 64000,
      postponed: true,
    });
  });

  it.each([
    ['429 asks for longer in seconds', httpError(429, '10'), 10000],
    ['503 asks for longer in seconds', httpError(503, ' 30 '), 30000],
    ['429 asks for longer with an HTTP date', httpError(429, new Date(now + 20000).toUTCString()), 20000],
    ['503 asks for shorter than computed', httpError(503, '0'), 1000],
    ['429 date in the past', httpError(429, new Date(now - 5000).toUTCString()), 1000],
    ['429 unreadable', httpError(429, 'soon'), 1000],
    ['500 is not honoured', httpError(500, '10'), 1000],
    ['429 asks for an hour', httpError(429, '3600'), 3_600_000],
    ['503 asks for 24 hours exactly', httpError(503, '86400'), 86_400_000],
    ['429 asks for too long: capped at 24 hours', httpError(429, '100000'), 86_400_000],
    ['429 asks for too long with an HTTP date', httpError(429, new Date(now + 30 * 86_400_000).toUTCString()), 86_400_000],
  ])('Retry-After: %s', (_name, result, delayMs) => {
    expect(nextStep(result, 1, policy, now, noJitter)).toEqual({ kind: 'retry', delayMs, postponed: false });
  });

  it.each([
    [100, '30', 30_000],
    [10, '3600', 3_600_000],
    [3_600_000, '100000', 64 * 3_600_000],
  ])('Retry-After does not depend on the unit: unit %i ms, Retry-After %s -> %i ms', (unitMs, retryAfter, delayMs) => {
    expect(nextStep(httpError(503, retryAfter), 1, { unitMs, maxAttempts: 1 }, now, noJitter)).toMatchObject({ delayMs });
  });

  it('keeps the postponed flag when Retry-After is honoured', () => {
    expect(nextStep(httpError(429, '120'), 20, policy, now, noJitter)).toEqual({
      kind: 'retry',
      delayMs: 120000,
      postponed: true,
    });
  });

  it('retries a forbidden URL like any failure: its events wait', () => {
    expect(nextStep({ kind: 'forbidden-url', message: 'no' }, 2, policy, now, noJitter)).toEqual({
      kind: 'retry',
      delayMs: 2000,
      postponed: false,
    });
  });
});

describe('parseRetryAfter', () => {
  it.each([
    [null, null],
    ['5', 5000],
    ['', null],
    ['-3', null],
    ['Wed, 01 Jan 2025 12:01:00 GMT', 60000],
    ['Wednesday, 01-Jan-25 12:01:00 GMT', 60000],
    ['Wed Jan  1 12:01:00 2025', 60000],
    ['garbage', null],
  ])('%p -> %p', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});

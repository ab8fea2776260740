/** When to try a failed batch again (SPEC section 4). Pure: time and randomness come from the caller. */

export interface RetryPolicy {
  /** TRIGGER_WAIT_DELAY: one retry unit, in ms. */
  unitMs: number;
  /** TRIGGER_MAX_ATTEMPTS: failed attempts after which the batch is `postponed`. */
  maxAttempts: number;
}

export type AttemptResult =
  | { kind: 'success'; httpStatus: number }
  /** Any non-2xx answer, 3xx included: redirects are not followed. */
  | { kind: 'http-error'; httpStatus: number; body: string; retryAfter: string | null }
  /** Connection refused or reset, DNS failure, timeout ("timed out after N ms"). */
  | { kind: 'network-error'; message: string }
  /** The URL may not be called as configured (not allowed any more, or a non-public address): status `error`. */
  | { kind: 'forbidden-url'; message: string };

export type NextStep = { kind: 'delivered' } | { kind: 'retry'; delayMs: number; postponed: boolean };

/** The longest computed delay, in units (1, 2, 4, ... 64). */
export const MAX_DELAY_UNITS = 64;
/**
 * Upper bound of what a Retry-After may ask for: a receiver's absurd value must not park a queue for ever. A fixed
 * duration, not units: the receiver speaks in seconds, whatever TRIGGER_WAIT_DELAY is.
 */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;
/** Jitter: the delay is multiplied by a factor in [1, 1 + JITTER). */
export const JITTER = 0.1;

/** attempts = failed attempts of this batch so far, this one included (1 after the first failure). */
export function nextStep(
  result: AttemptResult,
  attempts: number,
  policy: RetryPolicy,
  now: number,
  random: () => number,
): NextStep {
  if (result.kind === 'success') return { kind: 'delivered' };
  const postponed = attempts >= policy.maxAttempts;
  const units = postponed ? MAX_DELAY_UNITS : Math.min(2 ** Math.max(attempts - 1, 0), MAX_DELAY_UNITS);
  const computed = Math.round(units * policy.unitMs * (1 + JITTER * random()));
  const asked = askedDelayMs(result, now);
  const delayMs = asked === null ? computed : Math.max(computed, Math.min(asked, MAX_RETRY_AFTER_MS));
  return { kind: 'retry', delayMs, postponed };
}

/** The delay a 429 or 503 asks for with `Retry-After`, in ms; null when there is none to honour. */
function askedDelayMs(result: AttemptResult, now: number): number | null {
  if (result.kind !== 'http-error' || (result.httpStatus !== 429 && result.httpStatus !== 503)) return null;
  return parseRetryAfter(result.retryAfter, now);
}

/** `Retry-After` as delta seconds or an HTTP date, in ms from `now` (never negative); null when unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP date names its month; without this, Date.parse would read "-3" as a year.
  if (!/[a-z]/i.test(text)) return null;
  // every HTTP date is in GMT; the asctime form says so nowhere, and Date.parse would read it as local time
  const date = Date.parse(/\b(GMT|UTC)\b/i.test(text) ? text : `${text} GMT`);
  return Number.isNaN(date) ? null : Math.max(date - now, 0);
}

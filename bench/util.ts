/** Small helpers shared by the bench: waiting, statistics, formatting. */
import { randomBytes } from 'node:crypto';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A short id that makes database, topic and group names unique per run. */
export const runId = (): string => `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;

/** Polls `check` until it returns a truthy value; errors thrown by `check` end the wait at once. */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles, in the unit of the values. */
export function summarize(values: number[]): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]);
  return { count: sorted.length, p50: at(50), p95: at(95), p99: at(99), max: sorted.length ? sorted[sorted.length - 1] : NaN };
}

export const perSecond = (count: number, ms: number): number => (ms > 0 ? (count * 1000) / ms : NaN);

export function fmt(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export const pct = (ratio: number | null): string => (ratio === null || !Number.isFinite(ratio) ? 'n/a' : `${Math.round(ratio * 100)}%`);

import { PayloadEvent } from '../domain';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A message of the webhook-events topic, or null when it is not a payload event (v1) the dispatcher can store: a
 * value that reached Postgres malformed would fail the whole batch's statement, again on every retry.
 */
export function parsePayloadEvent(json: string | null): PayloadEvent | null {
  try {
    const e = JSON.parse(json ?? '');
    const ok =
      e?.v === 1 &&
      typeof e.eventId === 'string' &&
      typeof e.webhookId === 'string' &&
      UUID.test(e.webhookId) &&
      typeof e.tableId === 'string' &&
      Number.isSafeInteger(e.actionNum) &&
      Number.isSafeInteger(e.bundleTime) &&
      Array.isArray(e.rows);
    return ok ? (e as PayloadEvent) : null;
  } catch {
    return null;
  }
}

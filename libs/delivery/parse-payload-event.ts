import { jsonProblem, MAX_EVENT_ID_BYTES, PayloadEvent } from '../domain';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A message of the webhook-events topic, or null when it is not a payload event (v1) the dispatcher can store: a
 * value that reached Postgres malformed would fail the whole batch's statement, again on every retry.
 */
export function parsePayloadEvent(json: string | null): PayloadEvent | null {
  try {
    const text = json ?? '';
    const e = JSON.parse(text);
    const ok =
      e?.v === 1 &&
      typeof e.eventId === 'string' &&
      Buffer.byteLength(e.eventId) <= MAX_EVENT_ID_BYTES &&
      typeof e.webhookId === 'string' &&
      UUID.test(e.webhookId) &&
      typeof e.tableId === 'string' &&
      Number.isSafeInteger(e.actionNum) &&
      Number.isSafeInteger(e.bundleTime) &&
      Array.isArray(e.rows) &&
      e.rows.every(isPayloadRow) &&
      jsonProblem(text, e) === undefined;
    return ok ? (e as PayloadEvent) : null;
  } catch {
    return null;
  }
}

/** What building a request reads of a row: its id and its columns. */
const isPayloadRow = (row: unknown): boolean => {
  const r = row as { id?: unknown; fields?: unknown } | null;
  return typeof r === 'object' && r !== null && Number.isSafeInteger(r.id) && typeof r.fields === 'object' && r.fields !== null;
};

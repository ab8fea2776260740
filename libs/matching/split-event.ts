import { PayloadEvent, PayloadRow } from '../domain';

/**
 * A payload event too large for one Kafka message (a bundle that imports many rows, say), as consecutive events of
 * its rows, each at most `maxBytes` of JSON (a single larger row goes alone). Part 1 keeps the event's id and part
 * k > 1 gets `:part<k>`, so a bundle matched again yields the same parts, and the dispatcher drops them as duplicates.
 */
export function splitPayloadEvent(event: PayloadEvent, maxBytes: number): PayloadEvent[] {
  const envelope = envelopeBytes(event);
  const parts: PayloadEvent[] = [];
  let rows: PayloadEvent['rows'] = [];
  let bytes = envelope;
  const flush = (): void => {
    const eventId = parts.length === 0 ? event.eventId : `${event.eventId}:part${parts.length + 1}`;
    parts.push({ ...event, eventId, rows });
  };
  for (const row of event.rows) {
    // +1 for the comma between rows
    const rowBytes = Buffer.byteLength(JSON.stringify(row)) + 1;
    if (rows.length > 0 && bytes + rowBytes > maxBytes) {
      flush();
      rows = [];
      bytes = envelope;
    }
    rows.push(row);
    bytes += rowBytes;
  }
  if (rows.length > 0 || parts.length === 0) flush();
  return parts;
}

/** The event without rows, plus room for the longest part suffix. */
const envelopeBytes = (event: PayloadEvent): number =>
  Buffer.byteLength(JSON.stringify({ ...event, rows: [] })) + `:part${event.rows.length}`.length;

/**
 * The largest message the events topic surely takes: the broker's default max.message.bytes (1,048,588 bytes for
 * the record batch), less room for the batch's and record's own fields and the key.
 */
export const MAX_EVENT_BYTES = 1_000_000;

/**
 * The id of a row of the event too large to be published even alone, in a part of its own (`rowJson` gives the
 * row's JSON), or undefined. Such an event would be refused on every retry of its batch.
 */
export function rowTooLargeToSend(event: PayloadEvent, rowJson: (row: PayloadRow) => string, maxBytes: number): number | undefined {
  // Most rows need no count of bytes: a UTF-16 unit is at most 3 bytes of UTF-8 (6 in the envelope, where JSON
  // may escape it).
  const roughEnvelope = 6 * (2 * event.docId.length + event.tableId.length) + 300;
  let envelope: number | undefined;
  for (const row of event.rows) {
    const json = rowJson(row);
    if (3 * json.length + roughEnvelope <= maxBytes) continue;
    envelope ??= envelopeBytes(event);
    if (Buffer.byteLength(json) + envelope > maxBytes) return row.id;
  }
  return undefined;
}

import { PayloadEvent } from '../domain';

/**
 * A payload event too large for one Kafka message (a bundle that imports many rows, say), as consecutive events of
 * its rows, each at most `maxBytes` of JSON (a single larger row goes alone). Part 1 keeps the event's id and part
 * k > 1 gets `:part<k>`, so a bundle matched again yields the same parts, and the dispatcher drops them as duplicates.
 */
export function splitPayloadEvent(event: PayloadEvent, maxBytes: number): PayloadEvent[] {
  // the envelope without rows, plus room for the longest part suffix
  const envelope = Buffer.byteLength(JSON.stringify({ ...event, rows: [] })) + `:part${event.rows.length}`.length;
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

import { PayloadEvent, PayloadRow } from '../domain';

/** The serialized end of the events sharing one rows array, with the event it was made from. */
interface Tail {
  event: PayloadEvent;
  json: string;
}

export interface PayloadEventEncoder {
  (event: PayloadEvent): string;
  /** A row's JSON, as the encoder writes it into events (serialized once). */
  row(row: PayloadRow): string;
}

/**
 * Serializes payload events exactly as `JSON.stringify(event)` does. Webhooks firing for the same rows of a bundle
 * share the row objects and often the whole rows array (applyBundle), so each is serialized once per encoder, not
 * once per event. Use one encoder per batch of events: it remembers what it serialized until dropped.
 */
export function payloadEventEncoder(): PayloadEventEncoder {
  const rowJson = new Map<PayloadRow, string>();
  const tails = new Map<PayloadRow[], Tail>();
  const rowOf = (row: PayloadRow): string => {
    let json = rowJson.get(row);
    if (json === undefined) rowJson.set(row, (json = JSON.stringify(row)));
    return json;
  };
  const encode = (event: PayloadEvent): string => {
    let tail = tails.get(event.rows);
    if (tail === undefined || !sameTail(tail.event, event)) {
      // the keys after webhookId, in PayloadEvent's order as JSON.stringify writes them
      const json =
        `"docId":${JSON.stringify(event.docId)},"tableId":${JSON.stringify(event.tableId)},` +
        `"actionNum":${JSON.stringify(event.actionNum)},"bundleTime":${JSON.stringify(event.bundleTime)},` +
        `"rows":[${event.rows.map(rowOf).join(',')}]}`;
      tails.set(event.rows, (tail = { event, json }));
    }
    return `{"v":${JSON.stringify(event.v)},"eventId":${JSON.stringify(event.eventId)},"webhookId":${JSON.stringify(event.webhookId)},${tail.json}`;
  };
  return Object.assign(encode, { row: rowOf });
}

const sameTail = (a: PayloadEvent, b: PayloadEvent): boolean =>
  a.docId === b.docId && a.tableId === b.tableId && a.actionNum === b.actionNum && a.bundleTime === b.bundleTime;

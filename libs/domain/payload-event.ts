import { CellValue, ColValues } from './actions';
import { EventType } from './webhook';

/** One row of a payload event: what a webhook receives about one row changed by one bundle. */
export interface PayloadRow {
  type: EventType;
  id: number;
  /** Every column of the row after the bundle (its last known state for `remove`), keyed by column id. */
  fields: ColValues;
  /** Old values of the changed columns (empty for `add`). */
  previous: Record<string, CellValue>;
  changedColIds: string[];
}

/** Message of the webhook-events topic (key = webhookId): one per (bundle, webhook). */
export interface PayloadEvent {
  v: 1;
  /** `<docId>:<actionNum>:<webhookId>`: a re-processed bundle yields the same id. */
  eventId: string;
  webhookId: string;
  docId: string;
  tableId: string;
  actionNum: number;
  /** Kafka timestamp of the bundle's message (ms), for end-to-end lag. */
  bundleTime: number;
  rows: PayloadRow[];
}

export const payloadEventId = (docId: string, actionNum: number, webhookId: string): string =>
  `${docId}:${actionNum}:${webhookId}`;

export const EVENT_TYPES = ['add', 'update', 'remove'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type PayloadFormat = 'grist' | 'envelope';

/** What the matcher needs to know of a webhook; tables and columns are held by their stable refs. */
export interface WebhookRule {
  id: string;
  docId: string;
  /** null once its table was removed (the webhook is then `invalid` and fires nothing). */
  tableRef: string | null;
  eventTypes: EventType[];
  readyColRef: string | null;
  watchedColRefs: string[];
  enabled: boolean;
  /** Milliseconds since the epoch when it was created or last enabled: older bundles never fire it. */
  activeSince: number;
}

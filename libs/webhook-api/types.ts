import { EventType, PayloadFormat, WebhookRule } from '../domain';
import { AllowedDomains } from '../delivery/url-policy';

/** What a client may send as a webhook's fields (SPEC section 6): nothing is trusted until validated. */
export interface WebhookFieldsInput {
  url?: unknown;
  authorization?: unknown;
  eventTypes?: unknown;
  tableId?: unknown;
  watchedColIds?: unknown;
  enabled?: unknown;
  isReadyColumn?: unknown;
  name?: unknown;
  memo?: unknown;
  payloadFormat?: unknown;
}

/**
 * Stored webhook (what the repository keeps), with table/columns as stable refs so renames never break it.
 * It is a `WebhookRule` plus what only the API and the dispatcher need.
 */
export interface StoredWebhook extends WebhookRule {
  url: string;
  name: string;
  memo: string;
  /** Sent as the Authorization header; "" = none. */
  authorization: string;
  unsubscribeKey: string;
  payloadFormat: PayloadFormat;
}

/** A validated new webhook; the service adds its id, docId and unsubscribeKey, the repository its activeSince. */
export type WebhookDraft = Omit<StoredWebhook, 'id' | 'docId' | 'unsubscribeKey' | 'activeSince'>;
export type NewWebhook = Omit<StoredWebhook, 'activeSince'>;

export interface ApiPolicy {
  allowed: AllowedDomains;
}

/** `fields` of a webhook as GET shows it (SPEC section 6), names resolved from refs. */
export type ApiWebhookFields = {
  url: string;
  unsubscribeKey: string;
  eventTypes: EventType[];
  isReadyColumn: string | null;
  tableId: string | null;
  watchedColIds: string[];
  enabled: boolean;
  name: string;
  memo: string;
  authorization: string;
  payloadFormat: PayloadFormat;
};

import { DocSchema, findColumnByRef, findTableByRef } from '../domain';
import { ApiWebhookFields, StoredWebhook } from './types';

/**
 * What GET shows as `fields`: refs resolved to the current names, so renames show through. A removed table shows
 * `tableId: null` (and no columns); a removed ready column shows null; removed watched columns are dropped.
 */
export function toApiFields(w: StoredWebhook, schema: DocSchema): ApiWebhookFields {
  const table = findTableByRef(schema, w.tableRef);
  const colId = (ref: string | null): string | null => (table && findColumnByRef(table, ref)?.id) ?? null;
  return {
    url: w.url,
    unsubscribeKey: w.unsubscribeKey,
    eventTypes: [...w.eventTypes],
    isReadyColumn: colId(w.readyColRef),
    tableId: table?.id ?? null,
    watchedColIds: w.watchedColRefs.map(colId).filter((id): id is string => id !== null),
    enabled: w.enabled,
    name: w.name,
    memo: w.memo,
    authorization: w.authorization,
    payloadFormat: w.payloadFormat,
  };
}

/** True when the webhook's table is gone: its status must show `invalid`. */
export const isWebhookInvalid = (w: StoredWebhook, schema: DocSchema): boolean =>
  findTableByRef(schema, w.tableRef) === undefined;

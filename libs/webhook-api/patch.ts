import { DocSchema, findTableById, findTableByRef } from '../domain';
import { tableNotFound } from './api-error';
import {
  FIELD_NAMES,
  assertEventTypes,
  assertUrlAllowed,
  checkFields,
  resolveReadyCol,
  resolveWatchedCols,
} from './fields';
import { ApiPolicy, StoredWebhook } from './types';

/**
 * PATCH body applied to a stored webhook (SPEC section 6). Absent fields stay as they are; `watchedColIds` and
 * `isReadyColumn` sent without `tableId` apply to the current table; moving to another table resets both unless
 * given too. `emptyQueue` is true when the body disables the webhook; enabling a disabled one restarts
 * `activeSince` at `now` so it never fires for bundles older than that.
 */
export function applyPatch(
  current: StoredWebhook,
  body: unknown,
  schema: DocSchema,
  policy: ApiPolicy,
  now: number,
): { next: StoredWebhook; emptyQueue: boolean } {
  const fields = checkFields(body, 'body', FIELD_NAMES, []);
  if (fields.url !== undefined) assertUrlAllowed(fields.url, policy);
  const eventTypes = fields.eventTypes === undefined ? current.eventTypes : assertEventTypes(fields.eventTypes);

  // undefined when the current table was removed: naming columns then needs a tableId (see tableGone in fields.ts).
  let table = findTableByRef(schema, current.tableRef);
  let tableRef = current.tableRef;
  if (fields.tableId !== undefined) {
    table = findTableById(schema, fields.tableId);
    if (!table) throw tableNotFound(fields.tableId);
    tableRef = table.ref;
  }
  const tableChanged = tableRef !== current.tableRef;

  const watchedColRefs =
    fields.watchedColIds !== undefined
      ? resolveWatchedCols(table, fields.watchedColIds)
      : tableChanged
        ? []
        : current.watchedColRefs;
  const readyColRef =
    fields.isReadyColumn !== undefined
      ? resolveReadyCol(table, fields.isReadyColumn)
      : tableChanged
        ? null
        : current.readyColRef;

  const enabled = fields.enabled ?? current.enabled;
  const next: StoredWebhook = {
    ...current,
    tableRef,
    url: fields.url ?? current.url,
    eventTypes,
    name: fields.name ?? current.name,
    memo: fields.memo ?? current.memo,
    readyColRef,
    watchedColRefs,
    enabled,
    // "" removes the header.
    authorization: fields.authorization ?? current.authorization,
    payloadFormat: fields.payloadFormat ?? current.payloadFormat,
    activeSince: enabled && !current.enabled ? now : current.activeSince,
  };
  return { next, emptyQueue: fields.enabled === false };
}

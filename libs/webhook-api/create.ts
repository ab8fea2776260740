import { DocSchema, EventType, findTableById } from '../domain';
import { invalidPayload, tableNotFound } from './api-error';
import {
  CheckedFields,
  FIELD_NAMES,
  assertEventTypes,
  assertUrlAllowed,
  checkFields,
  isObject,
  isString,
  ownValue,
  resolveReadyCol,
  resolveWatchedCols,
  throwIfAny,
  unknownFields,
} from './fields';
import { ApiPolicy, WebhookDraft } from './types';

type CreateFields = CheckedFields & { url: string; eventTypes: EventType[]; tableId: string };

const SUBSCRIBE_FIELDS = FIELD_NAMES.filter((name) => name !== 'tableId');

/**
 * POST /webhooks body -> validated drafts. The structure of every webhook is checked first, then each one's URL,
 * table and columns in turn (as Grist, whose route validates the whole collection before registering any), all of
 * them before any is created: the first error is thrown as an ApiError.
 */
export function validateCreateBody(body: unknown, schema: DocSchema, policy: ApiPolicy): WebhookDraft[] {
  if (!isObject(body)) throw invalidPayload('body is not an object');
  const webhooks = ownValue(body, 'webhooks');
  const listProblem =
    webhooks === undefined ? ['webhooks is missing'] : Array.isArray(webhooks) ? [] : ['webhooks is not an array'];
  throwIfAny([...listProblem, ...unknownFields(body, ['webhooks'])]);
  const checked = (webhooks as unknown[]).map((webhook, i) => {
    const path = `webhooks[${i}]`;
    if (!isObject(webhook)) throw invalidPayload(`${path} is not an object`);
    const fields = ownValue(webhook, 'fields');
    const fieldsProblem = fields === undefined ? [`${path}.fields is missing`] : [];
    throwIfAny([...fieldsProblem, ...unknownFields(webhook, ['fields'])]);
    return checkFields(fields, `${path}.fields`, FIELD_NAMES, ['url', 'eventTypes', 'tableId']) as CreateFields;
  });
  return checked.map((fields) => toDraft(fields, schema, policy));
}

/** POST /tables/:tableId/_subscribe body (the fields without tableId, which comes from the path) -> one draft. */
export function validateSubscribeBody(
  tableId: string,
  body: unknown,
  schema: DocSchema,
  policy: ApiPolicy,
): WebhookDraft {
  const checked = checkFields(body, 'body', SUBSCRIBE_FIELDS, ['url', 'eventTypes']);
  return toDraft({ ...(checked as CreateFields), tableId }, schema, policy);
}

/**
 * POST /tables/:tableId/_unsubscribe body -> the webhook id. The unsubscribeKey is only type-checked: every caller
 * reaching the route owns the document, and owners need none (as Grist).
 */
export function validateUnsubscribeBody(body: unknown): string {
  if (!isObject(body)) throw invalidPayload('body is not an object');
  const webhookId = ownValue(body, 'webhookId');
  const unsubscribeKey = ownValue(body, 'unsubscribeKey');
  throwIfAny([
    ...(webhookId === undefined ? ['webhookId is missing'] : [isString('webhookId', webhookId)]),
    ...(unsubscribeKey === undefined ? [] : [isString('unsubscribeKey', unsubscribeKey)]),
    ...unknownFields(body, ['webhookId', 'unsubscribeKey']),
  ].filter((problem): problem is string => problem !== null));
  return webhookId as string;
}

/** The checks that need the policy and the schema, in SPEC order: URL, empty eventTypes, table, columns. */
function toDraft(fields: CreateFields, schema: DocSchema, policy: ApiPolicy): WebhookDraft {
  assertUrlAllowed(fields.url, policy);
  const eventTypes = assertEventTypes(fields.eventTypes);
  const table = findTableById(schema, fields.tableId);
  if (!table) throw tableNotFound(fields.tableId);
  const watchedColRefs = resolveWatchedCols(table, fields.watchedColIds ?? []);
  const readyColRef = resolveReadyCol(table, fields.isReadyColumn ?? null);
  return {
    tableRef: table.ref,
    url: fields.url,
    eventTypes,
    name: fields.name ?? '',
    memo: fields.memo ?? '',
    readyColRef,
    watchedColRefs,
    enabled: fields.enabled ?? true,
    authorization: fields.authorization ?? '',
    payloadFormat: fields.payloadFormat ?? 'grist',
  };
}

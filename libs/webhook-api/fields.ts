import { EVENT_TYPES, EventType, PayloadFormat, TableDef, findColumnById } from '../domain';
import { isUrlAllowed } from '../delivery/url-policy';
import { ApiError, badRequest, columnNotFound, invalidPayload, notFound, urlForbidden } from './api-error';
import { ApiPolicy, WebhookFieldsInput } from './types';

type FieldName = keyof WebhookFieldsInput & string;

/** Grist's declaration order of WebhookFields: structural errors are reported in this order. */
export const FIELD_NAMES: readonly FieldName[] = [
  'url',
  'authorization',
  'eventTypes',
  'tableId',
  'watchedColIds',
  'enabled',
  'isReadyColumn',
  'name',
  'memo',
  'payloadFormat',
];

const PAYLOAD_FORMATS: readonly PayloadFormat[] = ['grist', 'envelope'];

/** Fields that passed the structural checks (types only; tables, columns and URL are checked later). */
export interface CheckedFields {
  url?: string;
  authorization?: string;
  eventTypes?: EventType[];
  tableId?: string;
  watchedColIds?: string[];
  enabled?: boolean;
  isReadyColumn?: string | null;
  name?: string;
  memo?: string;
  payloadFormat?: PayloadFormat;
}

/** Returns the error message for `value` at `path`, or null when it is fine. */
type Check = (path: string, value: unknown) => string | null;

/** Postgres text cannot hold NUL: refused here so a stored string never fails its INSERT. */
export const isString: Check = (path, v) =>
  typeof v !== 'string' ? `${path} is not a string` : v.includes('\u0000') ? `${path} contains a NUL character` : null;

/** Sent as the Authorization header: only what a header value may hold (no CR/LF, no characters past U+00FF). */
const isHeaderValue: Check = (path, v) =>
  isString(path, v) ?? (/^[\t\x20-\x7e\x80-\xff]*$/.test(v as string) ? null : `${path} is not a valid HTTP header value`);

const oneOf =
  (values: readonly string[]): Check =>
  (path, v) =>
    typeof v === 'string' && values.includes(v)
      ? null
      : `${path} is none of ${values.map((x) => JSON.stringify(x)).join(', ')}`;

/** Reports the first bad item only, like `eventTypes[0] is none of ...`. */
const arrayOf =
  (item: Check): Check =>
  (path, v) => {
    if (!Array.isArray(v)) return `${path} is not an array`;
    for (let i = 0; i < v.length; i++) {
      const error = item(`${path}[${i}]`, v[i]);
      if (error) return error;
    }
    return null;
  };

const CHECKS: Record<FieldName, Check> = {
  url: isString,
  authorization: isHeaderValue,
  // Lists `remove` too (SPEC 7); Grist's message `is none of "add", "update"` is a prefix of this one.
  eventTypes: arrayOf(oneOf(EVENT_TYPES)),
  tableId: isString,
  watchedColIds: arrayOf(isString),
  enabled: (path, v) => (typeof v === 'boolean' ? null : `${path} is not a boolean`),
  isReadyColumn: (path, v) => (v === null || typeof v === 'string' ? null : `${path} is not a string or null`),
  name: isString,
  memo: isString,
  payloadFormat: oneOf(PAYLOAD_FORMATS),
};

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** An own property only: a body is parsed JSON, nothing must come from a prototype. */
export const ownValue = (obj: Record<string, unknown>, key: string): unknown =>
  Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;

/**
 * Structural check of one webhook's fields: every problem (missing, mistyped, then unknown fields) is listed in
 * one 400 Invalid payload, as Grist's checker lists several, so clients matching any of them still match.
 */
export function checkFields(
  raw: unknown,
  label: string,
  allowed: readonly FieldName[],
  required: readonly FieldName[],
): CheckedFields {
  if (!isObject(raw)) throw invalidPayload(`${label} is not an object`);
  const errors: string[] = [];
  for (const name of allowed) {
    const value = ownValue(raw, name);
    if (value === undefined) {
      if (required.includes(name)) errors.push(`${name} is missing`);
    } else {
      const error = CHECKS[name](name, value);
      if (error) errors.push(error);
    }
  }
  throwIfAny([...errors, ...unknownFields(raw, allowed)]);
  return raw as CheckedFields;
}

/** One 400 Invalid payload listing every structural problem found at one level. */
export function throwIfAny(errors: string[]): void {
  if (errors.length > 0) throw invalidPayload(errors.join('; '));
}

export const unknownFields = (raw: Record<string, unknown>, allowed: readonly string[]): string[] =>
  Object.keys(raw)
    .filter((key) => !allowed.includes(key))
    .map((key) => `unknown field "${key}"`);

export function assertUrlAllowed(url: string, policy: ApiPolicy): void {
  if (!isUrlAllowed(url, policy.allowed)) throw urlForbidden();
}

export function assertEventTypes(eventTypes: EventType[]): EventType[] {
  // A plain error without details, as Grist.
  if (eventTypes.length === 0) throw badRequest('eventTypes must be a non-empty array');
  return unique(eventTypes);
}

/** Column ids as clients write them: surrounding spaces and a leading `$` (formula style) are dropped. */
const normalizeColId = (colId: string): string => colId.trim().replace(/^\$/, '');

/** Thrown when columns must be named in a table that no longer exists (PATCH of an `invalid` webhook). */
const tableGone = (): ApiError =>
  notFound('Table not found: the webhook\'s table was removed, send "tableId" with the columns');

function resolveColumn(table: TableDef | undefined, colId: string): string {
  if (!table) throw tableGone();
  const column = findColumnById(table, colId);
  if (!column) throw columnNotFound(colId);
  return column.ref;
}

/** Watched column ids -> refs, empty entries dropped; unknown ones are 404. */
export const resolveWatchedCols = (table: TableDef | undefined, colIds: string[]): string[] =>
  unique(
    colIds
      .map(normalizeColId)
      .filter((colId) => colId !== '')
      .map((colId) => resolveColumn(table, colId)),
  );

/** Ready column id -> ref; null or "" means none. */
export function resolveReadyCol(table: TableDef | undefined, colId: string | null): string | null {
  const normalized = colId === null ? '' : normalizeColId(colId);
  return normalized === '' ? null : resolveColumn(table, normalized);
}

const unique = <T>(items: T[]): T[] => [...new Set(items)];

import {
  ActionBundle,
  CellValue,
  ColumnDef,
  ColValues,
  DocSchema,
  EventType,
  PayloadRow,
  TableDef,
  WebhookRule,
  defaultForType,
  findColumnByRef,
} from '../domain';
import { CELLS_COUNTED, DocState, MAX_BUNDLE_CELLS, StoredRow, TouchedRow, applyActions, cellsOf } from './doc-state';

export interface RowWrite {
  tableRef: string;
  rowId: number;
  /** Every column of the row by ref; null = row deleted. */
  values: StoredRow | null;
}

export interface WebhookEvents {
  webhookId: string;
  tableId: string;
  /** Sorted by row id. */
  rows: PayloadRow[];
}

export interface BundleOutcome {
  /** The schema after the bundle. */
  schema: DocSchema;
  /** Final state of every row the bundle touched (written or deleted), by table in schema order, then by row id. */
  rowWrites: RowWrite[];
  /**
   * Table refs whose stored rows must ALL be deleted before rowWrites are applied (RemoveTable, ReplaceTableData,
   * TableData).
   */
  clearedTables: string[];
  /** One entry per webhook with at least one row, ordered by webhook id. */
  events: WebhookEvents[];
  /** What the bundle's live rows hold in memory, counted as MAX_BUNDLE_CELLS counts it. */
  cells: number;
}

/** A touched row of a table that still exists, with its final values normalized to the schema after the bundle. */
interface FinalRow {
  touched: TouchedRow;
  /** Every column of the final schema by ref; null when removed. */
  values: StoredRow | null;
  /** Columns whose value differs from before the bundle, in schema order; computed once, on first need. */
  changed?: ColumnDef[];
  /**
   * The payload row of each event type, built once: it depends on the row only, so every webhook firing for it
   * shares one object (and the shell serializes it once).
   */
  payloads?: Partial<Record<EventType, PayloadRow>>;
}

/**
 * Applies a bundle to a document's state and decides which rows fire which webhook (SPEC section 3).
 * `bundleTime` is the Kafka timestamp of the bundle's message; `webhooks` are the document's. Throws for a bundle
 * over MAX_BUNDLE_CELLS: as its rows are touched (applyActions), and for its live rows before they are filled.
 */
export function applyBundle(
  state: DocState,
  bundle: ActionBundle,
  webhooks: WebhookRule[],
  bundleTime: number,
): BundleOutcome {
  const applied = applyActions(state, bundle.actions);
  let cells = 0;
  for (const table of applied.schema.tables) {
    let live = 0;
    for (const row of applied.tables.get(table.ref)?.rows.values() ?? []) if (row.after !== null) live++;
    cells += cellsOf(live, table.columns.length);
  }
  if (cells > MAX_BUNDLE_CELLS) throw new Error(`its rows would hold ${cells} cells ${CELLS_COUNTED}, more than ${MAX_BUNDLE_CELLS}`);
  /** Touched tables that still exist, by ref, with their touched rows. */
  const touchedTables = new Map<string, { table: TableDef; rows: FinalRow[] }>();
  const rowWrites: RowWrite[] = [];
  for (const table of applied.schema.tables) {
    const touched = applied.tables.get(table.ref);
    if (!touched) continue;
    const rows = [...touched.rows.values()]
      .sort((a, b) => a.id - b.id)
      .map((row): FinalRow => ({ touched: row, values: row.after === null ? null : normalize(row.after, table) }));
    touchedTables.set(table.ref, { table, rows });
    for (const row of rows) {
      // A cleared table loses every stored row anyway: its deletions need no write.
      if (row.values === null && touched.cleared) continue;
      rowWrites.push({ tableRef: table.ref, rowId: row.touched.id, values: row.values });
    }
  }

  const events: WebhookEvents[] = [];
  if (!isCalculate(bundle)) {
    const target = (w: WebhookRule) => (w.tableRef === null ? undefined : touchedTables.get(w.tableRef));
    // only webhooks of a touched table can fire: they alone are sorted and matched
    const candidates = webhooks
      .filter((w) => w.docId === bundle.docId && w.enabled && w.activeSince <= bundleTime && target(w))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    // Webhooks of one table with the same effective rule fire the same rows: matched once, the array shared.
    const byRule = new Map<string, PayloadRow[]>();
    for (const webhook of candidates) {
      const touched = target(webhook);
      if (!touched) continue;
      const { table, rows } = touched;
      const rule = effectiveRule(webhook, table);
      let payloadRows = byRule.get(rule.key);
      if (!payloadRows) byRule.set(rule.key, (payloadRows = matchRows(rule, table, rows)));
      if (payloadRows.length > 0) events.push({ webhookId: webhook.id, tableId: table.id, rows: payloadRows });
    }
  }

  return { schema: applied.schema, rowWrites, clearedTables: applied.clearedTables, events, cells };
}

/** Grist's recalculation bundle: it updates formula values but fires no webhook. */
function isCalculate(bundle: ActionBundle): boolean {
  const [first] = bundle.userActions;
  return bundle.userActions.length === 1 && Array.isArray(first) && first[0] === 'Calculate';
}

/** What decides which rows fire a webhook on a table; `key` is equal for equal rules on that table. */
interface EffectiveRule {
  key: string;
  ready: ColumnDef | undefined;
  watched: Set<string>;
  types: Set<EventType>;
}

function effectiveRule(webhook: WebhookRule, table: TableDef): EffectiveRule {
  // A ready column or watched columns no longer in the table are ignored (SPEC section 3).
  const ready = findColumnByRef(table, webhook.readyColRef);
  const watched = new Set(webhook.watchedColRefs.filter((ref) => findColumnByRef(table, ref)));
  const types = new Set<EventType>(webhook.eventTypes);
  // Refs are minted as `t<n>`/`c<n>` and types are words: '|' and ',' cannot occur in them.
  const key = `${table.ref}|${ready?.ref ?? ''}|${[...watched].sort().join(',')}|${[...types].sort().join(',')}`;
  return { key, ready, watched, types };
}

function matchRows(rule: EffectiveRule, table: TableDef, rows: FinalRow[]): PayloadRow[] {
  const payloadRows: PayloadRow[] = [];
  for (const row of rows) {
    const payloadRow = matchRow(row, table, rule);
    if (payloadRow) payloadRows.push(payloadRow);
  }
  return payloadRows;
}

function matchRow(row: FinalRow, table: TableDef, { ready, watched, types }: EffectiveRule): PayloadRow | undefined {
  const { touched, values } = row;
  if (values === null) {
    // A row the bundle created and removed fires nothing; a row never ready was never sent, so neither is its removal.
    if (!touched.existedBefore || !types.has('remove')) return undefined;
    if (ready && !wasReady(touched, ready)) return undefined;
    return payloadOf(row, table, 'remove');
  }
  if (ready && values[ready.ref] !== true) return undefined;
  if (touched.origin === 'added' || (ready && !wasReady(touched, ready))) {
    return types.has('add') ? payloadOf(row, table, 'add') : undefined;
  }
  if (!types.has('update')) return undefined;
  const changed = (row.changed ??= changedColumns(touched, table, values));
  if (!changed.some((c) => watched.size === 0 || watched.has(c.ref))) return undefined;
  return payloadOf(row, table, 'update');
}

/** The row's payload for an event type, built on first need. */
function payloadOf(row: FinalRow, table: TableDef, type: EventType): PayloadRow {
  const payloads = (row.payloads ??= {});
  return (payloads[type] ??= buildPayload(row, table, type));
}

function buildPayload(row: FinalRow, table: TableDef, type: EventType): PayloadRow {
  const { touched, values } = row;
  // Only a removed row has no values, and a removed row fires `remove` only.
  if (values === null) {
    const fields = touched.lastKnown ? fieldsOf(table, normalize(touched.lastKnown, table)) : {};
    return { type: 'remove', id: touched.id, fields, previous: {}, changedColIds: [] };
  }
  if (type === 'add') return { type, id: touched.id, fields: fieldsOf(table, values), previous: {}, changedColIds: [] };
  const changed = (row.changed ??= changedColumns(touched, table, values));
  const before = touched.before;
  return {
    type,
    id: touched.id,
    fields: fieldsOf(table, values),
    // Old values of an unseen row are unknown: they are left out rather than invented.
    previous: before ? Object.fromEntries(changed.map((c) => [c.id, cellOf(before, c)])) : {},
    changedColIds: changed.map((c) => c.id),
  };
}

/** Ready before the bundle: a row the engine never saw is judged ready (SPEC section 2). */
/** Ready before the bundle: as stored, or, for a row the engine never saw, judged ready (SPEC section 2). */
function wasReady(touched: TouchedRow, ready: ColumnDef): boolean {
  return touched.before === undefined ? touched.existedBefore : cellOf(touched.before, ready) === true;
}

function changedColumns(touched: TouchedRow, table: TableDef, values: StoredRow): ColumnDef[] {
  const { before, written } = touched;
  if (written) return table.columns.filter((c) => written.has(c.ref));
  // The same object before and after: nothing wrote to the row since it was stored (or snapshot).
  if (!before || before === touched.after) return [];
  return table.columns.filter((c) => !jsonEqual(cellOf(before, c), values[c.ref]));
}

/** A column's value in a row; a row lacking it (column added later) holds the type's default. */
function cellOf(row: StoredRow, column: ColumnDef): CellValue {
  return Object.hasOwn(row, column.ref) ? row[column.ref] : defaultForType(column.type);
}

/** Every column of the table, defaults filled; refs of removed columns dropped. */
function normalize(row: StoredRow, table: TableDef): StoredRow {
  const values: StoredRow = {};
  for (const column of table.columns) values[column.ref] = cellOf(row, column);
  return values;
}

/** Keyed by current column ids. fromEntries defines keys as own properties, so an id like `__proto__` is safe. */
function fieldsOf(table: TableDef, values: StoredRow): ColValues {
  return Object.fromEntries(table.columns.map((c) => [c.id, values[c.ref]]));
}

/** Equality of JSON values; object key order is irrelevant. */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => jsonEqual(item, b[i]));
  }
  const aObj = a as Record<string, unknown>;
  const bObj = b as Record<string, unknown>;
  const keys = Object.keys(aObj);
  if (keys.length !== Object.keys(bObj).length) return false;
  return keys.every((key) => Object.hasOwn(bObj, key) && jsonEqual(aObj[key], bObj[key]));
}

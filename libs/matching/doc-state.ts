import {
  BulkColValues,
  ColumnDef,
  ColumnInfo,
  ColValues,
  DocAction,
  DocSchema,
  TableDef,
  findColumnById,
} from '../domain';

/** Row values keyed by column REF (stable internal id), not by column name. */
export type StoredRow = Record<string, unknown>;

export interface DocState {
  schema: DocSchema;
  /** Rows the shell loaded from the database: tableRef -> rowId -> values by column ref. */
  rows: Map<string, Map<number, StoredRow>>;
}

export type RowsToLoad = Map<string /* tableRef */, number[] | 'all'>;

/**
 * How a row touched by a bundle stood before it: `existing` was live (or was set by a TableData snapshot, which
 * becomes the baseline), `added` was created by the bundle (every row of a ReplaceTableData included), `unseen` was
 * updated or removed without the engine ever having seen it (judged as existing and ready).
 */
export type RowOrigin = 'existing' | 'added' | 'unseen';

export interface TouchedRow {
  id: number;
  origin: RowOrigin;
  /** The row was live before the bundle (stored, snapshotted, or unseen), so its removal is news. */
  existedBefore: boolean;
  /**
   * `existing` only: the row as stored before the bundle, or as a TableData snapshot set it. A column it lacks reads
   * as that column's default.
   */
  before: StoredRow | undefined;
  /** `unseen` only: refs of the columns the bundle wrote. */
  written: Set<string> | undefined;
  /** The row now, possibly lacking columns or holding stale refs until normalized; null once removed. */
  after: StoredRow | null;
  /** The row just before its removal, when known. */
  lastKnown: StoredRow | undefined;
}

export interface TouchedTable {
  /** Every stored row of the table goes (ReplaceTableData, TableData); only `rows` remain. */
  cleared: boolean;
  rows: Map<number, TouchedRow>;
}

export interface AppliedActions {
  /** The schema after the actions. */
  schema: DocSchema;
  /** Rows the actions touched, by table ref, for tables that still exist. */
  tables: Map<string, TouchedTable>;
  /** Refs of tables whose stored rows all go: removed, or replaced by ReplaceTableData/TableData. */
  clearedTables: string[];
}

/**
 * Most cells one bundle may hold, a row counting as its table's columns plus ROW_CELLS: its rows are held at once,
 * filled to their table's width, with their stored and payload versions. Past it the matcher's 256 MB heap ran out,
 * on every retry, and the partition stopped for good: a one-column recalculation over stored rows of 20 columns ran at
 * 67,000 rows and not at 75,000; row ids alone into a table of 200 columns ran at 2,000,000 cells and not at
 * 3,000,000 (a 600 KB bundle of 100,000 ids made 20 million); 700,000 rows into a table of one column ran out inside
 * applyActions, before any count, so rows are counted as they are touched. A removed row counts ROW_CELLS alone: it is
 * not filled, and a ReplaceTableData over a large stored table must still apply.
 */
export const MAX_BUNDLE_CELLS = 1_250_000;

/**
 * What a row costs besides its cells, in cells: its objects and map entries. Measured after applyBundle with a
 * webhook firing for every row: about 415 bytes a row of one column, 2.2 KB a row of 20, so about 94 bytes a cell and
 * 320 a row.
 */
export const ROW_CELLS = 3;

/** How the cells of MAX_BUNDLE_CELLS are counted, for the messages that refuse a bundle. */
export const CELLS_COUNTED = `(rows times their table's columns, plus ${ROW_CELLS} a row)`;

/** The cells `rows` rows of a table of `columns` columns count for. */
export const cellsOf = (rows: number, columns: number): number => rows * (columns + ROW_CELLS);

/** The row id is not a column: Grist's `id` entries in column lists and column values are skipped. */
const ROW_ID = 'id';

/** A rename onto another existing name is ignored (Grist never emits one), as is a rename of an unknown name. */
const canRename = (names: { has(name: string): boolean }, from: string, to: string): boolean =>
  names.has(from) && (from === to || !names.has(to));

/**
 * Which stored rows `applyActions` needs, from the schema before the bundle. Tables are followed through renames;
 * tables that do not exist before the bundle (created, implicitly declared, or removed then re-created) need nothing,
 * nor does a table from its TableData snapshot on.
 */
export function rowsToLoad(schema: DocSchema, actions: DocAction[]): RowsToLoad {
  // Current name -> ref of a table that existed before the bundle, or null for one the bundle created.
  const refs = new Map<string, string | null>(schema.tables.map((t) => [t.id, t.ref]));
  const ids = new Map<string, Set<number>>();
  const all = new Set<string>();
  const need = (tableId: string, rowIds: number[] | 'all'): void => {
    const ref = refs.get(tableId);
    if (ref === undefined) refs.set(tableId, null);
    if (!ref || all.has(ref)) return;
    if (rowIds === 'all') {
      all.add(ref);
      ids.delete(ref);
      return;
    }
    const set = ids.get(ref) ?? new Set<number>();
    for (const id of rowIds) set.add(id);
    ids.set(ref, set);
  };

  for (const action of actions) {
    switch (action[0]) {
      case 'AddRecord':
      case 'UpdateRecord':
      case 'RemoveRecord':
        need(action[1], [action[2]]);
        break;
      case 'BulkAddRecord':
      case 'BulkUpdateRecord':
      case 'BulkRemoveRecord':
        need(action[1], action[2]);
        break;
      case 'ReplaceTableData':
        need(action[1], 'all');
        break;
      case 'TableData':
        // the snapshot replaces every stored row and fires nothing: from here on the table needs none of them
        refs.set(action[1], null);
        break;
      case 'AddTable':
      case 'AddColumn':
      case 'ModifyColumn':
        if (!refs.has(action[1])) refs.set(action[1], null);
        break;
      case 'RemoveTable':
        refs.delete(action[1]);
        break;
      case 'RenameTable': {
        const [, from, to] = action;
        if (!canRename(refs, from, to)) break;
        const ref = refs.get(from) as string | null;
        refs.delete(from);
        refs.set(to, ref);
        break;
      }
      case 'RemoveColumn':
      case 'RenameColumn':
        break;
    }
  }

  const result: RowsToLoad = new Map();
  for (const ref of all) result.set(ref, 'all');
  for (const [ref, set] of ids) result.set(ref, [...set].sort((a, b) => a - b));
  return result;
}

/**
 * Whether applyActions changed the schema: it copies each table it changes, and mints each new ref from nextRef, so a
 * schema holding the same table objects in the same order, with the same nextRef, is the same.
 */
export const schemaChanged = (before: DocSchema, after: DocSchema): boolean =>
  after.nextRef !== before.nextRef || after.tables.length !== before.tables.length || after.tables.some((t, i) => t !== before.tables[i]);

/** Applies DocActions to a document's state without mutating it (copy-on-write per touched table and row). */
export function applyActions(state: DocState, actions: DocAction[]): AppliedActions {
  const applier = new ActionApplier(state);
  for (const action of actions) applier.apply(action);
  return applier.result();
}

class ActionApplier {
  /** The schema being built: tables are copied (with their columns) the first time they change. */
  private readonly tables: TableDef[];
  private readonly owned = new Set<string>();
  private nextRef: number;
  private readonly touched = new Map<string, TouchedTable>();
  private readonly cleared = new Set<string>();
  /** Cells of the rows touched so far (MAX_BUNDLE_CELLS), counted before they are built. */
  private cells = 0;

  constructor(private readonly state: DocState) {
    this.tables = [...state.schema.tables];
    this.nextRef = state.schema.nextRef;
  }

  result(): AppliedActions {
    return {
      schema: { tables: this.tables, nextRef: this.nextRef },
      tables: this.touched,
      clearedTables: [...this.cleared],
    };
  }

  apply(action: DocAction): void {
    switch (action[0]) {
      case 'AddRecord':
        this.writeRows(action[1], [action[2]], toBulk(action[3]), 'add');
        break;
      case 'BulkAddRecord':
        this.writeRows(action[1], action[2], action[3], 'add');
        break;
      case 'UpdateRecord':
        this.writeRows(action[1], [action[2]], toBulk(action[3]), 'update');
        break;
      case 'BulkUpdateRecord':
        this.writeRows(action[1], action[2], action[3], 'update');
        break;
      case 'RemoveRecord':
        this.removeRows(action[1], [action[2]]);
        break;
      case 'BulkRemoveRecord':
        this.removeRows(action[1], action[2]);
        break;
      case 'ReplaceTableData':
        this.replaceRows(action[1], action[2], action[3]);
        break;
      case 'TableData':
        this.snapshotRows(action[1], action[2], action[3]);
        break;
      case 'AddTable': {
        const ref = this.declareTable(action[1]);
        for (const column of action[2]) this.declareColumn(ref, column.id, column);
        break;
      }
      case 'RemoveTable':
        this.removeTable(action[1]);
        break;
      case 'RenameTable':
        this.renameTable(action[1], action[2]);
        break;
      case 'AddColumn':
      case 'ModifyColumn':
        this.declareColumn(this.declareTable(action[1]), action[2], action[3]);
        break;
      case 'RemoveColumn':
        this.removeColumn(action[1], action[2]);
        break;
      case 'RenameColumn':
        this.renameColumn(action[1], action[2], action[3]);
        break;
    }
  }

  private writeRows(tableId: string, rowIds: number[], colValues: BulkColValues, mode: 'add' | 'update'): void {
    const tableRef = this.declareTable(tableId);
    const columns = this.declareColumns(tableRef, colValues);
    const width = this.widthOf(tableRef);
    for (let i = 0; i < rowIds.length; i++) {
      const row = this.touch(tableRef, rowIds[i], mode === 'add', width);
      // Removed earlier in the bundle and added again: added, as in Grist (added row ids override updated ones).
      if (mode === 'add' && row.after === null) [row.origin, row.written] = ['added', undefined];
      const values = rowValues(columns, colValues, i);
      // An add replaces the whole row (columns it lacks read as defaults); an update merges into it (an upsert
      // when the row is unknown or was removed).
      row.after = mode === 'add' || row.after === null ? values : { ...row.after, ...values };
      if (row.written) for (const [, ref] of columns) row.written.add(ref);
    }
  }

  private removeRows(tableId: string, rowIds: number[]): void {
    const tableRef = this.declareTable(tableId);
    for (const rowId of rowIds) removeRow(this.touch(tableRef, rowId, false, 0));
  }

  /** Every live row goes, then the given rows are added: rows that survive count as added. */
  private replaceRows(tableId: string, rowIds: number[], colValues: BulkColValues): void {
    const tableRef = this.declareTable(tableId);
    const columns = this.declareColumns(tableRef, colValues);
    const table = this.touchedTable(tableRef);
    if (!table.cleared) {
      for (const [rowId, stored] of this.state.rows.get(tableRef) ?? []) {
        if (table.rows.has(rowId)) continue;
        this.count(0);
        table.rows.set(rowId, existingRow(rowId, stored));
      }
    }
    for (const row of table.rows.values()) removeRow(row);
    this.clear(tableRef, table);
    const width = this.widthOf(tableRef);
    for (let i = 0; i < rowIds.length; i++) {
      const row = this.touch(tableRef, rowIds[i], true, width);
      row.origin = 'added';
      row.after = rowValues(columns, colValues, i);
    }
  }

  /** The snapshot replaces the table's rows and becomes their baseline; earlier changes in the bundle are forgotten. */
  private snapshotRows(tableId: string, rowIds: number[], colValues: BulkColValues): void {
    const tableRef = this.declareTable(tableId);
    const columns = this.declareColumns(tableRef, colValues);
    const table = this.touchedTable(tableRef);
    table.rows.clear();
    this.clear(tableRef, table);
    const width = this.widthOf(tableRef);
    for (let i = 0; i < rowIds.length; i++) {
      this.count(width);
      table.rows.set(rowIds[i], existingRow(rowIds[i], rowValues(columns, colValues, i)));
    }
  }

  private touchedTable(tableRef: string): TouchedTable {
    let table = this.touched.get(tableRef);
    if (!table) {
      table = { cleared: false, rows: new Map() };
      this.touched.set(tableRef, table);
    }
    return table;
  }

  /**
   * The touched row, first seen as stored before the bundle (unless its table was cleared since). A row touched for
   * the first time is counted with `width` columns (0 for a removal).
   */
  private touch(tableRef: string, rowId: number, adding: boolean, width: number): TouchedRow {
    const table = this.touchedTable(tableRef);
    let row = table.rows.get(rowId);
    if (!row) {
      this.count(width);
      const stored = table.cleared ? undefined : this.state.rows.get(tableRef)?.get(rowId);
      row = stored
        ? existingRow(rowId, stored)
        : {
            id: rowId,
            origin: adding ? 'added' : 'unseen',
            existedBefore: !adding,
            before: undefined,
            written: adding ? undefined : new Set(),
            after: null,
            lastKnown: undefined,
          };
      table.rows.set(rowId, row);
    }
    return row;
  }

  /** Counts one more row of `width` columns; throws once the bundle's rows would hold more than MAX_BUNDLE_CELLS. */
  private count(width: number): void {
    this.cells += cellsOf(1, width);
    if (this.cells > MAX_BUNDLE_CELLS) throw new Error(`its rows would hold more than ${MAX_BUNDLE_CELLS} cells ${CELLS_COUNTED}`);
  }

  private widthOf(tableRef: string): number {
    return this.tableOf(tableRef).columns.length;
  }

  /** The table with this ref, which the caller knows exists. */
  private tableOf(tableRef: string): TableDef {
    return this.tables.find((t) => t.ref === tableRef) as TableDef;
  }

  private clear(tableRef: string, table: TouchedTable): void {
    table.cleared = true;
    this.cleared.add(tableRef);
  }

  private findTable(tableId: string): TableDef | undefined {
    return this.tables.find((t) => t.id === tableId);
  }

  /** The ref of the named table, declared (with no columns) when unknown. */
  private declareTable(tableId: string): string {
    const existing = this.findTable(tableId);
    if (existing) return existing.ref;
    const table: TableDef = { ref: this.mintRef('t'), id: tableId, columns: [] };
    this.tables.push(table);
    this.owned.add(table.ref);
    return table.ref;
  }

  /** The table with this ref, copied first if it is still the caller's. */
  private own(tableRef: string): TableDef {
    const index = this.tables.findIndex((t) => t.ref === tableRef);
    if (this.owned.has(tableRef)) return this.tables[index];
    const original = this.tables[index];
    const copy = { ...original, columns: original.columns.map((c) => ({ ...c })) };
    this.tables[index] = copy;
    this.owned.add(tableRef);
    return copy;
  }

  /** The ref of the column (undefined for the row id), declared as `Any` when unknown; `info` is merged into it. */
  private declareColumn(tableRef: string, colId: string, info?: ColumnInfo): string | undefined {
    if (colId === ROW_ID) return undefined;
    const current = this.tableOf(tableRef);
    const existing = findColumnById(current, colId);
    if (existing && !info) return existing.ref;
    const table = this.own(tableRef);
    let column = findColumnById(table, colId);
    if (!column) {
      column = { ref: this.mintRef('c'), id: colId, type: 'Any', isFormula: false, formula: '' };
      table.columns.push(column);
    }
    if (info) mergeColumnInfo(column, info);
    return column.ref;
  }

  /** [column id, column ref] of every column of the values, declaring unknown ones. */
  private declareColumns(tableRef: string, colValues: BulkColValues): Array<[string, string]> {
    const columns: Array<[string, string]> = [];
    for (const colId of Object.keys(colValues)) {
      const ref = this.declareColumn(tableRef, colId);
      if (ref) columns.push([colId, ref]);
    }
    return columns;
  }

  private removeTable(tableId: string): void {
    const index = this.tables.findIndex((t) => t.id === tableId);
    if (index < 0) return;
    const [table] = this.tables.splice(index, 1);
    this.touched.delete(table.ref);
    this.cleared.add(table.ref);
  }

  private renameTable(from: string, to: string): void {
    const names = { has: (name: string) => this.findTable(name) !== undefined };
    if (!canRename(names, from, to)) return;
    this.own((this.findTable(from) as TableDef).ref).id = to;
  }

  private removeColumn(tableId: string, colId: string): void {
    const current = this.findTable(tableId);
    const column = current && findColumnById(current, colId);
    if (!current || !column) return;
    const table = this.own(current.ref);
    table.columns = table.columns.filter((c) => c.ref !== column.ref);
  }

  private renameColumn(tableId: string, from: string, to: string): void {
    const current = this.findTable(tableId);
    if (!current || to === ROW_ID) return;
    const names = { has: (name: string) => findColumnById(current, name) !== undefined };
    if (!canRename(names, from, to)) return;
    (findColumnById(this.own(current.ref), from) as ColumnDef).id = to;
  }

  private mintRef(prefix: 't' | 'c'): string {
    return `${prefix}${this.nextRef++}`;
  }
}

function existingRow(rowId: number, stored: StoredRow): TouchedRow {
  return { id: rowId, origin: 'existing', existedBefore: true, before: stored, written: undefined, after: stored, lastKnown: undefined };
}

function removeRow(row: TouchedRow): void {
  if (row.after !== null) row.lastKnown = row.after;
  row.after = null;
}

/** The values of the i-th row of bulk column values, keyed by column ref. */
function rowValues(columns: Array<[string, string]>, colValues: BulkColValues, i: number): StoredRow {
  const values: StoredRow = {};
  for (const [colId, ref] of columns) values[ref] = colValues[colId][i];
  return values;
}

const toBulk = (colValues: ColValues): BulkColValues =>
  Object.fromEntries(Object.entries(colValues).map(([colId, value]) => [colId, [value]]));

function mergeColumnInfo(column: ColumnDef, info: ColumnInfo): void {
  if (info.type !== undefined) column.type = info.type;
  if (info.isFormula !== undefined) column.isFormula = info.isFormula;
  if (info.formula !== undefined) column.formula = info.formula;
}

/**
 * A document's tables and columns as the matcher knows them. `ref` is a stable internal id that never changes
 * for the life of the table or column, so webhooks survive renames; `id` is the current name.
 */
export interface ColumnDef {
  ref: string;
  id: string;
  type: string;
  isFormula: boolean;
  formula: string;
}

export interface TableDef {
  ref: string;
  id: string;
  columns: ColumnDef[];
}

export interface DocSchema {
  tables: TableDef[];
  /** Next number used to mint a ref ("t<n>" for tables, "c<n>" for columns); deterministic on replay. */
  nextRef: number;
}

export const emptySchema = (): DocSchema => ({ tables: [], nextRef: 1 });

export const findTableById = (schema: DocSchema, tableId: string): TableDef | undefined =>
  schema.tables.find((t) => t.id === tableId);

export const findTableByRef = (schema: DocSchema, ref: string | null): TableDef | undefined =>
  ref === null ? undefined : schema.tables.find((t) => t.ref === ref);

export const findColumnById = (table: TableDef, colId: string): ColumnDef | undefined =>
  table.columns.find((c) => c.id === colId);

export const findColumnByRef = (table: TableDef, ref: string | null): ColumnDef | undefined =>
  ref === null ? undefined : table.columns.find((c) => c.ref === ref);

/** The value a row holds for a column it was never given (SPEC section 2): the type is read up to any ':'. */
export function defaultForType(type: string): unknown {
  switch (type.split(':')[0]) {
    case 'Text':
    case 'Choice':
      return '';
    case 'Numeric':
    case 'Int':
    case 'Ref':
      return 0;
    case 'Bool':
      return false;
    default:
      return null;
  }
}

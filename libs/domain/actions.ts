/** Grist cell values are passed through untouched: strings, numbers, booleans, null or `[code, ...]` arrays. */
export type CellValue = unknown;

/** Column values of one row, keyed by column id (the name a publisher uses). */
export type ColValues = Record<string, CellValue>;
/** Column values of several rows, keyed by column id, one array entry per row id. */
export type BulkColValues = Record<string, CellValue[]>;

export interface ColumnInfo {
  type?: string;
  isFormula?: boolean;
  formula?: string;
}

/** Grist stored DocActions, as tuples (SPEC section 2). */
export type DocAction =
  | ['AddRecord', string, number, ColValues]
  | ['BulkAddRecord', string, number[], BulkColValues]
  | ['UpdateRecord', string, number, ColValues]
  | ['BulkUpdateRecord', string, number[], BulkColValues]
  | ['RemoveRecord', string, number]
  | ['BulkRemoveRecord', string, number[]]
  | ['ReplaceTableData', string, number[], BulkColValues]
  | ['TableData', string, number[], BulkColValues]
  | ['AddTable', string, Array<ColumnInfo & { id: string }>]
  | ['RemoveTable', string]
  | ['RenameTable', string, string]
  | ['AddColumn', string, string, ColumnInfo]
  | ['RemoveColumn', string, string]
  | ['RenameColumn', string, string, string]
  | ['ModifyColumn', string, string, ColumnInfo];

/** Everything one committed change did to one document, in order (a message of the doc-actions topic). */
export interface ActionBundle {
  docId: string;
  actionNum: number;
  actionHash?: string;
  timestamp?: number;
  user?: string;
  userActions: unknown[];
  actions: DocAction[];
}

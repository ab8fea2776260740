import { ActionBundle, DocAction, docIdProblem, jsonProblem } from '../domain';

export type ParseResult = { ok: true; bundle: ActionBundle } | { ok: false; reason: string };

/** Length of each DocAction tuple, name included (SPEC section 2). */
const ACTION_LENGTH: Record<DocAction[0], number> = {
  AddRecord: 4,
  BulkAddRecord: 4,
  UpdateRecord: 4,
  BulkUpdateRecord: 4,
  RemoveRecord: 3,
  BulkRemoveRecord: 3,
  ReplaceTableData: 4,
  TableData: 4,
  AddTable: 3,
  RemoveTable: 2,
  RenameTable: 3,
  AddColumn: 4,
  RemoveColumn: 3,
  RenameColumn: 4,
  ModifyColumn: 4,
};

/** Grist's row ids are 32-bit, and so is the column that stores them. */
const MAX_ROW_ID = 2_147_483_647;

/** Longest piece of the message quoted in a reason: a reason travels as a header of the dead letter. */
const QUOTED_CHARS = 100;

/**
 * Why a bundle's message key does not do (SPEC section 2: key = docId), or undefined. Under another key, bundles of
 * one document may land on several partitions and be applied out of order: the lower actionNums would be skipped as
 * duplicates.
 */
export function keyProblem(key: Buffer | null, docId: string): string | undefined {
  const text = key?.toString('utf8');
  if (text === docId) return undefined;
  const shown = text === undefined ? 'missing' : JSON.stringify(text.slice(0, QUOTED_CHARS));
  return `message key ${shown} is not the docId ${JSON.stringify(docId.slice(0, QUOTED_CHARS))}: a document's bundles must share one key`;
}

/**
 * Validates one message of the doc-actions topic. Values are checked in place and never copied: the bundle returned
 * holds the parsed arrays and objects themselves. What the database could not store is refused here, so that it is
 * dead-lettered rather than failing every retry of its batch.
 */
export function parseBundle(raw: Buffer | string | null | undefined): ParseResult {
  if (raw === null || raw === undefined) return fail('message has no value');
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return fail(`invalid JSON: ${(err as Error).message}`);
  }
  if (!isObject(value)) return fail('bundle is not an object');
  const problem = jsonProblem(text, value);
  if (problem) return fail(`bundle ${problem}`);

  const { docId, actionNum } = value;
  if (docId === undefined) return fail('docId is missing');
  if (typeof docId !== 'string' || docId === '') return fail('docId must be a non-empty string');
  const docIdRefused = docIdProblem(docId);
  if (docIdRefused) return fail(`docId cannot be stored: ${docIdRefused}`);
  if (actionNum === undefined) return fail('actionNum is missing');
  if (!isPositiveInt(actionNum)) return fail('actionNum must be a positive integer');

  const userActions = value.userActions ?? [];
  if (!Array.isArray(userActions)) return fail('userActions must be an array');

  const actions = readActions(value);
  if (typeof actions === 'string') return fail(actions);

  const bundle: ActionBundle = { docId, actionNum, userActions, actions };
  if (typeof value.actionHash === 'string') bundle.actionHash = value.actionHash;
  if (typeof value.timestamp === 'number' && Number.isFinite(value.timestamp)) bundle.timestamp = value.timestamp;
  if (typeof value.user === 'string') bundle.user = value.user;
  return { ok: true, bundle };
}

/** The bundle's actions, from `actions` or Grist's `stored` then `calc` (formula results) envelopes; or why not. */
function readActions(value: Record<string, unknown>): DocAction[] | string {
  if (value.actions !== undefined) {
    if (!Array.isArray(value.actions)) return 'actions must be an array';
    for (let i = 0; i < value.actions.length; i++) {
      const problem = checkAction(value.actions[i]);
      if (problem) return `actions[${i}]: ${problem}`;
    }
    return value.actions as DocAction[];
  }
  if (value.stored === undefined) return 'actions is missing (neither "actions" nor "stored" is present)';
  const actions: DocAction[] = [];
  for (const key of ['stored', 'calc'] as const) {
    const envelopes = value[key];
    if (envelopes === undefined && key === 'calc') continue;
    if (!Array.isArray(envelopes)) return `${key} must be an array`;
    for (let i = 0; i < envelopes.length; i++) {
      const entry: unknown = envelopes[i];
      if (!Array.isArray(entry) || entry.length !== 2) return `${key}[${i}]: not an [envelopeIndex, DocAction] pair`;
      const problem = checkAction(entry[1]);
      if (problem) return `${key}[${i}]: ${problem}`;
      actions.push(entry[1] as DocAction);
    }
  }
  return actions;
}

/** What is wrong with one DocAction tuple, or undefined when it is well formed. */
function checkAction(action: unknown): string | undefined {
  if (!Array.isArray(action)) return 'action is not an array';
  const name: unknown = action[0];
  if (typeof name !== 'string' || !Object.hasOwn(ACTION_LENGTH, name)) {
    return `unknown action ${typeof name === 'string' ? quote(name) : String(name).slice(0, QUOTED_CHARS)}`;
  }
  const length = ACTION_LENGTH[name as DocAction[0]];
  if (action.length !== length) return `${name} needs ${length} elements, got ${action.length}`;
  if (!isName(action[1])) return `${name} table id must be a non-empty string`;
  switch (name as DocAction[0]) {
    case 'AddRecord':
    case 'UpdateRecord':
      return checkRowId(name, action[2]) ?? checkColValues(name, action[3]);
    case 'BulkAddRecord':
    case 'BulkUpdateRecord':
    case 'ReplaceTableData':
    case 'TableData':
      return checkRowIds(name, action[2]) ?? checkBulkColValues(name, action[3], (action[2] as number[]).length);
    case 'RemoveRecord':
      return checkRowId(name, action[2]);
    case 'BulkRemoveRecord':
      return checkRowIds(name, action[2]);
    case 'AddTable':
      return checkColumns(action[2]);
    case 'RemoveTable':
      return undefined;
    case 'RenameTable':
      return isName(action[2]) ? undefined : 'RenameTable new table id must be a non-empty string';
    case 'AddColumn':
    case 'ModifyColumn':
      return checkColId(name, action[2]) ?? checkColumnInfo(`${name} column info`, action[3]);
    case 'RemoveColumn':
      return checkColId(name, action[2]);
    case 'RenameColumn':
      return checkColId(name, action[2]) ?? checkColId(name, action[3], 'new column id');
  }
}

function checkRowId(name: string, rowId: unknown): string | undefined {
  return isRowId(rowId) ? undefined : `${name} row id must be an integer from 1 to ${MAX_ROW_ID}`;
}

function checkRowIds(name: string, rowIds: unknown): string | undefined {
  if (!Array.isArray(rowIds)) return `${name} row ids must be an array`;
  for (let i = 0; i < rowIds.length; i++) {
    if (!isRowId(rowIds[i])) return `${name} row ids[${i}] must be an integer from 1 to ${MAX_ROW_ID}`;
  }
  return undefined;
}

function checkColValues(name: string, colValues: unknown): string | undefined {
  return isObject(colValues) ? undefined : `${name} column values must be an object`;
}

function checkBulkColValues(name: string, colValues: unknown, rowCount: number): string | undefined {
  if (!isObject(colValues)) return `${name} column values must be an object`;
  for (const colId in colValues) {
    const values = colValues[colId];
    if (!Array.isArray(values)) return `${name} column ${quote(colId)} is not an array`;
    if (values.length !== rowCount) {
      return `${name} column ${quote(colId)} has ${values.length} values for ${rowCount} rows`;
    }
  }
  return undefined;
}

function checkColumns(columns: unknown): string | undefined {
  if (!Array.isArray(columns)) return 'AddTable columns must be an array';
  for (let i = 0; i < columns.length; i++) {
    const column: unknown = columns[i];
    if (!isObject(column) || !isName(column.id)) return `AddTable columns[${i}] needs a non-empty string id`;
    const problem = checkColumnInfo(`AddTable columns[${i}]`, column);
    if (problem) return problem;
  }
  return undefined;
}

function checkColId(name: string, colId: unknown, what = 'column id'): string | undefined {
  return isName(colId) ? undefined : `${name} ${what} must be a non-empty string`;
}

/** Only the fields the matcher reads are checked; Grist's others (widgetOptions, label, ...) are ignored. */
function checkColumnInfo(what: string, info: unknown): string | undefined {
  if (!isObject(info)) return `${what} must be an object`;
  if (info.type !== undefined && typeof info.type !== 'string') return `${what}: type must be a string`;
  if (info.isFormula !== undefined && typeof info.isFormula !== 'boolean') {
    return `${what}: isFormula must be a boolean`;
  }
  if (info.formula !== undefined && typeof info.formula !== 'string') return `${what}: formula must be a string`;
  return undefined;
}

const fail = (reason: string): ParseResult => ({ ok: false, reason });

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isName = (value: unknown): value is string => typeof value === 'string' && value !== '';

const isPositiveInt = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) > 0;

const isRowId = (value: unknown): value is number => isPositiveInt(value) && value <= MAX_ROW_ID;

const quote = (text: string): string =>
  JSON.stringify(text.length > QUOTED_CHARS ? `${text.slice(0, QUOTED_CHARS)}...` : text);

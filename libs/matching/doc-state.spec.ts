import { DocAction, DocSchema, emptySchema } from '../domain';
import { DocState, StoredRow, applyActions, rowsToLoad, schemaChanged } from './doc-state';

const schema: DocSchema = {
  tables: [
    {
      ref: 't1',
      id: 'Orders',
      columns: [
        { ref: 'c2', id: 'Item', type: 'Text', isFormula: false, formula: '' },
        { ref: 'c3', id: 'Qty', type: 'Numeric', isFormula: false, formula: '' },
      ],
    },
    { ref: 't4', id: 'People', columns: [{ ref: 'c5', id: 'Name', type: 'Text', isFormula: false, formula: '' }] },
  ],
  nextRef: 6,
};

const state = (rows: Array<[string, Array<[number, StoredRow]>]> = []): DocState => ({
  schema,
  rows: new Map(rows.map(([tableRef, tableRows]) => [tableRef, new Map(tableRows)])),
});

const tableIds = (s: DocSchema): string[] => s.tables.map((t) => `${t.ref}:${t.id}`);
const columnIds = (s: DocSchema, tableId: string): string[] =>
  (s.tables.find((t) => t.id === tableId)?.columns ?? []).map((c) => `${c.ref}:${c.id}:${c.type}`);

describe('rowsToLoad', () => {
  it.each<[string, DocAction[], Array<[string, number[] | 'all']>]>([
    ['nothing for an empty bundle', [], []],
    ['the ids of record actions, deduplicated and sorted', [
      ['UpdateRecord', 'Orders', 3, {}],
      ['BulkAddRecord', 'Orders', [5, 1], {}],
      ['RemoveRecord', 'Orders', 3],
      ['BulkRemoveRecord', 'People', [2]],
    ], [['t1', [1, 3, 5]], ['t4', [2]]]],
    ['all rows for ReplaceTableData', [['ReplaceTableData', 'Orders', [1], {}]], [['t1', 'all']]],
    ['for TableData, only the ids before it: the snapshot replaces every stored row', [
      ['UpdateRecord', 'Orders', 3, {}],
      ['TableData', 'Orders', [1], {}],
      ['UpdateRecord', 'Orders', 4, {}],
      ['ReplaceTableData', 'Orders', [5], {}],
    ], [['t1', [3]]]],
    ['nothing for TableData alone, and nothing after it through a rename', [
      ['TableData', 'Orders', [1], {}],
      ['RenameTable', 'Orders', 'Sales'],
      ['UpdateRecord', 'Sales', 2, {}],
    ], []],
    [
      'nothing for a table that does not exist yet',
      [['AddRecord', 'Logs', 1, {}], ['TableData', 'Stock', [1], {}]],
      [],
    ],
    ['a table followed through a rename', [
      ['RenameTable', 'Orders', 'Sales'],
      ['UpdateRecord', 'Sales', 2, {}],
      ['UpdateRecord', 'Orders', 9, {}],
    ], [['t1', [2]]]],
    ['nothing for a table removed then re-created', [
      ['RemoveTable', 'Orders'],
      ['AddTable', 'Orders', []],
      ['UpdateRecord', 'Orders', 2, {}],
    ], []],
    ['nothing for a new table renamed onto a freed name', [
      ['RenameTable', 'Orders', 'Old'],
      ['AddColumn', 'Orders', 'A', {}],
      ['UpdateRecord', 'Orders', 2, {}],
      ['UpdateRecord', 'Old', 1, {}],
    ], [['t1', [1]]]],
    ['a rename onto another table\'s name is ignored', [
      ['RenameTable', 'Orders', 'People'],
      ['UpdateRecord', 'Orders', 1, {}],
      ['UpdateRecord', 'People', 2, {}],
    ], [['t1', [1]], ['t4', [2]]]],
  ])('%s', (_name, actions, expected) => {
    expect([...rowsToLoad(schema, actions)].sort()).toEqual(expected);
  });
});

describe('applyActions: schema', () => {
  it('mints refs deterministically from nextRef, tables then columns in order', () => {
    const actions: DocAction[] = [
      ['AddTable', 'Stock', [{ id: 'id' }, { id: 'manualSort', type: 'ManualSortPos' }, { id: 'Item', type: 'Text' }]],
      ['AddColumn', 'Orders', 'Price', { type: 'Numeric', isFormula: true, formula: '$Qty * 2' }],
    ];
    const { schema: after } = applyActions(state(), actions);
    expect(tableIds(after)).toEqual(['t1:Orders', 't4:People', 't6:Stock']);
    expect(columnIds(after, 'Stock')).toEqual(['c7:manualSort:ManualSortPos', 'c8:Item:Text']);
    expect(after.tables[0].columns[2]).toEqual({
      ref: 'c9',
      id: 'Price',
      type: 'Numeric',
      isFormula: true,
      formula: '$Qty * 2',
    });
    expect(after.nextRef).toBe(10);
    expect(applyActions(state(), actions).schema).toEqual(after);
  });

  it('declares unknown tables and columns from data as Any, skipping the row id', () => {
    const { schema: after } = applyActions(state(), [
      ['BulkAddRecord', 'Logs', [1], { id: [1], Message: ['hi'] }],
      ['UpdateRecord', 'Orders', 1, { Extra: 1 }],
    ]);
    expect(tableIds(after)).toEqual(['t1:Orders', 't4:People', 't6:Logs']);
    expect(columnIds(after, 'Logs')).toEqual(['c7:Message:Any']);
    expect(columnIds(after, 'Orders')).toEqual(['c2:Item:Text', 'c3:Qty:Numeric', 'c8:Extra:Any']);
  });

  it('merges AddTable of an existing table and AddColumn of an existing column into what is known', () => {
    const { schema: after } = applyActions(state(), [
      ['AddTable', 'Orders', [{ id: 'Qty', type: 'Int' }, { id: 'Due', type: 'Date' }]],
      ['AddColumn', 'Orders', 'Item', { type: 'Choice' }],
    ]);
    expect(columnIds(after, 'Orders')).toEqual(['c2:Item:Choice', 'c3:Qty:Int', 'c6:Due:Date']);
  });

  it('ModifyColumn updates type, isFormula and formula, declaring the column when unknown', () => {
    const { schema: after } = applyActions(state(), [
      ['ModifyColumn', 'Orders', 'Qty', { type: 'Int', isFormula: true, formula: '1' }],
      ['ModifyColumn', 'Orders', 'Total', { type: 'Numeric' }],
    ]);
    expect(after.tables[0].columns.slice(1)).toEqual([
      { ref: 'c3', id: 'Qty', type: 'Int', isFormula: true, formula: '1' },
      { ref: 'c6', id: 'Total', type: 'Numeric', isFormula: false, formula: '' },
    ]);
  });

  it('renames keep refs', () => {
    const { schema: after } = applyActions(state(), [
      ['RenameTable', 'Orders', 'Sales'],
      ['RenameColumn', 'Sales', 'Qty', 'Quantity'],
    ]);
    expect(tableIds(after)).toEqual(['t1:Sales', 't4:People']);
    expect(columnIds(after, 'Sales')).toEqual(['c2:Item:Text', 'c3:Quantity:Numeric']);
  });

  it.each<[string, DocAction]>([
    ['removing an unknown table', ['RemoveTable', 'Nope']],
    ['renaming an unknown table', ['RenameTable', 'Nope', 'Other']],
    ['renaming a table onto another table\'s name', ['RenameTable', 'Orders', 'People']],
    ['removing an unknown column', ['RemoveColumn', 'Orders', 'Nope']],
    ['removing a column of an unknown table', ['RemoveColumn', 'Nope', 'Item']],
    ['renaming an unknown column', ['RenameColumn', 'Orders', 'Nope', 'Other']],
    ['renaming a column onto another column\'s name', ['RenameColumn', 'Orders', 'Qty', 'Item']],
    ['renaming a column to the row id', ['RenameColumn', 'Orders', 'Qty', 'id']],
    ['adding the row id as a column', ['AddColumn', 'Orders', 'id', { type: 'Int' }]],
  ])('%s is a no-op', (_name, action) => {
    expect(applyActions(state(), [action]).schema).toEqual(schema);
  });

  it('removes a column from the schema and a table with its rows', () => {
    const applied = applyActions(state([['t1', [[1, { c2: 'Tea' }]]]]), [
      ['UpdateRecord', 'Orders', 1, { Qty: 2 }],
      ['RemoveColumn', 'People', 'Name'],
      ['RemoveTable', 'Orders'],
    ]);
    expect(tableIds(applied.schema)).toEqual(['t4:People']);
    expect(columnIds(applied.schema, 'People')).toEqual([]);
    expect(applied.clearedTables).toEqual(['t1']);
    expect(applied.tables.has('t1')).toBe(false);
  });
});

describe('schemaChanged', () => {
  it.each<[string, DocAction[], boolean]>([
    ['no actions', [], false],
    ['rows added, updated, removed, replaced and snapshotted in known columns', [
      ['AddRecord', 'Orders', 9, { Item: 'Tea' }],
      ['BulkUpdateRecord', 'Orders', [1, 2], { Qty: [1, 2] }],
      ['RemoveRecord', 'Orders', 3],
      ['ReplaceTableData', 'People', [1], { Name: ['Ann'] }],
      ['TableData', 'Orders', [1], { Item: ['Jam'] }],
    ], false],
    ['AddTable of a known table with its known columns (merged into a copy)', [['AddTable', 'People', [{ id: 'Name', type: 'Text' }]]], true],
    ['a row of an unknown table', [['AddRecord', 'Stock', 1, {}]], true],
    ['a value of an unknown column', [['UpdateRecord', 'Orders', 1, { Price: 2 }]], true],
    ['AddTable', [['AddTable', 'Stock', []]], true],
    ['AddColumn', [['AddColumn', 'People', 'Age', { type: 'Int' }]], true],
    ['ModifyColumn', [['ModifyColumn', 'Orders', 'Qty', { type: 'Int' }]], true],
    ['RenameTable', [['RenameTable', 'People', 'Persons']], true],
    ['RenameColumn', [['RenameColumn', 'Orders', 'Qty', 'Quantity']], true],
    ['RemoveColumn', [['RemoveColumn', 'Orders', 'Qty']], true],
    ['RemoveTable', [['RemoveTable', 'People']], true],
    ['RemoveTable then AddTable of the same name', [['RemoveTable', 'People'], ['AddTable', 'People', []]], true],
    ['a rename and its reverse', [['RenameTable', 'People', 'Persons'], ['RenameTable', 'Persons', 'People']], true],
  ])('%s', (_, actions, changed) => {
    const before = state().schema;
    const after = applyActions(state(), actions).schema;
    expect(schemaChanged(before, after)).toBe(changed);
    if (!changed) expect(after).toEqual(before);
  });
});

describe('applyActions: rows', () => {
  it('tells existing, added and unseen rows apart', () => {
    const applied = applyActions(state([['t1', [[1, { c2: 'Tea', c3: 1 }]]]]), [
      ['UpdateRecord', 'Orders', 1, { Qty: 2 }],
      ['AddRecord', 'Orders', 2, { Item: 'Jam' }],
      ['BulkUpdateRecord', 'Orders', [3], { Qty: [4] }],
    ]);
    const rows = applied.tables.get('t1')?.rows;
    expect(rows?.get(1)).toMatchObject({
      origin: 'existing',
      before: { c2: 'Tea', c3: 1 },
      after: { c2: 'Tea', c3: 2 },
    });
    expect(rows?.get(2)).toMatchObject({ origin: 'added', after: { c2: 'Jam' } });
    expect(rows?.get(3)).toMatchObject({ origin: 'unseen', written: new Set(['c3']), after: { c3: 4 } });
  });

  it('an add replaces a row entirely, an update merges into it; a row removed then added again counts as added', () => {
    const applied = applyActions(state([['t1', [[1, { c2: 'Tea', c3: 1 }]]]]), [
      ['RemoveRecord', 'Orders', 1],
      ['AddRecord', 'Orders', 1, { Qty: 5 }],
      ['UpdateRecord', 'Orders', 1, { Item: 'Jam' }],
    ]);
    expect(applied.tables.get('t1')?.rows.get(1)).toMatchObject({ origin: 'added', existedBefore: true, after: { c2: 'Jam', c3: 5 } });
  });

  it('keeps the last known state of a removed row', () => {
    const applied = applyActions(state([['t1', [[1, { c2: 'Tea', c3: 1 }]]]]), [
      ['UpdateRecord', 'Orders', 1, { Qty: 2 }],
      ['BulkRemoveRecord', 'Orders', [1]],
    ]);
    expect(applied.tables.get('t1')?.rows.get(1)).toMatchObject({ after: null, lastKnown: { c2: 'Tea', c3: 2 } });
  });

  it('does not mutate the state it is given', () => {
    const input = state([['t1', [[1, { c2: 'Tea', c3: 1 }], [2, { c2: 'Jam', c3: 2 }]]], ['t4', [[1, { c5: 'Ann' }]]]]);
    const copy = structuredClone(input);
    applyActions(input, [
      ['AddColumn', 'Orders', 'Price', { type: 'Numeric' }],
      ['RenameColumn', 'Orders', 'Qty', 'Quantity'],
      ['ModifyColumn', 'Orders', 'Item', { type: 'Choice' }],
      ['UpdateRecord', 'Orders', 1, { Price: 3 }],
      ['RemoveRecord', 'Orders', 2],
      ['RenameTable', 'Orders', 'Sales'],
      ['ReplaceTableData', 'People', [2], { Name: ['Bob'] }],
      ['RemoveColumn', 'People', 'Name'],
      ['TableData', 'Stock', [1], { A: [1] }],
    ]);
    expect(input).toEqual(copy);
  });

  it('starts from an empty schema', () => {
    const applied = applyActions({ schema: emptySchema(), rows: new Map() }, [['AddRecord', 'T', 1, { A: 1 }]]);
    expect(applied.schema).toEqual({
      tables: [{ ref: 't1', id: 'T', columns: [{ ref: 'c2', id: 'A', type: 'Any', isFormula: false, formula: '' }] }],
      nextRef: 3,
    });
  });
});

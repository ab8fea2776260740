import { ActionBundle, DocAction, EventType, WebhookRule, emptySchema } from '../domain';
import { DocState, StoredRow, rowsToLoad } from './doc-state';
import { BundleOutcome, applyBundle } from './firing';
import { CELLS_COUNTED, MAX_BUNDLE_CELLS, ROW_CELLS, cellsOf } from './doc-state';

const BUNDLE_TIME = 2_000;

const ORDERS: DocAction[] = [
  [
    'AddTable',
    'Orders',
    [
      { id: 'id' },
      { id: 'manualSort', type: 'ManualSortPos' },
      { id: 'Item', type: 'Text' },
      { id: 'Qty', type: 'Numeric' },
      { id: 'Ready', type: 'Bool' },
      { id: 'Note', type: 'Text' },
    ],
  ],
  [
    'BulkAddRecord',
    'Orders',
    [1, 2, 3],
    { manualSort: [1, 2, 3], Item: ['Tea', 'Coffee', 'Cake'], Qty: [1, 2, 3], Ready: [false, true, true] },
  ],
  ['AddTable', 'People', [{ id: 'Name', type: 'Text' }]],
  ['AddRecord', 'People', 1, { Name: 'Ann' }],
];

let actionNum = 0;

/** The database of the tests: every stored row of one document. */
function seed(...bundles: DocAction[][]): DocState {
  let state: DocState = { schema: emptySchema(), rows: new Map() };
  for (const actions of bundles) state = run(state, actions).state;
  return state;
}

interface RunOptions {
  userActions?: unknown[];
  bundleTime?: number;
}

/** What the matcher shell does: loads only the rows `rowsToLoad` asks for, applies the bundle, stores the outcome. */
function run(db: DocState, actions: DocAction[], webhooks: WebhookRule[] = [], options: RunOptions = {}) {
  const userActions = options.userActions ?? [];
  const bundle: ActionBundle = { docId: 'doc', actionNum: ++actionNum, userActions, actions };
  const loaded = load(db, rowsToLoad(db.schema, actions));
  const outcome = applyBundle(loaded, bundle, webhooks, options.bundleTime ?? BUNDLE_TIME);
  return { outcome, state: commit(db, outcome) };
}

function load(db: DocState, wanted: ReturnType<typeof rowsToLoad>): DocState {
  const rows = new Map<string, Map<number, StoredRow>>();
  for (const [tableRef, ids] of wanted) {
    const stored = db.rows.get(tableRef) ?? new Map<number, StoredRow>();
    if (ids === 'all') rows.set(tableRef, stored);
    else rows.set(tableRef, new Map(ids.filter((id) => stored.has(id)).map((id) => [id, stored.get(id) as StoredRow])));
  }
  return { schema: db.schema, rows };
}

function commit(db: DocState, outcome: BundleOutcome): DocState {
  const rows = new Map([...db.rows].map(([tableRef, table]) => [tableRef, new Map(table)]));
  for (const tableRef of outcome.clearedTables) rows.delete(tableRef);
  for (const { tableRef, rowId, values } of outcome.rowWrites) {
    const table = rows.get(tableRef) ?? new Map<number, StoredRow>();
    rows.set(tableRef, table);
    if (values === null) table.delete(rowId);
    else table.set(rowId, values);
  }
  return { schema: outcome.schema, rows };
}

interface HookSpec {
  id?: string;
  table?: string;
  ready?: string;
  watched?: string[];
  types?: EventType[];
  enabled?: boolean;
  activeSince?: number;
}

/** A webhook rule, its table and columns named as a user would and resolved to refs against the state. */
function hook(state: DocState, spec: HookSpec = {}): WebhookRule {
  const table = state.schema.tables.find((t) => t.id === (spec.table ?? 'Orders'));
  if (!table) throw new Error(`no table ${spec.table}`);
  const colRef = (colId: string): string => {
    const column = table.columns.find((c) => c.id === colId);
    if (!column) throw new Error(`no column ${colId}`);
    return column.ref;
  };
  return {
    id: spec.id ?? 'w1',
    docId: 'doc',
    tableRef: table.ref,
    eventTypes: spec.types ?? ['add', 'update'],
    readyColRef: spec.ready ? colRef(spec.ready) : null,
    watchedColRefs: (spec.watched ?? []).map(colRef),
    enabled: spec.enabled ?? true,
    activeSince: spec.activeSince ?? 0,
  };
}

/** `<type> <rowId>` of every payload row a webhook got. */
function fired(outcome: BundleOutcome, webhookId = 'w1'): string[] {
  const events = outcome.events.find((e) => e.webhookId === webhookId);
  return events ? events.rows.map((r) => `${r.type} ${r.id}`) : [];
}

const orders = seed(ORDERS);

describe('applyBundle: which rows fire (SPEC section 3)', () => {
  // Orders rows: 1 not ready (Ready false), 2 and 3 ready.
  it.each<[string, HookSpec, DocAction[], string[]]>([
    // The table of SPEC section 3, line by line.
    ['no ready column, row added', {}, [['AddRecord', 'Orders', 4, { Item: 'Jam' }]], ['add 4']],
    [
      'no ready column, existing row with a changed value',
      {},
      [['UpdateRecord', 'Orders', 1, { Qty: 5 }]],
      ['update 1'],
    ],
    ['ready column set, row added not ready', { ready: 'Ready' }, [['AddRecord', 'Orders', 4, { Ready: false }]], []],
    [
      'ready column set, existing row changed, not ready',
      { ready: 'Ready' },
      [['UpdateRecord', 'Orders', 1, { Qty: 5 }]],
      [],
    ],
    ['row added with ready true', { ready: 'Ready' }, [['AddRecord', 'Orders', 4, { Ready: true }]], ['add 4']],
    [
      'existing row whose ready became true (watched columns ignored)',
      { ready: 'Ready', watched: ['Qty'] },
      [['UpdateRecord', 'Orders', 1, { Ready: true }]],
      ['add 1'],
    ],
    [
      'existing row ready before and after, a value changed',
      { ready: 'Ready' },
      [['UpdateRecord', 'Orders', 2, { Qty: 9 }]],
      ['update 2'],
    ],
    ['ready goes true to false', { ready: 'Ready' }, [['UpdateRecord', 'Orders', 2, { Ready: false, Qty: 9 }]], []],
    ['row removed, remove not opted into', {}, [['RemoveRecord', 'Orders', 2]], []],
    [
      'row removed, remove opted into',
      { types: ['add', 'update', 'remove'] },
      [['RemoveRecord', 'Orders', 2]],
      ['remove 2'],
    ],
    // The bullets under it.
    ['add not in eventTypes', { types: ['update'] }, [['AddRecord', 'Orders', 4, {}]], []],
    ['update not in eventTypes', { types: ['add'] }, [['UpdateRecord', 'Orders', 1, { Qty: 5 }]], []],
    ['disabled webhook', { enabled: false }, [['AddRecord', 'Orders', 4, {}]], []],
    ['a watched column changed', { watched: ['Qty'] }, [['UpdateRecord', 'Orders', 1, { Qty: 5 }]], ['update 1']],
    ['only an unwatched column changed', { watched: ['Qty'] }, [['UpdateRecord', 'Orders', 1, { Note: 'x' }]], []],
    ['watched columns do not filter add', { watched: ['Qty'] }, [['AddRecord', 'Orders', 4, { Note: 'x' }]], ['add 4']],
    ['a rewrite of the same values is not a change', {}, [['UpdateRecord', 'Orders', 1, { Qty: 1, Item: 'Tea' }]], []],
    [
      'a value changed and changed back within the bundle',
      {},
      [
        ['UpdateRecord', 'Orders', 1, { Qty: 5 }],
        ['UpdateRecord', 'Orders', 1, { Qty: 1 }],
      ],
      [],
    ],
    ['readiness is strict: 1 is not true', { ready: 'Ready' }, [['AddRecord', 'Orders', 4, { Ready: 1 }]], []],
    [
      'readiness is strict: "true" is not true',
      { ready: 'Ready' },
      [['AddRecord', 'Orders', 4, { Ready: 'true' }]],
      [],
    ],
    ['created after the bundle was appended', { activeSince: BUNDLE_TIME + 1 }, [['AddRecord', 'Orders', 4, {}]], []],
    ['created when the bundle was appended', { activeSince: BUNDLE_TIME }, [['AddRecord', 'Orders', 4, {}]], ['add 4']],
    ['rows of another table', { table: 'People' }, [['AddRecord', 'Orders', 4, {}]], []],
    ['rows ordered by id', {}, [['BulkAddRecord', 'Orders', [9, 5, 7], {}]], ['add 5', 'add 7', 'add 9']],
    // Rows the bundle both adds and changes.
    [
      'added then updated counts as added',
      { ready: 'Ready' },
      [
        ['AddRecord', 'Orders', 4, { Ready: false }],
        ['UpdateRecord', 'Orders', 4, { Ready: true }],
      ],
      ['add 4'],
    ],
    [
      'added then removed fires nothing',
      { types: ['add', 'update', 'remove'] },
      [
        ['AddRecord', 'Orders', 4, {}],
        ['RemoveRecord', 'Orders', 4],
      ],
      [],
    ],
    // Removed then added again in one bundle: added, as Grist (added row ids override updated ones).
    [
      'removed then added again, ready column',
      { ready: 'Ready' },
      [
        ['RemoveRecord', 'Orders', 2],
        ['AddRecord', 'Orders', 2, { Ready: true }],
      ],
      ['add 2'],
    ],
    [
      'removed then added again with the same values',
      {},
      [
        ['RemoveRecord', 'Orders', 1],
        ['AddRecord', 'Orders', 1, { Item: 'Tea', Qty: 1 }],
      ],
      ['add 1'],
    ],
    [
      'removed by ReplaceTableData then added again',
      {},
      [
        ['ReplaceTableData', 'Orders', [2], {}],
        ['AddRecord', 'Orders', 1, {}],
      ],
      ['add 1', 'add 2'],
    ],
    [
      'an unseen row removed then added again',
      {},
      [
        ['RemoveRecord', 'Orders', 50],
        ['AddRecord', 'Orders', 50, {}],
      ],
      ['add 50'],
    ],
    [
      'a row that existed, kept by ReplaceTableData, then removed',
      { types: ['add', 'update', 'remove'] },
      [
        ['ReplaceTableData', 'Orders', [2], {}],
        ['RemoveRecord', 'Orders', 2],
      ],
      ['remove 1', 'remove 2', 'remove 3'],
    ],
    [
      'a row that existed, removed, added again, removed again',
      { types: ['add', 'update', 'remove'] },
      [
        ['RemoveRecord', 'Orders', 2],
        ['AddRecord', 'Orders', 2, {}],
        ['RemoveRecord', 'Orders', 2],
      ],
      ['remove 2'],
    ],
    // A row the engine never saw: judged as existing and ready, every column written counting as changed.
    ['upsert of an unseen row', {}, [['UpdateRecord', 'Orders', 50, { Qty: 1 }]], ['update 50']],
    [
      'upsert of an unseen row, ready column',
      { ready: 'Ready' },
      [['UpdateRecord', 'Orders', 50, { Ready: true }]],
      ['update 50'],
    ],
    ['upsert of an unseen row, not ready', { ready: 'Ready' }, [['UpdateRecord', 'Orders', 50, { Qty: 1 }]], []],
    [
      'upsert of an unseen row, watched column not written',
      { watched: ['Item'] },
      [['UpdateRecord', 'Orders', 50, { Qty: 1 }]],
      [],
    ],
    // Removal: a row never ready was never sent, so its removal is not sent either.
    [
      'removed ready row, ready column',
      { ready: 'Ready', types: ['remove'] },
      [['RemoveRecord', 'Orders', 2]],
      ['remove 2'],
    ],
    [
      'removed row never ready, ready column',
      { ready: 'Ready', types: ['remove'] },
      [['RemoveRecord', 'Orders', 1]],
      [],
    ],
    [
      'removed row that was ready before the bundle, unset first',
      { ready: 'Ready', types: ['remove'] },
      [
        ['UpdateRecord', 'Orders', 2, { Ready: false }],
        ['RemoveRecord', 'Orders', 2],
      ],
      ['remove 2'],
    ],
    ['removed unseen row', { types: ['remove'] }, [['RemoveRecord', 'Orders', 50]], ['remove 50']],
    [
      'an unseen row removed, added again, removed again, ready column',
      { ready: 'Ready', types: ['remove'] },
      [
        ['RemoveRecord', 'Orders', 50],
        ['AddRecord', 'Orders', 50, { Ready: false }],
        ['RemoveRecord', 'Orders', 50],
      ],
      ['remove 50'],
    ],
  ])('%s', (_name, spec, actions, expected) => {
    expect(fired(run(orders, actions, [hook(orders, spec)]).outcome)).toEqual(expected);
  });

  it('fires add again when ready goes false then true in later bundles', () => {
    const webhooks = [hook(orders, { ready: 'Ready' })];
    const unset = run(orders, [['UpdateRecord', 'Orders', 2, { Ready: false }]], webhooks);
    expect(fired(unset.outcome)).toEqual([]);
    const set = run(unset.state, [['UpdateRecord', 'Orders', 2, { Ready: true }]], webhooks);
    expect(fired(set.outcome)).toEqual(['add 2']);
  });

  it('compares JSON values deeply, object key order irrelevant', () => {
    const state = seed(ORDERS, [['UpdateRecord', 'Orders', 1, { Meta: ['O', { a: 1, b: [1, 2] }] }]]);
    const same = run(state, [['UpdateRecord', 'Orders', 1, { Meta: ['O', { b: [1, 2], a: 1 }] }]], [hook(state)]);
    expect(fired(same.outcome)).toEqual([]);
    const changed = run(state, [['UpdateRecord', 'Orders', 1, { Meta: ['O', { a: 1, b: [2, 1] }] }]], [hook(state)]);
    expect(fired(changed.outcome)).toEqual(['update 1']);
  });

  it('orders events by webhook id, each webhook seeing only its own table', () => {
    const webhooks = [hook(orders, { id: 'b' }), hook(orders, { id: 'c', table: 'People' }), hook(orders, { id: 'a' })];
    const { outcome } = run(
      orders,
      [
        ['AddRecord', 'Orders', 4, {}],
        ['UpdateRecord', 'People', 1, { Name: 'Bob' }],
      ],
      webhooks,
    );
    expect(outcome.events.map((e) => [e.webhookId, e.tableId, e.rows.map((r) => r.id)])).toEqual([
      ['a', 'Orders', [4]],
      ['b', 'Orders', [4]],
      ['c', 'People', [1]],
    ]);
  });

  it('ignores webhooks of another document', () => {
    const other = { ...hook(orders), docId: 'other' };
    expect(run(orders, [['AddRecord', 'Orders', 4, {}]], [other]).outcome.events).toEqual([]);
  });

  it('fires nothing for a Calculate bundle but still updates the state', () => {
    const { outcome, state } = run(orders, [['UpdateRecord', 'Orders', 1, { Qty: 7 }]], [hook(orders)], {
      userActions: [['Calculate']],
    });
    expect(outcome.events).toEqual([]);
    expect(fired(run(state, [['UpdateRecord', 'Orders', 1, { Qty: 8 }]], [hook(state)]).outcome)).toEqual(['update 1']);
    expect(run(state, [['UpdateRecord', 'Orders', 1, { Qty: 7 }]], [hook(state)]).outcome.events).toEqual([]);
  });

  it('fires for a bundle whose userActions merely include Calculate', () => {
    const userActions = [['Calculate'], ['UpdateRecord', 'Orders', 1, { Qty: 7 }]];
    const { outcome } = run(orders, [['UpdateRecord', 'Orders', 1, { Qty: 7 }]], [hook(orders)], { userActions });
    expect(fired(outcome)).toEqual(['update 1']);
  });
});

describe('applyBundle: payload rows', () => {
  it('add: every column by id, defaults filled, nothing previous', () => {
    const { outcome } = run(orders, [['AddRecord', 'Orders', 4, { Item: 'Jam', manualSort: 4 }]], [hook(orders)]);
    expect(outcome.events).toEqual([
      {
        webhookId: 'w1',
        tableId: 'Orders',
        rows: [
          {
            type: 'add',
            id: 4,
            fields: { manualSort: 4, Item: 'Jam', Qty: 0, Ready: false, Note: '' },
            previous: {},
            changedColIds: [],
          },
        ],
      },
    ]);
  });

  it('update: old values of the changed columns, in schema order', () => {
    const update: DocAction = ['UpdateRecord', 'Orders', 2, { Note: 'hot', Qty: 4, Item: 'Coffee' }];
    const { outcome } = run(orders, [update], [hook(orders)]);
    expect(outcome.events[0].rows).toEqual([
      {
        type: 'update',
        id: 2,
        fields: { manualSort: 2, Item: 'Coffee', Qty: 4, Ready: true, Note: 'hot' },
        previous: { Qty: 2, Note: '' },
        changedColIds: ['Qty', 'Note'],
      },
    ]);
  });

  it('update of an unseen row: the written columns changed, their old values unknown', () => {
    const { outcome } = run(orders, [['UpdateRecord', 'Orders', 50, { Qty: 1, Item: 'Jam' }]], [hook(orders)]);
    expect(outcome.events[0].rows).toEqual([
      {
        type: 'update',
        id: 50,
        fields: { manualSort: null, Item: 'Jam', Qty: 1, Ready: false, Note: '' },
        previous: {},
        changedColIds: ['Item', 'Qty'],
      },
    ]);
  });

  it('remove: the last known state of the row', () => {
    const webhooks = [hook(orders, { types: ['remove'] })];
    const { outcome } = run(
      orders,
      [
        ['UpdateRecord', 'Orders', 3, { Note: 'gone' }],
        ['RemoveRecord', 'Orders', 3],
      ],
      webhooks,
    );
    expect(outcome.events[0].rows).toEqual([
      {
        type: 'remove',
        id: 3,
        fields: { manualSort: 3, Item: 'Cake', Qty: 3, Ready: true, Note: 'gone' },
        previous: {},
        changedColIds: [],
      },
    ]);
  });

  it('remove of an unseen row: only its id is known', () => {
    const { outcome } = run(orders, [['RemoveRecord', 'Orders', 50]], [hook(orders, { types: ['remove'] })]);
    expect(outcome.events[0].rows).toEqual([{ type: 'remove', id: 50, fields: {}, previous: {}, changedColIds: [] }]);
  });

  it('defaults by type, read up to any ":"', () => {
    const columns = ['Text', 'Choice', 'Numeric', 'Int', 'Bool', 'Ref:People', 'Date', 'DateTime:UTC'];
    columns.push('ChoiceList', 'Attachments', 'Any');
    const state = seed([['AddTable', 'Typed', columns.map((type) => ({ id: type.replace(/:.*/, ''), type }))]]);
    const { outcome } = run(state, [['AddRecord', 'Typed', 1, {}]], [hook(state, { table: 'Typed' })]);
    expect(outcome.events[0].rows[0].fields).toEqual({
      Text: '',
      Choice: '',
      Numeric: 0,
      Int: 0,
      Bool: false,
      Ref: 0,
      Date: null,
      DateTime: null,
      ChoiceList: null,
      Attachments: null,
      Any: null,
    });
  });
});

describe('applyBundle: schema changes and webhooks', () => {
  it('follows a table and a column renamed in the same bundle as an update', () => {
    const webhooks = [hook(orders, { watched: ['Qty'], ready: 'Ready' })];
    const { outcome, state } = run(
      orders,
      [
        ['RenameTable', 'Orders', 'Sales'],
        ['RenameColumn', 'Sales', 'Qty', 'Quantity'],
        ['UpdateRecord', 'Sales', 2, { Quantity: 6 }],
      ],
      webhooks,
    );
    expect(outcome.events[0]).toMatchObject({
      tableId: 'Sales',
      rows: [{ type: 'update', id: 2, previous: { Quantity: 2 }, changedColIds: ['Quantity'] }],
    });
    expect(outcome.events[0].rows[0].fields).toEqual({
      manualSort: 2,
      Item: 'Coffee',
      Quantity: 6,
      Ready: true,
      Note: '',
    });
    const names = (s: DocState): string[] => s.schema.tables.map((t) => `${t.ref}:${t.id}`);
    expect(names(state)).toEqual(names(orders).map((name) => name.replace(':Orders', ':Sales')));
  });

  it('gives a column added to a table with rows its default, not counted as a change', () => {
    const added = run(orders, [['AddColumn', 'Orders', 'Discount', { type: 'Numeric' }]]);
    expect(added.outcome.rowWrites).toEqual([]);
    const { outcome } = run(added.state, [['UpdateRecord', 'Orders', 1, { Qty: 5 }]], [hook(added.state)]);
    expect(outcome.events[0].rows[0]).toMatchObject({ fields: { Discount: 0, Qty: 5 }, changedColIds: ['Qty'] });
  });

  it('counts a value written into a column added in the same bundle as changed from its default', () => {
    const { outcome } = run(
      orders,
      [
        ['AddColumn', 'Orders', 'Discount', { type: 'Numeric' }],
        ['BulkUpdateRecord', 'Orders', [1, 2], { Discount: [0, 5] }],
      ],
      [hook(orders)],
    );
    expect(outcome.events[0].rows).toEqual([
      expect.objectContaining({ id: 2, previous: { Discount: 0 }, changedColIds: ['Discount'] }),
    ]);
  });

  it('declares unknown tables and columns implicitly, as Any', () => {
    const { outcome, state } = run(orders, [
      ['UpdateRecord', 'Logs', 1, { Message: 'hi' }],
      ['AddRecord', 'Orders', 4, { Extra: 'x' }],
    ]);
    const logs = state.schema.tables.find((t) => t.id === 'Logs');
    expect(logs?.columns).toEqual([
      { ref: expect.any(String), id: 'Message', type: 'Any', isFormula: false, formula: '' },
    ]);
    const extra = state.schema.tables.find((t) => t.id === 'Orders')?.columns.find((c) => c.id === 'Extra');
    expect(extra?.type).toBe('Any');
    const next = run(state, [['UpdateRecord', 'Orders', 1, { Qty: 5 }]], [hook(state)]);
    expect(next.outcome.events[0].rows[0].fields.Extra).toBeNull();
    expect(outcome.rowWrites.map((w) => w.rowId)).toEqual([4, 1]);
  });

  it('behaves as if there were no ready column once it is removed', () => {
    const { outcome } = run(
      orders,
      [
        ['RemoveColumn', 'Orders', 'Ready'],
        ['UpdateRecord', 'Orders', 1, { Qty: 5 }],
      ],
      [hook(orders, { ready: 'Ready' })],
    );
    expect(fired(outcome)).toEqual(['update 1']);
    expect(outcome.events[0].rows[0].fields).not.toHaveProperty('Ready');
  });

  it('drops a removed watched column from the list', () => {
    const webhooks = [hook(orders, { watched: ['Note', 'Qty'] })];
    const removed = run(orders, [['RemoveColumn', 'Orders', 'Note']]);
    const update = (values: StoredRow): string[] =>
      fired(run(removed.state, [['UpdateRecord', 'Orders', 1, values]], webhooks).outcome);
    expect(update({ Item: 'x' })).toEqual([]);
    expect(update({ Qty: 9 })).toEqual(['update 1']);
  });

  it('treats a list of watched columns that are all removed as empty: any change counts', () => {
    const { outcome } = run(
      orders,
      [
        ['RemoveColumn', 'Orders', 'Note'],
        ['UpdateRecord', 'Orders', 1, { Item: 'x' }],
      ],
      [hook(orders, { watched: ['Note'] })],
    );
    expect(fired(outcome)).toEqual(['update 1']);
  });

  it('drops the stale value of a removed column when the row is next written', () => {
    const noteRef = orders.schema.tables[0].columns.find((c) => c.id === 'Note')?.ref as string;
    const removed = run(orders, [['RemoveColumn', 'Orders', 'Note']]);
    const { outcome } = run(removed.state, [['UpdateRecord', 'Orders', 1, { Qty: 5 }]]);
    expect(outcome.rowWrites[0].values).not.toHaveProperty(noteRef);
  });

  it('fires nothing once the table is removed, even if re-created under the same name', () => {
    const ordersRef = orders.schema.tables[0].ref;
    const { outcome, state } = run(
      orders,
      [
        ['RemoveTable', 'Orders'],
        ['AddRecord', 'Orders', 1, { Item: 'Tea' }],
      ],
      [hook(orders, { types: ['add', 'update', 'remove'] })],
    );
    expect(outcome.events).toEqual([]);
    expect(outcome.clearedTables).toEqual([ordersRef]);
    expect(state.schema.tables.find((t) => t.id === 'Orders')?.ref).not.toBe(ordersRef);
    expect(outcome.rowWrites.map((w) => w.tableRef)).not.toContain(ordersRef);
  });

  it('fires nothing for a webhook whose table is already gone', () => {
    const orphan = { ...hook(orders), tableRef: null };
    expect(run(orders, [['AddRecord', 'Orders', 4, {}]], [orphan]).outcome.events).toEqual([]);
  });
});

describe('applyBundle: whole-table actions and large bundles', () => {
  it('sends every row of a 250-row BulkAddRecord, by id', () => {
    const ids = Array.from({ length: 250 }, (_, i) => 250 - i);
    const bulkAdd: DocAction = ['BulkAddRecord', 'Orders', ids, { Item: ids.map((id) => `item ${id}`) }];
    const { outcome } = run(orders, [bulkAdd], [hook(orders)]);
    expect(outcome.events[0].rows.map((r) => r.id)).toEqual([...ids].reverse());
    expect(outcome.events[0].rows[249]).toMatchObject({ type: 'add', id: 250, fields: { Item: 'item 250' } });
    expect(outcome.rowWrites).toHaveLength(250);
  });

  it('refuses a bundle whose rows would hold more than MAX_BUNDLE_CELLS cells once filled to the table width', () => {
    // row ids alone, into a wide table: each row is filled with every column's default
    const wide = seed([['AddTable', 'Wide', Array.from({ length: 200 }, (_, i) => ({ id: `C${i}`, type: 'Numeric' }))]]);
    const ids = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
    const most = Math.floor(MAX_BUNDLE_CELLS / (200 + ROW_CELLS));
    expect(() => run(wide, [['BulkAddRecord', 'Wide', ids(most + 1), {}]])).toThrow(
      `its rows would hold more than ${MAX_BUNDLE_CELLS} cells ${CELLS_COUNTED}`,
    );
    const { outcome } = run(wide, [['BulkAddRecord', 'Wide', ids(most), {}]]);
    expect(outcome.rowWrites).toHaveLength(most);
    expect(outcome.cells).toBe(cellsOf(most, 200));
  });

  it.each<[string, (ids: number[]) => DocAction[]]>([
    // 700,000 of these ran the matcher out of heap inside applyActions, before the rows were counted
    ['added to a table of one column', (ids) => [['BulkAddRecord', 'Narrow', ids, { A: ids.map((id) => `v${id}`) }]]],
    ['removed, each its own row object', (ids) => [['BulkRemoveRecord', 'Narrow', ids]]],
  ])('counts rows as they are touched, each at its cost besides its cells: 2,000,000 rows %s are refused', (_name, actions) => {
    const narrow = seed([['AddTable', 'Narrow', [{ id: 'A', type: 'Text' }]]]);
    const ids = Array.from({ length: 2_000_000 }, (_, i) => i + 1);
    expect(() => run(narrow, actions(ids))).toThrow(`its rows would hold more than ${MAX_BUNDLE_CELLS} cells ${CELLS_COUNTED}`);
  });

  it('counts the live rows again at their final width: columns added after the rows count too', () => {
    const narrow = seed([['AddTable', 'Narrow', [{ id: 'A', type: 'Text' }]]]);
    const ids = Array.from({ length: 6000 }, (_, i) => i + 1);
    const columns: DocAction[] = Array.from({ length: 250 }, (_, i) => ['AddColumn', 'Narrow', `C${i}`, { type: 'Numeric' }]);
    expect(() => run(narrow, [['BulkAddRecord', 'Narrow', ids, {}], ...columns])).toThrow(
      `its rows would hold ${cellsOf(6000, 251)} cells ${CELLS_COUNTED}, more than ${MAX_BUNDLE_CELLS}`,
    );
  });

  it('counts only the rows left live: a ReplaceTableData over a stored table near MAX_BUNDLE_CELLS applies', () => {
    const wide = seed([['AddTable', 'Wide', Array.from({ length: 200 }, (_, i) => ({ id: `C${i}`, type: 'Numeric' }))]]);
    const ids = Array.from({ length: Math.floor(MAX_BUNDLE_CELLS / (200 + ROW_CELLS)) }, (_, i) => i + 1);
    const full = run(wide, [['BulkAddRecord', 'Wide', ids, {}]]).state;
    const webhooks = [hook(full, { table: 'Wide', types: ['add', 'remove'] })];
    const { outcome } = run(full, [['ReplaceTableData', 'Wide', [1], {}], ['AddRecord', 'Wide', 9999, {}]], webhooks);
    expect(outcome.cells).toBe(cellsOf(2, 200));
    expect(outcome.events[0].rows).toHaveLength(ids.length + 1);
    expect(outcome.events[0].rows.filter((r) => r.type === 'add').map((r) => r.id)).toEqual([1, 9999]);
  });

  it('ReplaceTableData: surviving rows count as added, the others are removed', () => {
    const webhooks = [hook(orders, { types: ['add', 'update', 'remove'] })];
    const values = { Item: ['Coffee', 'Jam'], Qty: [2, 1], Ready: [true, false], manualSort: [2, 4] };
    const { outcome, state } = run(orders, [['ReplaceTableData', 'Orders', [2, 4], values]], webhooks);
    expect(fired(outcome)).toEqual(['remove 1', 'add 2', 'remove 3', 'add 4']);
    expect(outcome.clearedTables).toEqual([orders.schema.tables[0].ref]);
    expect(outcome.rowWrites.map((w) => w.rowId)).toEqual([2, 4]);
    expect([...(state.rows.get(orders.schema.tables[0].ref)?.keys() ?? [])].sort()).toEqual([2, 4]);
  });

  it('TableData seeds a table and fires nothing; later updates compare with the snapshot', () => {
    const snapshot: DocAction = ['TableData', 'Stock', [1, 2], { Item: ['Tea', 'Jam'], Count: [5, 7] }];
    const seeded = run(orders, [snapshot], [hook(orders)]);
    expect(seeded.outcome.events).toEqual([]);
    const webhooks = [hook(seeded.state, { table: 'Stock' })];
    const { outcome } = run(seeded.state, [['UpdateRecord', 'Stock', 2, { Count: 6 }]], webhooks);
    expect(outcome.events[0].rows).toEqual([
      { type: 'update', id: 2, fields: { Item: 'Jam', Count: 6 }, previous: { Count: 7 }, changedColIds: ['Count'] },
    ]);
  });

  it('TableData then an update in the same bundle: only the update fires', () => {
    const webhooks = [hook(orders, { types: ['add', 'update', 'remove'] })];
    const { outcome, state } = run(
      orders,
      [
        ['AddRecord', 'Orders', 9, {}],
        ['TableData', 'Orders', [1, 2], { Item: ['Tea', 'Coffee'], Qty: [1, 2] }],
        ['UpdateRecord', 'Orders', 1, { Qty: 3 }],
      ],
      webhooks,
    );
    expect(outcome.events[0].rows).toEqual([expect.objectContaining({ type: 'update', id: 1, previous: { Qty: 1 } })]);
    expect([...(state.rows.get(orders.schema.tables[0].ref)?.keys() ?? [])]).toEqual([1, 2]);
  });

  it('touches only the rows of the bundle in a large table, without mutating the state', () => {
    const ids = Array.from({ length: 100_000 }, (_, i) => i + 1);
    const big = seed([['BulkAddRecord', 'Big', ids, { N: ids }]]);
    const bigRows = big.rows.get(big.schema.tables[0].ref) as Map<number, StoredRow>;
    const schemaBefore = structuredClone(big.schema);
    const row5 = structuredClone(bigRows.get(5));
    const touched = [5, 10, 15, 20, 25, 30, 35, 40, 45, 50];
    const bundle: ActionBundle = {
      docId: 'doc',
      actionNum: 1,
      userActions: [],
      actions: [['BulkUpdateRecord', 'Big', touched, { N: touched.map(() => -1) }]],
    };
    const outcome = applyBundle(big, bundle, [hook(big, { table: 'Big' })], BUNDLE_TIME);
    expect(outcome.rowWrites).toHaveLength(10);
    expect(outcome.events[0].rows).toHaveLength(10);
    expect(big.schema).toEqual(schemaBefore);
    expect(bigRows.size).toBe(100_000);
    expect(bigRows.get(5)).toEqual(row5);
  });

  it('is deterministic: the same bundle on the same state gives the same outcome', () => {
    const actions: DocAction[] = [
      ['AddTable', 'New', [{ id: 'A', type: 'Text' }]],
      ['AddRecord', 'New', 1, { A: 'x', B: 1 }],
      ['UpdateRecord', 'Orders', 1, { Qty: 5, Extra: true }],
    ];
    const webhooks = [hook(orders)];
    const first = applyBundle(orders, { docId: 'doc', actionNum: 1, userActions: [], actions }, webhooks, BUNDLE_TIME);
    const second = applyBundle(orders, { docId: 'doc', actionNum: 1, userActions: [], actions }, webhooks, BUNDLE_TIME);
    expect(second).toEqual(first);
  });
});

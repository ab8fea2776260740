/** The matcher's document state statement against the real database: what a save writes, and what it refuses. */
import { DocChanges, DocStateRepository, StoredRowValues } from '../libs/db/doc-state.repository';
import { DocSchema, emptySchema } from '../libs/domain';
import { useMigratedDatabase } from './support/harness';

const database = useMigratedDatabase();
let repo: DocStateRepository;

beforeAll(() => {
  repo = new DocStateRepository(database.source);
});

function changes(docId: string, from: number, to: number, rows: Array<[string, number, StoredRowValues | null]>, clearedTables: string[] = []): DocChanges {
  return {
    docId,
    previousActionNum: from,
    lastActionNum: to,
    schema: emptySchema(),
    schemaChanged: true,
    clearedTables,
    rows: new Map(rows.map(([tableRef, rowId, values]) => [`${tableRef}\u0000${rowId}`, { tableRef, rowId, values }])),
  };
}

const stored = async (docId: string): Promise<Array<[string, number, unknown]>> =>
  (await database.db.query<{ table_ref: string; row_id: number; fields: string }>(
    'SELECT table_ref, row_id, fields FROM doc_rows WHERE doc_id = $1 ORDER BY table_ref, row_id',
    [docId],
  )).map((r) => [r.table_ref, r.row_id, JSON.parse(r.fields)]);

describe('DocStateRepository.save', () => {
  it('writes, overwrites and deletes rows, and clears tables while keeping the rows written again after the clear', async () => {
    await repo.save([changes('a', 0, 1, [['t1', 1, { c: 1 }], ['t1', 2, { c: 2 }], ['t1', 3, { c: 3 }], ['t2', 1, { c: 9 }]])]);
    await repo.save([changes('a', 1, 2, [['t1', 2, { c: 20 }], ['t2', 1, null], ['t2', 5, { c: 5 }]], ['t1'])]);
    expect(await stored('a')).toEqual([['t1', 2, { c: 20 }], ['t2', 5, { c: 5 }]]);
    expect((await repo.loadDocs(['a'])).get('a')?.lastActionNum).toBe(2);
  });

  it('leaves a document moved by another matcher as it is, saves the others, and names it', async () => {
    await repo.save([changes('b', 0, 3, [['t', 1, { v: 'b3' }]]), changes('c', 0, 3, [['t', 1, { v: 'c3' }]])]);
    // this batch started from actionNum 1, but 3 is stored: another instance went further meanwhile
    await expect(
      repo.save([changes('b', 1, 2, [['t', 1, { v: 'stale' }]], ['t']), changes('c', 3, 4, [['t', 1, { v: 'c4' }]])]),
    ).rejects.toThrow('document state changed by another matcher meanwhile: b');
    expect(await stored('b')).toEqual([['t', 1, { v: 'b3' }]]);
    expect(await stored('c')).toEqual([['t', 1, { v: 'c4' }]]);
    const docs = await repo.loadDocs(['b', 'c']);
    expect([docs.get('b')?.lastActionNum, docs.get('c')?.lastActionNum]).toEqual([3, 4]);
  });

  it('writes the schema only when it changed, and the actionNum and rows either way, still checking the actionNum', async () => {
    const table = (id: string): DocSchema => ({ tables: [{ ref: 't1', id, columns: [] }], nextRef: 2 });
    await repo.save([{ ...changes('s', 0, 1, [['t1', 1, { c: 1 }]]), schema: table('First') }]);
    await repo.save([{ ...changes('s', 1, 2, [['t1', 1, { c: 2 }]]), schema: table('Unsaved'), schemaChanged: false }]);
    expect(await repo.loadDocs(['s'])).toEqual(new Map([['s', { docId: 's', lastActionNum: 2, schema: table('First') }]]));
    expect(await stored('s')).toEqual([['t1', 1, { c: 2 }]]);
    await expect(repo.save([{ ...changes('s', 1, 3, [['t1', 1, { c: 3 }]]), schemaChanged: false }])).rejects.toThrow(
      'document state changed by another matcher meanwhile: s',
    );
    await repo.save([{ ...changes('s', 2, 3, []), schema: table('Second') }]);
    expect((await repo.loadDocs(['s'])).get('s')).toEqual({ docId: 's', lastActionNum: 3, schema: table('Second') });
    expect(await stored('s')).toEqual([['t1', 1, { c: 2 }]]);
  });

  it('refuses a document never stored whose schema is said to be unchanged, and stores nothing of it', async () => {
    await expect(repo.save([{ ...changes('never', 0, 1, [['t1', 1, { c: 1 }]]), schemaChanged: false }])).rejects.toThrow(
      'document state changed by another matcher meanwhile: never',
    );
    expect(await repo.loadDocs(['never'])).toEqual(new Map());
    expect(await stored('never')).toEqual([]);
  });

  it('loads whole tables and single rows of several documents in one read', async () => {
    await repo.save([
      changes('d1', 0, 1, [['t1', 1, { v: 11 }], ['t1', 2, { v: 12 }], ['t2', 1, { v: 21 }], ['t2', 2, { v: 22 }]]),
      changes('d2', 0, 1, [['t1', 1, { v: 'x' }], ['t1', 2, { v: 'y' }]]),
    ]);
    const loaded = await repo.loadRows(
      new Map([
        ['d1', new Map<string, number[] | 'all'>([['t1', 'all'], ['t2', [2, 3]]])],
        ['d2', new Map<string, number[] | 'all'>([['t1', [1]]])],
      ]),
      new Map([['d1', 1], ['d2', 1]]),
    );
    const flat = [...loaded.rows].flatMap(([doc, tables]) => [...tables].flatMap(([table, rows]) => [...rows].map(([id, v]) => [doc, table, id, v])));
    expect(flat.sort()).toEqual([
      ['d1', 't1', 1, { v: 11 }],
      ['d1', 't1', 2, { v: 12 }],
      ['d1', 't2', 2, { v: 22 }],
      ['d2', 't1', 1, { v: 'x' }],
    ]);
  });

  it('refuses to load rows of a document another matcher moved past the actionNum the batch started from', async () => {
    await repo.save([changes('e1', 0, 3, [['t', 1, { v: 3 }]]), changes('e2', 0, 1, [['t', 1, { v: 1 }]])]);
    const wanted = new Map([
      ['e1', new Map<string, number[] | 'all'>([['t', [1]]])],
      ['e2', new Map<string, number[] | 'all'>([['t', 'all']])],
      ['e3', new Map<string, number[] | 'all'>([['t', 'all']])],
    ]);
    // a new document (e3) is at 0 until saved
    await expect(repo.loadRows(wanted, new Map([['e1', 3], ['e2', 1], ['e3', 0]]))).resolves.toHaveProperty('rows');
    await expect(repo.loadRows(wanted, new Map([['e1', 2], ['e2', 1], ['e3', 0]]))).rejects.toThrow(
      'document state changed by another matcher meanwhile: e1',
    );
    await repo.save([changes('e3', 0, 1, [['t', 1, { v: 1 }]])]);
    await expect(repo.loadRows(wanted, new Map([['e1', 3], ['e2', 1], ['e3', 0]]))).rejects.toThrow(
      'document state changed by another matcher meanwhile: e3',
    );
  });

  it('checks documents with no rows to read, and reads the config version with the rows when asked', async () => {
    await repo.save([changes('f1', 0, 2, [['t', 1, { v: 2 }]])]);
    const version = Number((await database.db.query<{ version: string }>('SELECT version FROM config_version'))[0].version);
    const none = new Map<string, Map<string, number[] | 'all'>>();
    await expect(repo.loadRows(none, new Map([['f1', 2]]), { configVersion: true })).resolves.toEqual({ rows: new Map(), configVersion: version });
    await expect(repo.loadRows(none, new Map([['f1', 1]]))).rejects.toThrow('document state changed by another matcher meanwhile: f1');
    const wanted = new Map([['f1', new Map<string, number[] | 'all'>([['t', 'all']])]]);
    const loaded = await repo.loadRows(wanted, new Map([['f1', 2]]), { configVersion: true });
    expect(loaded).toEqual({ rows: new Map([['f1', new Map([['t', new Map([[1, { v: 2 }]])]])]]), configVersion: version });
  });
});

import { DataSource } from 'typeorm';
import { joinJsonTexts, Queryable, Sql, splitJsonTexts } from './sql';
import { CONFIG_VERSION } from './webhook.repository';
import { DocSchema } from '../domain';

/** Row values keyed by column ref. */
export type StoredRowValues = Record<string, unknown>;

export interface StoredDoc {
  docId: string;
  lastActionNum: number;
  schema: DocSchema;
}

/** What one Kafka batch changed in one document, applied in one transaction with the others. */
export interface DocChanges {
  docId: string;
  /** The last actionNum stored when the batch began: the save fails if another instance moved it meanwhile. */
  previousActionNum: number;
  lastActionNum: number;
  schema: DocSchema;
  /**
   * Whether `schema` differs from the one stored (always, for a document not stored yet). An unchanged schema is not
   * written: it can be many times the size of the rows a batch changes.
   */
  schemaChanged: boolean;
  /** Tables whose stored rows all go before `rows` are written. */
  clearedTables: string[];
  /** Final values of each touched row (null = deleted), keyed by `${tableRef}\u0000${rowId}`. */
  rows: Map<string, { tableRef: string; rowId: number; values: StoredRowValues | null }>;
}

/**
 * Rows of whole tables ($1, $2) and single rows ($3: a JSON list of documents' tables and their row ids), then the
 * actionNum of each document to check ($4). The row ids go as JSON, which pg sends as it is: as arrays, each
 * document and table id was repeated and escaped once per row (8% of the matcher's allocations). Two joins on the
 * primary key rather than one OR of IN lists: the OR made Postgres scan every stored row of every document (80 ms per
 * batch at 400,000 rows, and growing with them). The OFFSET 0 fence keeps one lookup by key per row: unfenced,
 * Postgres read each table's rows whole, or hashed every stored row once it had statistics.
 */
const ROWS = `SELECT r.doc_id, r.table_ref, r.row_id, r.fields, NULL::bigint AS action_num
    FROM unnest($1::text[], $2::text[]) AS w(doc, tab) JOIN doc_rows r ON r.doc_id = w.doc AND r.table_ref = w.tab
  UNION ALL
  SELECT r.doc_id, r.table_ref, r.row_id, r.fields, NULL
    FROM json_to_recordset($3::json) AS s(doc text, tab text, ids int[]) CROSS JOIN LATERAL unnest(s.ids) AS i(row_id)
    CROSS JOIN LATERAL (SELECT * FROM doc_rows r WHERE r.doc_id = s.doc AND r.table_ref = s.tab AND r.row_id = i.row_id OFFSET 0) r
  UNION ALL
  SELECT doc_id, NULL, NULL, NULL, last_action_num FROM docs WHERE doc_id = ANY($4)`;

/** ROWS, then the config version in a row of its own. */
const ROWS_AND_CONFIG_VERSION = `WITH v AS (${CONFIG_VERSION}) ${ROWS}
  UNION ALL
  SELECT NULL, NULL, NULL, NULL, version FROM v`;

/** The matcher's event-sourced document state: schema and last applied actionNum per document, rows per table. */
export class DocStateRepository {
  private readonly sql: Sql;

  constructor(db: DataSource) {
    this.sql = new Sql(db);
  }

  async loadDocs(docIds: string[]): Promise<Map<string, StoredDoc>> {
    const rows: Array<{ doc_id: string; last_action_num: string; schema: DocSchema }> = await this.sql.rows(
      'SELECT doc_id, last_action_num, schema FROM docs WHERE doc_id = ANY($1)',
      [docIds],
    );
    return new Map(
      rows.map((r) => [r.doc_id, { docId: r.doc_id, lastActionNum: Number(r.last_action_num), schema: r.schema }]),
    );
  }

  async loadSchema(docId: string): Promise<DocSchema | null> {
    return (await this.loadDocs([docId])).get(docId)?.schema ?? null;
  }

  /**
   * Rows of several documents: whole tables (`all`) or the listed row ids, in one round trip. `asOf` is the actionNum
   * each document's batch started from, for these documents and any other to check: read in the same statement, a
   * document another matcher has moved since is an error, so no bundle is applied to rows newer than the state it was
   * read against (its events would be made up). With `configVersion`, the webhooks' config version is read in the
   * same statement, as WebhookRepository.configVersion reads it.
   */
  async loadRows(
    wanted: Map<string, Map<string, number[] | 'all'>>,
    asOf: Map<string, number>,
    { configVersion = false } = {},
  ): Promise<{ rows: Map<string, Map<string, Map<number, StoredRowValues>>>; configVersion?: number }> {
    const whole = { doc: [] as string[], table: [] as string[] };
    const some: Array<{ doc: string; tab: string; ids: number[] }> = [];
    for (const [docId, tables] of wanted) {
      for (const [tableRef, ids] of tables) {
        if (ids === 'all') (whole.doc.push(docId), whole.table.push(tableRef));
        else if (ids.length > 0) some.push({ doc: docId, tab: tableRef, ids });
      }
    }
    const result = new Map<string, Map<string, Map<number, StoredRowValues>>>();
    const checked = [...new Set([...wanted.keys(), ...asOf.keys()])];
    if (checked.length === 0 && !configVersion) return { rows: result };
    // the version is the only row without a document; a document's actionNum, the only one without a table
    type Row = { doc_id: string | null; table_ref: string | null; row_id: number; fields: string; action_num: string | null };
    const rows: Row[] = await this.sql.rows(configVersion ? ROWS_AND_CONFIG_VERSION : ROWS, [
      whole.doc,
      whole.table,
      JSON.stringify(some),
      checked,
    ]);
    const current = new Map(rows.filter((r) => r.table_ref === null).map((r) => [r.doc_id, Number(r.action_num)]));
    const moved = checked.filter((docId) => (current.get(docId) ?? 0) !== (asOf.get(docId) ?? 0));
    if (moved.length > 0) throw new Error(`document state changed by another matcher meanwhile: ${moved.join(', ')}`);
    for (const r of rows) {
      if (r.doc_id === null || r.table_ref === null) continue;
      let doc = result.get(r.doc_id);
      if (!doc) result.set(r.doc_id, (doc = new Map()));
      let table = doc.get(r.table_ref);
      if (!table) doc.set(r.table_ref, (table = new Map()));
      table.set(r.row_id, JSON.parse(r.fields) as StoredRowValues);
    }
    const version = rows.find((r) => r.doc_id === null);
    return version ? { rows: result, configVersion: Number(version.action_num) } : { rows: result };
  }

  /**
   * Applies every document's changes, but only to documents still at the actionNum their batch started from: a
   * partition that moved to another instance mid-batch must not have its newer state overwritten. Such documents are
   * left as they are and named in the error thrown, so the batch is read again. One statement (one round trip),
   * after a delete of the cleared tables' rows when there are any, in the same transaction.
   */
  async save(changes: DocChanges[]): Promise<void> {
    if (changes.length === 0) return;
    const cleared = { doc: [] as string[], table: [] as string[] };
    const deletes = { doc: [] as string[], table: [] as string[], row: [] as number[] };
    const upserts: RowUpserts = { keys: [], fields: [] };
    for (const c of changes) {
      for (const table of c.clearedTables) (cleared.doc.push(c.docId), cleared.table.push(table));
      for (const { tableRef, rowId, values } of c.rows.values()) {
        if (values !== null) {
          upserts.keys.push({ doc: c.docId, tab: tableRef, row_id: rowId });
          upserts.fields.push(JSON.stringify(values));
        } else (deletes.doc.push(c.docId), deletes.table.push(tableRef), deletes.row.push(rowId));
      }
    }
    const write = async (q: Queryable): Promise<Array<{ doc_id: string }>> => {
      if (cleared.doc.length > 0) await clearTables(q, changes, cleared);
      return saveRows(q, changes, deletes, upserts);
    };
    const saved = cleared.doc.length > 0 ? await this.sql.transaction(write) : await write(this.sql);
    if (saved.length !== changes.length) {
      const moved = changes.filter((c) => !saved.some((r) => r.doc_id === c.docId)).map((c) => c.docId);
      throw new Error(`document state changed by another matcher meanwhile: ${moved.join(', ')}`);
    }
  }
}

/**
 * Deletes every stored row of the cleared tables, of the documents still at their batch's starting actionNum, whose
 * rows are then locked until the save commits. A statement of its own: in one WITH with the upserts, keeping the
 * rows written again took an anti-join Postgres planned as a nested loop, quadratic in the table's rows (30 s for a
 * ReplaceTableData of 20,000 rows over as many).
 */
async function clearTables(q: Queryable, changes: DocChanges[], cleared: { doc: string[]; table: string[] }): Promise<void> {
  await q.rows(
    `WITH current AS (
       SELECT d.doc_id FROM docs d JOIN unnest($1::text[], $2::bigint[]) AS x(doc, prev)
           ON d.doc_id = x.doc AND d.last_action_num = x.prev
        ORDER BY d.doc_id FOR UPDATE OF d)
     DELETE FROM doc_rows r USING unnest($3::text[], $4::text[]) AS c(doc, tab)
      WHERE r.doc_id = c.doc AND r.table_ref = c.tab AND c.doc IN (SELECT doc_id FROM current)`,
    [changes.map((c) => c.docId), changes.map((c) => c.previousActionNum), cleared.doc, cleared.table],
  );
}

/** The rows a save writes: their keys, and in the same order their values as JSON texts, which Postgres stores as they are. */
interface RowUpserts {
  keys: Array<{ doc: string; tab: string; row_id: number }>;
  fields: string[];
}

/**
 * The conditional update of each document's actionNum and schema, and of its rows, in one statement. Its parts see
 * the same snapshot and must not change the same row twice. A document whose schema is unchanged is only updated: it
 * is stored, and Postgres checks NOT NULL on the row an INSERT proposes before it finds the conflict. The documents
 * and the rows' keys go as JSON documents, which pg sends as they are (arrays, and a jsonb[] array of schemas above
 * all, are escaped element by element), and which keep the statement at a fixed number of bind parameters whatever
 * the number of rows; the rows' values go as their texts, which Postgres does not parse.
 */
function saveRows(
  q: Queryable,
  changes: DocChanges[],
  deletes: { doc: string[]; table: string[]; row: number[] },
  upserts: RowUpserts,
): Promise<Array<{ doc_id: string }>> {
  return q.rows(
    `WITH doc AS (SELECT * FROM json_to_recordset($1::json) AS x(doc text, num bigint, prev bigint, sch jsonb)),
     written AS (
       INSERT INTO docs AS d (doc_id, last_action_num, schema, updated_at)
         SELECT doc, num, sch, now() FROM doc WHERE sch IS NOT NULL
       ON CONFLICT (doc_id) DO UPDATE
         SET last_action_num = EXCLUDED.last_action_num, schema = EXCLUDED.schema, updated_at = now()
         WHERE d.last_action_num = (SELECT prev FROM doc WHERE doc.doc = d.doc_id)
       RETURNING doc_id),
     moved AS (
       UPDATE docs d SET last_action_num = x.num, updated_at = now() FROM doc x
        WHERE x.sch IS NULL AND d.doc_id = x.doc AND d.last_action_num = x.prev
       RETURNING d.doc_id),
     saved AS (SELECT doc_id FROM written UNION ALL SELECT doc_id FROM moved),
     upsert AS (
       SELECT * FROM ROWS FROM (json_to_recordset($5::json) AS (doc text, tab text, row_id int), ${splitJsonTexts('$6')})
           AS u(doc, tab, row_id, fields)
        WHERE u.doc IN (SELECT doc_id FROM saved)),
     deleted AS (
       DELETE FROM doc_rows r USING unnest($2::text[], $3::text[], $4::int[]) AS c(doc, tab, row_id)
        WHERE r.doc_id = c.doc AND r.table_ref = c.tab AND r.row_id = c.row_id AND c.doc IN (SELECT doc_id FROM saved)),
     upserted AS (
       INSERT INTO doc_rows (doc_id, table_ref, row_id, fields) SELECT doc, tab, row_id, fields FROM upsert
       ON CONFLICT (doc_id, table_ref, row_id) DO UPDATE SET fields = EXCLUDED.fields)
     SELECT doc_id FROM saved`,
    [
      JSON.stringify(
        changes.map((c) => ({ doc: c.docId, num: c.lastActionNum, prev: c.previousActionNum, sch: c.schemaChanged ? c.schema : null })),
      ),
      deletes.doc,
      deletes.table,
      deletes.row,
      JSON.stringify(upserts.keys),
      joinJsonTexts(upserts.fields),
    ],
  );
}

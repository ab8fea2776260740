import { DataSource } from 'typeorm';
import { Queryable, Sql } from './sql';
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
  /** Tables whose stored rows all go before `rows` are written. */
  clearedTables: string[];
  /** Final values of each touched row (null = deleted), keyed by `${tableRef}\u0000${rowId}`. */
  rows: Map<string, { tableRef: string; rowId: number; values: StoredRowValues | null }>;
}

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

  /** Rows of several documents: whole tables (`all`) or the listed row ids, in one round trip. */
  async loadRows(
    wanted: Map<string, Map<string, number[] | 'all'>>,
  ): Promise<Map<string, Map<string, Map<number, StoredRowValues>>>> {
    const whole = { doc: [] as string[], table: [] as string[] };
    const some = { doc: [] as string[], table: [] as string[], row: [] as number[] };
    for (const [docId, tables] of wanted) {
      for (const [tableRef, ids] of tables) {
        if (ids === 'all') (whole.doc.push(docId), whole.table.push(tableRef));
        else for (const id of ids) (some.doc.push(docId), some.table.push(tableRef), some.row.push(id));
      }
    }
    const result = new Map<string, Map<string, Map<number, StoredRowValues>>>();
    if (whole.doc.length === 0 && some.doc.length === 0) return result;
    const rows: Array<{ doc_id: string; table_ref: string; row_id: number; fields: StoredRowValues }> = await this.sql.rows(
      `SELECT doc_id, table_ref, row_id, fields FROM doc_rows
        WHERE (doc_id, table_ref) IN (SELECT * FROM unnest($1::text[], $2::text[]))
           OR (doc_id, table_ref, row_id) IN (SELECT * FROM unnest($3::text[], $4::text[], $5::int[]))`,
      [whole.doc, whole.table, some.doc, some.table, some.row],
    );
    for (const r of rows) {
      let doc = result.get(r.doc_id);
      if (!doc) result.set(r.doc_id, (doc = new Map()));
      let table = doc.get(r.table_ref);
      if (!table) doc.set(r.table_ref, (table = new Map()));
      table.set(r.row_id, r.fields);
    }
    return result;
  }

  /** Applies every document's changes in one transaction (batched statements, no per-row round trip). */
  async save(changes: DocChanges[]): Promise<void> {
    if (changes.length === 0) return;
    await this.sql.transaction(async (m: Queryable): Promise<void> => {
      const cleared = changes.flatMap((c) => c.clearedTables.map((t) => [c.docId, t] as const));
      if (cleared.length > 0) {
        await m.rows(
          `DELETE FROM doc_rows WHERE (doc_id, table_ref) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
          [cleared.map((c) => c[0]), cleared.map((c) => c[1])],
        );
      }
      const deletes = { doc: [] as string[], table: [] as string[], row: [] as number[] };
      const upserts = { doc: [] as string[], table: [] as string[], row: [] as number[], values: [] as string[] };
      for (const c of changes) {
        for (const { tableRef, rowId, values } of c.rows.values()) {
          const target = values === null ? deletes : upserts;
          target.doc.push(c.docId);
          target.table.push(tableRef);
          target.row.push(rowId);
          if (values !== null) upserts.values.push(JSON.stringify(values));
        }
      }
      if (deletes.row.length > 0) {
        await m.rows(
          `DELETE FROM doc_rows WHERE (doc_id, table_ref, row_id) IN
             (SELECT * FROM unnest($1::text[], $2::text[], $3::int[]))`,
          [deletes.doc, deletes.table, deletes.row],
        );
      }
      // unnest arrays keep each statement at 4 bind parameters whatever the number of rows
      for (let i = 0; i < upserts.row.length; i += 5000) {
        await m.rows(
          `INSERT INTO doc_rows (doc_id, table_ref, row_id, fields)
             SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::jsonb[])
           ON CONFLICT (doc_id, table_ref, row_id) DO UPDATE SET fields = EXCLUDED.fields`,
          [upserts.doc.slice(i, i + 5000), upserts.table.slice(i, i + 5000), upserts.row.slice(i, i + 5000), upserts.values.slice(i, i + 5000)],
        );
      }
      // only from the actionNum this batch started from: a partition that moved to another instance mid-batch
      // must not have its newer state overwritten (the throw rolls everything back; the batch is read again)
      const saved: Array<{ doc_id: string }> = await m.rows(
        `INSERT INTO docs AS d (doc_id, last_action_num, schema, updated_at)
           SELECT doc, num, sch, now() FROM unnest($1::text[], $2::bigint[], $3::jsonb[]) AS x(doc, num, sch)
         ON CONFLICT (doc_id) DO UPDATE
           SET last_action_num = EXCLUDED.last_action_num, schema = EXCLUDED.schema, updated_at = now()
           WHERE d.last_action_num = (SELECT p FROM unnest($1::text[], $4::bigint[]) AS y(doc, p) WHERE y.doc = d.doc_id)
         RETURNING doc_id`,
        [
          changes.map((c) => c.docId),
          changes.map((c) => c.lastActionNum),
          changes.map((c) => JSON.stringify(c.schema)),
          changes.map((c) => c.previousActionNum),
        ],
      );
      if (saved.length !== changes.length) {
        const moved = changes.filter((c) => !saved.some((r) => r.doc_id === c.docId)).map((c) => c.docId);
        throw new Error(`document state changed by another matcher meanwhile: ${moved.join(', ')}`);
      }
    });
  }
}

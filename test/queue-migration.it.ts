/**
 * The migration from one queue row per payload row to one per payload event, on a database holding queued rows: a
 * queue partly delivered, a batch being tried, and a queue whose batch's rows are gone.
 */
import { DataSource, QueryRunner } from 'typeorm';
import { createDataSource, MIGRATIONS } from '../libs/db/data-source';
import { QueuePerEvent1764430000003 } from '../libs/db/migrations/1764430000003-queue-per-event';
import { createTestDatabase, TestDatabase } from './support/harness';

const [busy, tried, gone] = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];
const migration = new QueuePerEvent1764430000003();

let db: TestDatabase;
let source: DataSource;
let runner: QueryRunner;

beforeAll(async () => {
  db = await createTestDatabase();
  source = createDataSource(db.url, { poolSize: 1 });
  await source.initialize();
  runner = source.createQueryRunner();
  for (const Migration of MIGRATIONS.slice(0, MIGRATIONS.indexOf(QueuePerEvent1764430000003))) await new Migration().up(runner);
  for (const id of [busy, tried, gone]) {
    await runner.query(
      `INSERT INTO webhooks (id, doc_id, url, event_types, unsubscribe_key, active_since) VALUES ($1, 'doc', 'http://example.com/', '{add}', 'k', 0)`,
      [id],
    );
  }
  // busy: rows 1-2 of event e1 delivered (seq 1-2 gone), its row 3 and event e2 waiting
  // tried: a batch ending at the 2nd row of e3 is being tried; gone: a batch whose rows were cleared
  await runner.query(`
    INSERT INTO webhook_delivery (webhook_id, num_waiting, delivered_seq, batch_id, batch_last_seq) VALUES
      ('${busy}', 3, 2, NULL, NULL),
      ('${tried}', 3, 0, 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 5),
      ('${gone}', 0, 0, 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 99);
    INSERT INTO webhook_queue (seq, webhook_id, event_id, action_num, bundle_time, row_event) VALUES
      (3, '${busy}', 'e1', 1, 100, '{"tableId": "T", "row": {"id": 3}}'),
      (4, '${tried}', 'e3', 7, 300, '{"tableId": "U", "row": {"id": 1}}'),
      (5, '${tried}', 'e3', 7, 300, '{"tableId": "U", "row": {"id": 2}}'),
      (6, '${busy}', 'e2', 2, 200, '{"tableId": "T", "row": {"id": 4}}'),
      (7, '${busy}', 'e2', 2, 200, '{"tableId": "T", "row": {"id": 5}}'),
      (8, '${tried}', 'e3', 7, 300, '{"tableId": "U", "row": {"id": 3}}');
    SELECT setval('webhook_queue_seq_seq', 8);
  `);
});

afterAll(async () => {
  await runner.release();
  await source.destroy();
  await db.drop();
});

const events = (): Promise<unknown[]> =>
  db.query('SELECT webhook_id, seq::int, event_id, action_num::int, bundle_time::int, table_id, num_rows, payload_rows FROM webhook_queue ORDER BY seq');
const batches = (): Promise<unknown[]> =>
  db.query('SELECT webhook_id, batch_id, batch_last_seq::int, batch_end_offset, head_offset, delivered_seq::int FROM webhook_delivery ORDER BY webhook_id');

describe('queue per event migration', () => {
  it('regroups waiting rows by event, keeps every position, and the sequence goes on', async () => {
    await migration.up(runner);
    expect(await events()).toEqual([
      { webhook_id: busy, seq: 3, event_id: 'e1', action_num: 1, bundle_time: 100, table_id: 'T', num_rows: 1, payload_rows: [{ id: 3 }] },
      { webhook_id: tried, seq: 4, event_id: 'e3', action_num: 7, bundle_time: 300, table_id: 'U', num_rows: 3, payload_rows: [{ id: 1 }, { id: 2 }, { id: 3 }] },
      { webhook_id: busy, seq: 6, event_id: 'e2', action_num: 2, bundle_time: 200, table_id: 'T', num_rows: 2, payload_rows: [{ id: 4 }, { id: 5 }] },
    ]);
    expect(await batches()).toEqual([
      { webhook_id: busy, batch_id: null, batch_last_seq: null, batch_end_offset: null, head_offset: 0, delivered_seq: 2 },
      { webhook_id: tried, batch_id: 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', batch_last_seq: 4, batch_end_offset: 2, head_offset: 0, delivered_seq: 0 },
      { webhook_id: gone, batch_id: null, batch_last_seq: null, batch_end_offset: null, head_offset: 0, delivered_seq: 0 },
    ]);
    const [{ next }] = await db.query<{ next: string }>("SELECT nextval('webhook_queue_seq_seq') AS next");
    expect(Number(next)).toBe(9);
  });

  it('goes back to one row per payload row, leaving out the rows already delivered', async () => {
    await db.query(`UPDATE webhook_delivery SET head_offset = 1, delivered_seq = 3 WHERE webhook_id = '${tried}'`);
    await migration.down(runner);
    const rows = await db.query<{ webhook_id: string; event_id: string; row_event: unknown }>(
      'SELECT webhook_id, event_id, row_event FROM webhook_queue ORDER BY seq',
    );
    expect(rows).toEqual([
      { webhook_id: busy, event_id: 'e1', row_event: { tableId: 'T', row: { id: 3 } } },
      { webhook_id: tried, event_id: 'e3', row_event: { tableId: 'U', row: { id: 2 } } },
      { webhook_id: tried, event_id: 'e3', row_event: { tableId: 'U', row: { id: 3 } } },
      { webhook_id: busy, event_id: 'e2', row_event: { tableId: 'T', row: { id: 4 } } },
      { webhook_id: busy, event_id: 'e2', row_event: { tableId: 'T', row: { id: 5 } } },
    ]);
  });
});

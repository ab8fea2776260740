/**
 * The migrations that keep queued events and document rows as text, on a database holding both: what was stored
 * before is read as before, and going back restores it as it was.
 */
import { DataSource, QueryRunner } from 'typeorm';
import { createDataSource, MIGRATIONS } from '../libs/db/data-source';
import { DeliveryRepository } from '../libs/db/delivery.repository';
import { DocStateRepository } from '../libs/db/doc-state.repository';
import { QueueEventText1764430000005 } from '../libs/db/migrations/1764430000005-queue-event-text';
import { DocRowsText1764430000006 } from '../libs/db/migrations/1764430000006-doc-rows-text';
import { createTestDatabase, TestDatabase } from './support/harness';

const webhookId = '11111111-1111-4111-8111-111111111111';
const [queueMigration, rowsMigration] = [new QueueEventText1764430000005(), new DocRowsText1764430000006()];
const row = (id: number, Item: string) => ({ type: 'add', id, fields: { Item }, previous: {}, changedColIds: [] });
const firstRows = [row(1, 'tea'), row(2, 'été 😀')];
const secondRows = [row(3, 'quote " and \\u0001')];
const docValues = { Item: 'été 😀', Qty: 2, Tags: ['L', 'a'], Note: null };

let db: TestDatabase;
let source: DataSource;
let runner: QueryRunner;

beforeAll(async () => {
  db = await createTestDatabase();
  source = createDataSource(db.url, { poolSize: 2 });
  await source.initialize();
  runner = source.createQueryRunner();
  for (const Migration of MIGRATIONS.slice(0, MIGRATIONS.indexOf(QueueEventText1764430000005))) await new Migration().up(runner);
  await runner.query(
    `INSERT INTO webhooks (id, doc_id, url, event_types, unsubscribe_key, active_since) VALUES ($1, 'doc', 'http://example.com/', '{add}', 'k', 0)`,
    [webhookId],
  );
  await runner.query('INSERT INTO webhook_delivery (webhook_id, num_waiting) VALUES ($1, 3)', [webhookId]);
  await runner.query(
    `INSERT INTO webhook_queue (webhook_id, event_id, action_num, bundle_time, table_id, num_rows, payload_rows) VALUES
       ($1, 'e1', 7, 100, 'Orders', 2, $2), ($1, 'e2', 8, 200, 'Orders', 1, $3)`,
    [webhookId, JSON.stringify(firstRows), JSON.stringify(secondRows)],
  );
  await runner.query(`INSERT INTO docs (doc_id, last_action_num, schema) VALUES ('doc', 4, '{}')`);
  await runner.query(`INSERT INTO doc_rows (doc_id, table_ref, row_id, fields) VALUES ('doc', 't1', 5, $1)`, [JSON.stringify(docValues)]);
});

afterAll(async () => {
  await runner.release();
  await source.destroy();
  await db.drop();
});

describe('text columns migrations', () => {
  it('keep what waited: the head batch holds the same rows, with their events', async () => {
    await queueMigration.up(runner);
    const head = await new DeliveryRepository(source).loadHead(webhookId, 100);
    expect(head!.batch!.rows.map(({ actionNum, bundleTime, tableId, row }) => ({ actionNum, bundleTime, tableId, row }))).toEqual([
      { actionNum: 7, bundleTime: 100, tableId: 'Orders', row: firstRows[0] },
      { actionNum: 7, bundleTime: 100, tableId: 'Orders', row: firstRows[1] },
      { actionNum: 8, bundleTime: 200, tableId: 'Orders', row: secondRows[0] },
    ]);
  });

  it("keep each document's rows", async () => {
    await rowsMigration.up(runner);
    const { rows } = await new DocStateRepository(source).loadRows(new Map([['doc', new Map([['t1', [5]]])]]), new Map([['doc', 4]]));
    expect(rows.get('doc')?.get('t1')?.get(5)).toEqual(docValues);
  });

  it('go back to what was stored before', async () => {
    await rowsMigration.down(runner);
    await queueMigration.down(runner);
    const queued = await db.query<{ payload_rows: unknown }>('SELECT payload_rows FROM webhook_queue ORDER BY seq');
    expect(queued.map((q) => q.payload_rows)).toEqual([firstRows, secondRows]);
    expect(await db.query('SELECT fields FROM doc_rows')).toEqual([{ fields: docValues }]);
  });
});

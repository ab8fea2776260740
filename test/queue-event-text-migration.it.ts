/**
 * The migration that keeps each queued event as text, on a database holding queued events: what waited before it is
 * read and delivered as before, and going back restores the rows as they were.
 */
import { DataSource, QueryRunner } from 'typeorm';
import { createDataSource, MIGRATIONS } from '../libs/db/data-source';
import { DeliveryRepository } from '../libs/db/delivery.repository';
import { QueueEventText1764430000005 } from '../libs/db/migrations/1764430000005-queue-event-text';
import { createTestDatabase, TestDatabase } from './support/harness';

const webhookId = '11111111-1111-4111-8111-111111111111';
const migration = new QueueEventText1764430000005();
const row = (id: number, Item: string) => ({ type: 'add', id, fields: { Item }, previous: {}, changedColIds: [] });
const firstRows = [row(1, 'tea'), row(2, 'été 😀')];
const secondRows = [row(3, 'quote " and \\u0001')];

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
});

afterAll(async () => {
  await runner.release();
  await source.destroy();
  await db.drop();
});

describe('queue event text migration', () => {
  it('keeps what waited: the head batch holds the same rows, with their events', async () => {
    await migration.up(runner);
    const head = await new DeliveryRepository(source).loadHead(webhookId, 100);
    expect(head!.batch!.rows.map(({ actionNum, bundleTime, tableId, row }) => ({ actionNum, bundleTime, tableId, row }))).toEqual([
      { actionNum: 7, bundleTime: 100, tableId: 'Orders', row: firstRows[0] },
      { actionNum: 7, bundleTime: 100, tableId: 'Orders', row: firstRows[1] },
      { actionNum: 8, bundleTime: 200, tableId: 'Orders', row: secondRows[0] },
    ]);
  });

  it('goes back to the rows as they were', async () => {
    await migration.down(runner);
    const queued = await db.query<{ payload_rows: unknown }>('SELECT payload_rows FROM webhook_queue ORDER BY seq');
    expect(queued.map((q) => q.payload_rows)).toEqual([firstRows, secondRows]);
  });
});

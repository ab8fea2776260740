import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Queue rows keyed by (webhook_id, seq), the only way they are ever read or deleted. The separate primary key on
 * seq was a second index written for every row queued and every row delivered.
 */
export class QueuePrimaryKey1764430000002 implements MigrationInterface {
  name = 'QueuePrimaryKey1764430000002';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE webhook_queue DROP CONSTRAINT webhook_queue_pkey;
      DROP INDEX webhook_queue_webhook_seq;
      ALTER TABLE webhook_queue ADD PRIMARY KEY (webhook_id, seq);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE webhook_queue DROP CONSTRAINT webhook_queue_pkey;
      ALTER TABLE webhook_queue ADD PRIMARY KEY (seq);
      CREATE INDEX webhook_queue_webhook_seq ON webhook_queue (webhook_id, seq);
    `);
  }
}

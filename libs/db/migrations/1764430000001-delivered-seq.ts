import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The last delivered position of each queue. Reads of the head start after it, so they never walk the index
 * entries of rows just deleted (dead until vacuum), which made every read slower as a queue drained.
 */
export class DeliveredSeq1764430000001 implements MigrationInterface {
  name = 'DeliveredSeq1764430000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE webhook_delivery ADD COLUMN delivered_seq bigint NOT NULL DEFAULT 0');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE webhook_delivery DROP COLUMN delivered_seq');
  }
}

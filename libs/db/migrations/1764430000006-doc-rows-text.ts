import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Row values as text rather than json: the matcher serialises each row's values itself and parses them when it reads
 * them, so Postgres need not validate them on the way in. The save sent every row's values inside one JSON document
 * that Postgres took apart (json_to_recordset) and checked again as json.
 */
export class DocRowsText1764430000006 implements MigrationInterface {
  name = 'DocRowsText1764430000006';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE doc_rows ALTER COLUMN fields TYPE text');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE doc_rows ALTER COLUMN fields TYPE json USING fields::json');
  }
}

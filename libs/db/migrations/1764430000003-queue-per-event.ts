import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One queue entry per payload event instead of one per row: intake writes one tuple per event and stores the event's
 * rows as the JSON text it came with, and a delivered batch deletes a few tuples, not one per row. A batch can end
 * inside an event: `head_offset` counts the rows of the first waiting event already delivered, `batch_end_offset`
 * where the batch being tried ends in its last event (`batch_last_seq`).
 *
 * Rows already queued are regrouped by event; an event's seq is that of its first row still waiting, so every
 * position stored (delivered_seq, the batch being tried) keeps its meaning. The sequence carries on.
 */
export class QueuePerEvent1764430000003 implements MigrationInterface {
  name = 'QueuePerEvent1764430000003';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE webhook_queue RENAME TO webhook_queue_rows;
      ALTER TABLE webhook_queue_rows RENAME CONSTRAINT webhook_queue_pkey TO webhook_queue_rows_pkey;
      CREATE TABLE webhook_queue (
        webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        seq bigint NOT NULL DEFAULT nextval('webhook_queue_seq_seq'),
        event_id text NOT NULL,
        action_num bigint NOT NULL,
        bundle_time bigint NOT NULL,
        table_id text NOT NULL,
        num_rows integer NOT NULL,
        -- json, not jsonb: stored and read back as the text the event came with, never taken apart by Postgres
        payload_rows json NOT NULL,
        PRIMARY KEY (webhook_id, seq)
      ) WITH (toast_tuple_target = 8160);
      ALTER SEQUENCE webhook_queue_seq_seq OWNED BY webhook_queue.seq;
      ALTER TABLE webhook_delivery ADD COLUMN head_offset integer NOT NULL DEFAULT 0, ADD COLUMN batch_end_offset integer;

      INSERT INTO webhook_queue (webhook_id, seq, event_id, action_num, bundle_time, table_id, num_rows, payload_rows)
      SELECT webhook_id, min(seq), event_id, min(action_num), min(bundle_time), min(row_event->>'tableId'), count(*),
             json_agg(row_event->'row' ORDER BY seq)
        FROM webhook_queue_rows GROUP BY webhook_id, event_id;
      UPDATE webhook_delivery d SET batch_last_seq = b.event_seq, batch_end_offset = b.end_offset
        FROM (SELECT d.webhook_id, min(r.seq) AS event_seq, count(*) FILTER (WHERE r.seq <= d.batch_last_seq) AS end_offset
                FROM webhook_delivery d
                JOIN webhook_queue_rows last ON last.webhook_id = d.webhook_id AND last.seq = d.batch_last_seq
                JOIN webhook_queue_rows r ON r.webhook_id = d.webhook_id AND r.event_id = last.event_id
               GROUP BY d.webhook_id) b
       WHERE d.webhook_id = b.webhook_id;
      -- a batch whose last row is gone cannot be told apart any more: it goes again as a new batch
      UPDATE webhook_delivery SET batch_last_seq = NULL, batch_id = NULL WHERE batch_last_seq IS NOT NULL AND batch_end_offset IS NULL;
      DROP TABLE webhook_queue_rows;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE webhook_queue RENAME TO webhook_queue_events;
      ALTER TABLE webhook_queue_events RENAME CONSTRAINT webhook_queue_pkey TO webhook_queue_events_pkey;
      CREATE TABLE webhook_queue (
        seq bigint NOT NULL DEFAULT nextval('webhook_queue_seq_seq'),
        webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        event_id text NOT NULL,
        action_num bigint NOT NULL,
        bundle_time bigint NOT NULL,
        row_event jsonb NOT NULL,
        PRIMARY KEY (webhook_id, seq)
      );
      ALTER SEQUENCE webhook_queue_seq_seq OWNED BY webhook_queue.seq;
      -- rows get new positions after every stored one; the rows of the first event already delivered are left out
      INSERT INTO webhook_queue (webhook_id, event_id, action_num, bundle_time, row_event)
      SELECT e.webhook_id, e.event_id, e.action_num, e.bundle_time, jsonb_build_object('tableId', e.table_id, 'row', r)
        FROM webhook_queue_events e JOIN webhook_delivery d ON d.webhook_id = e.webhook_id,
             json_array_elements(e.payload_rows) WITH ORDINALITY AS er(r, j)
       WHERE j > d.head_offset OR e.seq > (SELECT min(seq) FROM webhook_queue_events f WHERE f.webhook_id = e.webhook_id)
       ORDER BY e.seq, er.j;
      UPDATE webhook_delivery SET batch_last_seq = NULL, batch_id = NULL WHERE batch_last_seq IS NOT NULL;
      DROP TABLE webhook_queue_events;
      ALTER TABLE webhook_delivery DROP COLUMN head_offset, DROP COLUMN batch_end_offset;
    `);
  }
}

import { MigrationInterface, QueryRunner } from 'typeorm';

/** Webhook config, document state kept by the matcher, per-webhook queues and status kept by the dispatcher. */
export class InitialSchema1764430000000 implements MigrationInterface {
  name = 'InitialSchema1764430000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE docs (
        doc_id text PRIMARY KEY,
        last_action_num bigint NOT NULL,
        schema jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      -- row values keyed by column ref (stable internal id), so renames never rewrite rows
      CREATE TABLE doc_rows (
        doc_id text NOT NULL,
        table_ref text NOT NULL,
        row_id integer NOT NULL,
        fields jsonb NOT NULL,
        PRIMARY KEY (doc_id, table_ref, row_id)
      );
      CREATE TABLE webhooks (
        id uuid PRIMARY KEY,
        doc_id text NOT NULL,
        table_ref text,
        url text NOT NULL,
        event_types text[] NOT NULL,
        name text NOT NULL DEFAULT '',
        memo text NOT NULL DEFAULT '',
        ready_col_ref text,
        watched_col_refs text[] NOT NULL DEFAULT '{}',
        enabled boolean NOT NULL DEFAULT true,
        "authorization" text NOT NULL DEFAULT '',
        unsubscribe_key text NOT NULL,
        payload_format text NOT NULL DEFAULT 'grist',
        active_since bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX webhooks_doc_id ON webhooks (doc_id);
      -- bumped by every webhook change, so matchers notice changes with one cheap poll
      CREATE TABLE config_version (id int PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
      INSERT INTO config_version VALUES (1, 0);
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY,
        key_hash text NOT NULL UNIQUE,
        doc_ids text[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      -- payload events already stored, so a re-processed bundle is not queued twice
      CREATE TABLE received_events (
        event_id text PRIMARY KEY,
        webhook_id uuid NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX received_events_received_at ON received_events (received_at);
      CREATE TABLE webhook_queue (
        seq bigserial PRIMARY KEY,
        webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        event_id text NOT NULL,
        action_num bigint NOT NULL,
        bundle_time bigint NOT NULL,
        row_event jsonb NOT NULL
      );
      CREATE INDEX webhook_queue_webhook_seq ON webhook_queue (webhook_id, seq);
      CREATE TABLE webhook_delivery (
        webhook_id uuid PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
        num_waiting integer NOT NULL DEFAULT 0,
        status text NOT NULL DEFAULT 'idle',
        updated_time bigint,
        last_success_time bigint,
        last_failure_time bigint,
        last_error_message text,
        last_http_status integer,
        last_event_batch jsonb,
        batch_attempts integer NOT NULL DEFAULT 0,
        batch_id uuid,
        batch_last_seq bigint,
        next_attempt_at bigint NOT NULL DEFAULT 0,
        generation integer NOT NULL DEFAULT 0,
        lease_owner text,
        lease_until bigint NOT NULL DEFAULT 0
      );
      CREATE INDEX webhook_delivery_due ON webhook_delivery (next_attempt_at) WHERE num_waiting > 0;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE webhook_delivery; DROP TABLE webhook_queue; DROP TABLE received_events; DROP TABLE api_keys;
      DROP TABLE config_version; DROP TABLE webhooks; DROP TABLE doc_rows; DROP TABLE docs;
    `);
  }
}

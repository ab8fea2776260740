import { DataSource } from 'typeorm';
import { Queryable, Sql } from './sql';
import { EventType, PayloadFormat } from '../domain';
import type { NewWebhook, StoredWebhook } from '../webhook-api/types';

interface WebhookRow {
  id: string;
  doc_id: string;
  table_ref: string | null;
  url: string;
  event_types: string[];
  name: string;
  memo: string;
  ready_col_ref: string | null;
  watched_col_refs: string[];
  enabled: boolean;
  authorization: string;
  unsubscribe_key: string;
  payload_format: string;
  active_since: string;
}

const COLUMNS = `id, doc_id, table_ref, url, event_types, name, memo, ready_col_ref, watched_col_refs, enabled,
  "authorization", unsubscribe_key, payload_format, active_since`;

const toWebhook = (r: WebhookRow): StoredWebhook => ({
  id: r.id,
  docId: r.doc_id,
  tableRef: r.table_ref,
  url: r.url,
  eventTypes: r.event_types as EventType[],
  name: r.name,
  memo: r.memo,
  readyColRef: r.ready_col_ref,
  watchedColRefs: r.watched_col_refs,
  enabled: r.enabled,
  authorization: r.authorization,
  unsubscribeKey: r.unsubscribe_key,
  payloadFormat: r.payload_format as PayloadFormat,
  activeSince: Number(r.active_since),
});

const values = (w: StoredWebhook): unknown[] => [
  w.id, w.docId, w.tableRef, w.url, w.eventTypes, w.name, w.memo, w.readyColRef, w.watchedColRefs, w.enabled,
  w.authorization, w.unsubscribeKey, w.payloadFormat, w.activeSince,
];

/**
 * Webhook configuration. Every change bumps `config_version` in its transaction: matchers see the change, and the
 * row lock it holds until commit orders it against their polls (configVersion). It is the last lock a change takes
 * before writing (the first of a creation, which touches no existing row), so polls wait on no purge of a queue.
 */
/** The config version, read as configVersion() explains. */
export const CONFIG_VERSION = 'SELECT version FROM config_version FOR SHARE';

export class WebhookRepository {
  private readonly sql: Sql;

  constructor(db: DataSource) {
    this.sql = new Sql(db);
  }

  /**
   * Waits for a change in progress (FOR SHARE against its lock), so a poll that starts after a webhook's activeSince
   * sees that webhook: activeSince is stamped under the lock (insert, update), never before it.
   */
  async configVersion(): Promise<number> {
    const rows: Array<{ version: string }> = await this.sql.rows(CONFIG_VERSION);
    return Number(rows[0].version);
  }

  async listAll(): Promise<StoredWebhook[]> {
    const rows: WebhookRow[] = await this.sql.rows(`SELECT ${COLUMNS} FROM webhooks`);
    return rows.map(toWebhook);
  }

  async listByDoc(docId: string): Promise<StoredWebhook[]> {
    const rows: WebhookRow[] = await this.sql.rows(
      `SELECT ${COLUMNS} FROM webhooks WHERE doc_id = $1 ORDER BY created_at, id`,
      [docId],
    );
    return rows.map(toWebhook);
  }

  async get(docId: string, id: string): Promise<StoredWebhook | null> {
    const rows: WebhookRow[] = await this.sql.rows(`SELECT ${COLUMNS} FROM webhooks WHERE doc_id = $1 AND id = $2`, [docId, id]);
    return rows.length > 0 ? toWebhook(rows[0]) : null;
  }

  /** Creates webhooks, active from now: a time read once this transaction holds the config_version lock. */
  async insert(webhooks: NewWebhook[]): Promise<void> {
    await this.sql.transaction(async (m) => {
      await bumpVersion(m);
      const activeSince = Date.now();
      for (const w of webhooks.map((w) => ({ ...w, activeSince }))) {
        await m.rows(
          // clock_timestamp(), not now(): webhooks created by one request keep their order in listByDoc
          `INSERT INTO webhooks (${COLUMNS}, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, clock_timestamp())`,
          values(w),
        );
        await m.rows('INSERT INTO webhook_delivery (webhook_id) VALUES ($1)', [w.id]);
      }
    });
  }

  /**
   * Changes a webhook under its row lock, so concurrent PATCHes apply one after the other instead of the last
   * overwriting the first. `change` (pure; it may throw to refuse) gets the webhook as committed and the time, and
   * returns the next webhook, with `emptyQueue` to also drop its queued rows and reset its usage (disable). A new
   * URL or authorization makes a batch waiting for its retry due at once. False when the webhook is gone.
   */
  async update(
    docId: string,
    id: string,
    change: (current: StoredWebhook, now: number) => { next: StoredWebhook; emptyQueue: boolean },
  ): Promise<boolean> {
    return this.sql.transaction(async (m) => {
      const rows: WebhookRow[] = await m.rows(`SELECT ${COLUMNS} FROM webhooks WHERE doc_id = $1 AND id = $2 FOR UPDATE`, [docId, id]);
      if (rows.length === 0) return false;
      const current = toWebhook(rows[0]);
      // What happens to the queue does not depend on the time, so it is done before the config_version lock.
      const planned = change(current, Date.now());
      if (planned.emptyQueue) await clearQueues(m, [id]);
      else if (planned.next.url !== current.url || planned.next.authorization !== current.authorization) {
        await m.rows('UPDATE webhook_delivery SET next_attempt_at = 0 WHERE webhook_id = $1 AND num_waiting > 0', [id]);
      }
      await bumpVersion(m);
      // read under the lock: a re-enabled webhook's activeSince
      const { next } = change(current, Date.now());
      await m.rows(
        `UPDATE webhooks SET doc_id = $2, table_ref = $3, url = $4, event_types = $5, name = $6, memo = $7,
           ready_col_ref = $8, watched_col_refs = $9, enabled = $10, "authorization" = $11, unsubscribe_key = $12,
           payload_format = $13, active_since = $14
         WHERE id = $1`,
        values(next),
      );
      return true;
    });
  }

  async delete(docId: string, id: string): Promise<boolean> {
    return this.sql.transaction(async (m) => {
      const deleted = await m.rows('DELETE FROM webhooks WHERE doc_id = $1 AND id = $2 RETURNING id', [docId, id]);
      if (deleted.length > 0) await bumpVersion(m);
      return deleted.length > 0;
    });
  }

  /**
   * Empties the queues of the given webhooks of a document (all of them when `id` is null), and makes them active
   * from now: events of older bundles still on their way (a lagging matcher, events not yet queued) are dropped
   * too, so a cleared queue does not fill again with what was pending when it was cleared.
   */
  async clearQueues(docId: string, id: string | null): Promise<void> {
    await this.sql.transaction(async (m) => {
      // webhook rows first, then their queues, then the version: the order every change takes its locks in
      const rows: Array<{ id: string }> = await m.rows(
        'SELECT id FROM webhooks WHERE doc_id = $1 AND ($2::uuid IS NULL OR id = $2::uuid) ORDER BY id FOR UPDATE',
        [docId, id],
      );
      const ids = rows.map((r) => r.id);
      if (ids.length === 0) return;
      await clearQueues(m, ids);
      await bumpVersion(m);
      await m.rows('UPDATE webhooks SET active_since = GREATEST(active_since, $2) WHERE id = ANY($1)', [ids, Date.now()]);
    });
  }
}

const bumpVersion = (m: Queryable): Promise<unknown> => m.rows('UPDATE config_version SET version = version + 1');

/**
 * Drops queued rows and resets usage to idle, every time unknown again (SPEC section 5: a cleared or disabled
 * webhook shows only status and numWaiting). The generation bump tells the dispatcher to abandon an in-flight
 * request and makes its late result a no-op.
 */
async function clearQueues(m: Queryable, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  // rows locked in id order, as intake does, so the two never deadlock
  await m.rows('SELECT 1 FROM webhook_delivery WHERE webhook_id = ANY($1) ORDER BY webhook_id FOR UPDATE', [ids]);
  await m.rows(
    `UPDATE webhook_delivery SET num_waiting = 0, status = 'idle', updated_time = NULL, last_success_time = NULL,
       last_failure_time = NULL, last_error_message = NULL, last_http_status = NULL, last_event_batch = NULL,
       batch_attempts = 0, batch_id = NULL, batch_last_seq = NULL, batch_end_offset = NULL, head_offset = 0, next_attempt_at = 0,
       generation = generation + 1
     WHERE webhook_id = ANY($1)`,
    [ids],
  );
  await m.rows('DELETE FROM webhook_queue WHERE webhook_id = ANY($1)', [ids]);
}

import { DataSource } from 'typeorm';
import { Sql } from './sql';
import { EventBatchUsage, PayloadEvent, PayloadFormat, PayloadRow, WebhookStatus } from '../domain';
import { DeliveryStatus } from '../delivery/usage';

/** A queued row event, with what the envelope format needs besides the row. */
export interface QueuedRow {
  seq: number;
  actionNum: number;
  bundleTime: number;
  tableId: string;
  row: PayloadRow;
}

/** The delivery state of one webhook: its usage plus what keeps retries of the head batch stable. */
export interface DeliveryState {
  status: DeliveryStatus;
  batchId: string | null;
  batchLastSeq: number | null;
  nextAttemptAt: number;
  generation: number;
}

export interface DeliveryTarget {
  webhookId: string;
  docId: string;
  url: string;
  authorization: string;
  payloadFormat: PayloadFormat;
  enabled: boolean;
}

export interface HeadBatch {
  target: DeliveryTarget;
  state: DeliveryState;
  rows: QueuedRow[];
}

export interface IntakeResult {
  queuedEvents: number;
  queuedRows: number;
  duplicates: number;
  /** Events for webhooks deleted, disabled, or (re-)enabled after the bundle: dropped on purpose. */
  dropped: number;
}

interface DeliveryRow {
  num_waiting: number;
  status: WebhookStatus;
  updated_time: string | null;
  last_success_time: string | null;
  last_failure_time: string | null;
  last_error_message: string | null;
  last_http_status: number | null;
  last_event_batch: EventBatchUsage | null;
  batch_attempts: number;
  batch_id: string | null;
  batch_last_seq: string | null;
  next_attempt_at: string;
  generation: number;
}

const time = (v: string | null): number | null => (v === null ? null : Number(v));

export const toDeliveryState = (r: DeliveryRow): DeliveryState => ({
  status: {
    numWaiting: r.num_waiting,
    status: r.status,
    updatedTime: time(r.updated_time),
    lastSuccessTime: time(r.last_success_time),
    lastFailureTime: time(r.last_failure_time),
    lastErrorMessage: r.last_error_message,
    lastHttpStatus: r.last_http_status,
    lastEventBatch: r.last_event_batch,
    batchAttempts: r.batch_attempts,
  },
  batchId: r.batch_id,
  batchLastSeq: time(r.batch_last_seq),
  nextAttemptAt: Number(r.next_attempt_at),
  generation: r.generation,
});

/** Usage columns as $3..$10 (the status itself is $3, set by each statement: success decides it in SQL). */
const USAGE_SET = `updated_time = $4, last_success_time = $5, last_failure_time = $6,
  last_error_message = $7, last_http_status = $8, last_event_batch = $9, batch_attempts = $10`;
const usageParams = (s: DeliveryStatus): unknown[] => [
  s.status, s.updatedTime, s.lastSuccessTime, s.lastFailureTime, s.lastErrorMessage, s.lastHttpStatus,
  s.lastEventBatch === null ? null : JSON.stringify(s.lastEventBatch), s.batchAttempts,
];

/**
 * Per-webhook durable FIFO queues and delivery state (SPEC sections 4 and 5). Every statement that changes a
 * webhook's state after a request is conditional on its `generation`, which clearing, disabling and deleting bump:
 * a late answer to an abandoned request changes nothing.
 */
export class DeliveryRepository {
  private readonly sql: Sql;

  constructor(db: DataSource) {
    this.sql = new Sql(db);
  }

  /**
   * Stores payload events in one transaction: drops duplicates by eventId and events a webhook must not get,
   * appends rows in order, and counts them into numWaiting.
   */
  async storeEvents(events: PayloadEvent[]): Promise<IntakeResult> {
    const result: IntakeResult = { queuedEvents: 0, queuedRows: 0, duplicates: 0, dropped: 0 };
    const unique = [...new Map(events.map((e) => [e.eventId, e])).values()];
    result.duplicates = events.length - unique.length;
    if (unique.length === 0) return result;
    await this.sql.transaction(async (m) => {
      // KEY SHARE: a webhook cannot be deleted under us; its enabled flag and activeSince are read as of now
      const hooks: Array<{ id: string; enabled: boolean; active_since: string }> = await m.rows(
        'SELECT id, enabled, active_since FROM webhooks WHERE id = ANY($1) ORDER BY id FOR KEY SHARE',
        [[...new Set(unique.map((e) => e.webhookId))]],
      );
      const live = new Map(hooks.map((h) => [h.id, h]));
      const wanted = unique.filter((e) => {
        const hook = live.get(e.webhookId);
        return hook !== undefined && hook.enabled && e.bundleTime >= Number(hook.active_since);
      });
      result.dropped = unique.length - wanted.length;
      if (wanted.length === 0) return;
      const inserted: Array<{ event_id: string }> = await m.rows(
        `INSERT INTO received_events (event_id, webhook_id) SELECT * FROM unnest($1::text[], $2::uuid[])
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
        [wanted.map((e) => e.eventId), wanted.map((e) => e.webhookId)],
      );
      const fresh = new Set(inserted.map((r) => r.event_id));
      const queued = wanted.filter((e) => fresh.has(e.eventId));
      result.duplicates += wanted.length - queued.length;
      // one JSON document rather than parallel arrays: Postgres parses it far faster than array literals of JSON
      const entries: string[] = [];
      const counts = new Map<string, number>();
      for (const e of queued) {
        for (const row of e.rows) {
          entries.push(JSON.stringify({ w: e.webhookId, e: e.eventId, n: e.actionNum, t: e.bundleTime, r: { tableId: e.tableId, row } }));
        }
        counts.set(e.webhookId, (counts.get(e.webhookId) ?? 0) + e.rows.length);
      }
      // ORDER BY ordinality: seq follows the order of the topic, which is each webhook's FIFO order
      await m.rows(
        `INSERT INTO webhook_queue (webhook_id, event_id, action_num, bundle_time, row_event)
           SELECT (x->>'w')::uuid, x->>'e', (x->>'n')::bigint, (x->>'t')::bigint, x->'r'
             FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS q(x, i) ORDER BY i`,
        [`[${entries.join(',')}]`],
      );
      // rows locked in id order, as clearing does, so the two never deadlock
      await m.rows('SELECT 1 FROM webhook_delivery WHERE webhook_id = ANY($1) ORDER BY webhook_id FOR UPDATE', [[...counts.keys()]]);
      await m.rows(
        `UPDATE webhook_delivery d SET num_waiting = d.num_waiting + x.n
           FROM unnest($1::uuid[], $2::int[]) AS x(id, n) WHERE d.webhook_id = x.id`,
        [[...counts.keys()], [...counts.values()]],
      );
      result.queuedEvents = queued.length;
      result.queuedRows = entries.length;
    });
    return result;
  }

  /** Leases up to `limit` webhooks that have rows waiting, are due, and are leased by nobody. */
  async claimDue(owner: string, now: number, leaseMs: number, exclude: string[], limit: number): Promise<string[]> {
    const rows = await this.sql.rows<{ webhook_id: string }>(`UPDATE webhook_delivery SET lease_owner = $1, lease_until = $2
        WHERE webhook_id IN (
          SELECT webhook_id FROM webhook_delivery
           WHERE num_waiting > 0 AND next_attempt_at <= $3 AND lease_until < $3 AND NOT (webhook_id = ANY($4))
           ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED)
        RETURNING webhook_id`,
      [owner, now + leaseMs, now, exclude, limit],
    );
    return rows.map((r) => r.webhook_id);
  }

  async renewLeases(owner: string, ids: string[], until: number): Promise<void> {
    if (ids.length === 0) return;
    await this.sql.rows('UPDATE webhook_delivery SET lease_until = $3 WHERE lease_owner = $1 AND webhook_id = ANY($2)', [owner, ids, until]);
  }

  async releaseLease(owner: string, id: string): Promise<void> {
    await this.sql.rows(
      'UPDATE webhook_delivery SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = $1 AND webhook_id = $2',
      [owner, id],
    );
  }

  /** Current generation of each webhook still there (a missing id was deleted). */
  async generations(ids: string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const rows: Array<{ webhook_id: string; generation: number }> = await this.sql.rows(
      'SELECT webhook_id, generation FROM webhook_delivery WHERE webhook_id = ANY($1)',
      [ids],
    );
    return new Map(rows.map((r) => [r.webhook_id, r.generation]));
  }

  /** The webhook, its state and the batch at the head of its queue (the same rows on every retry), in one trip. */
  async loadHead(webhookId: string, batchSize: number): Promise<HeadBatch | null> {
    type Head = DeliveryRow & {
      doc_id: string;
      url: string;
      authorization: string;
      payload_format: PayloadFormat;
      enabled: boolean;
      head: Array<{ seq: number; actionNum: number; bundleTime: number; event: { tableId: string; row: PayloadRow } }>;
    };
    const found: Head[] = await this.sql.rows(
      `SELECT d.*, w.doc_id, w.url, w."authorization", w.payload_format, w.enabled,
         (SELECT coalesce(json_agg(json_build_object(
                   'seq', q.seq, 'actionNum', q.action_num, 'bundleTime', q.bundle_time, 'event', q.row_event) ORDER BY q.seq), '[]')
            FROM (SELECT seq, action_num, bundle_time, row_event FROM webhook_queue
                   WHERE webhook_id = d.webhook_id AND seq > d.delivered_seq
                     AND (d.batch_last_seq IS NULL OR seq <= d.batch_last_seq)
                   ORDER BY seq LIMIT $2) q) AS head
         FROM webhook_delivery d JOIN webhooks w ON w.id = d.webhook_id WHERE d.webhook_id = $1`,
      [webhookId, batchSize],
    );
    if (found.length === 0) return null;
    const r = found[0];
    return {
      target: { webhookId, docId: r.doc_id, url: r.url, authorization: r.authorization, payloadFormat: r.payload_format, enabled: r.enabled },
      state: toDeliveryState(r),
      rows: r.head.map((q) => ({ seq: q.seq, actionNum: q.actionNum, bundleTime: q.bundleTime, tableId: q.event.tableId, row: q.event.row })),
    };
  }

  /** Records that a request for the head batch goes out; false when the webhook was cleared or lost meanwhile. */
  async startAttempt(webhookId: string, generation: number, owner: string, status: DeliveryStatus, batchId: string, batchLastSeq: number): Promise<boolean> {
    const rows = await this.sql.rows(`UPDATE webhook_delivery SET status = $3, ${USAGE_SET}, batch_id = $11, batch_last_seq = $12
        WHERE webhook_id = $1 AND generation = $2 AND lease_owner = $13 RETURNING webhook_id`,
      [webhookId, generation, ...usageParams(status), batchId, batchLastSeq, owner],
    );
    return rows.length > 0;
  }

  /**
   * The head batch was delivered: its rows leave the queue and numWaiting drops by their number. False when the
   * webhook was cleared, or taken over by another instance (this one stalled past its lease): that instance owns
   * the batch now, and counting it here too would drop numWaiting below the rows still queued. The status is
   * decided on the stored count: rows queued since the batch was read keep it `sending`, never `idle`.
   */
  async recordSuccess(
    webhookId: string,
    generation: number,
    owner: string,
    status: DeliveryStatus,
    batchSize: number,
    batchLastSeq: number,
  ): Promise<boolean> {
    // one statement: the status update and the rows' removal happen together or not at all; the removal's range
    // starts after the previous position so it does not walk dead index entries either
    const rows: Array<{ updated: number }> = await this.sql.rows(
      `WITH updated AS (
         UPDATE webhook_delivery SET ${USAGE_SET}, num_waiting = GREATEST(num_waiting - $11, 0),
           status = CASE WHEN num_waiting - $11 > 0 THEN 'sending' ELSE $3 END,
           batch_id = NULL, batch_last_seq = NULL, next_attempt_at = 0, delivered_seq = $13
         FROM (SELECT delivered_seq AS previous_seq FROM webhook_delivery WHERE webhook_id = $1) AS old
         WHERE webhook_id = $1 AND generation = $2 AND lease_owner = $12
         RETURNING webhook_id, old.previous_seq),
       removed AS (
         DELETE FROM webhook_queue q USING updated u
          WHERE q.webhook_id = u.webhook_id AND q.seq > u.previous_seq AND q.seq <= $13)
       SELECT count(*)::int AS updated FROM updated`,
      [webhookId, generation, ...usageParams(status), batchSize, owner, batchLastSeq],
    );
    return rows[0].updated > 0;
  }

  /** The attempt failed: usage updated, the same batch is due again at `nextAttemptAt` (false as for recordSuccess). */
  async recordFailure(webhookId: string, generation: number, owner: string, status: DeliveryStatus, nextAttemptAt: number): Promise<boolean> {
    const rows = await this.sql.rows(`UPDATE webhook_delivery SET status = $3, ${USAGE_SET}, next_attempt_at = $11
        WHERE webhook_id = $1 AND generation = $2 AND lease_owner = $12 RETURNING webhook_id`,
      [webhookId, generation, ...usageParams(status), nextAttemptAt, owner],
    );
    return rows.length > 0;
  }

  /** Rows waiting per webhook, for the ones that have any. */
  async queueDepths(): Promise<Map<string, number>> {
    const rows: Array<{ webhook_id: string; num_waiting: number }> = await this.sql.rows(
      'SELECT webhook_id, num_waiting FROM webhook_delivery WHERE num_waiting > 0',
    );
    return new Map(rows.map((r) => [r.webhook_id, r.num_waiting]));
  }

  async forgetEventsBefore(before: Date): Promise<void> {
    await this.sql.rows('DELETE FROM received_events WHERE received_at < $1', [before]);
  }

  /** Delivery state of the given webhooks, for their `usage`. */
  async states(ids: string[]): Promise<Map<string, DeliveryState>> {
    if (ids.length === 0) return new Map();
    const rows: Array<DeliveryRow & { webhook_id: string }> = await this.sql.rows(
      'SELECT * FROM webhook_delivery WHERE webhook_id = ANY($1)',
      [ids],
    );
    return new Map(rows.map((r) => [r.webhook_id, toDeliveryState(r)]));
  }
}

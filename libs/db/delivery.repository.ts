import { DataSource } from 'typeorm';
import { Coalescer } from './coalescer';
import { joinJsonTexts, Sql, splitJsonTexts } from './sql';
import { EventBatchUsage, PayloadEvent, PayloadFormat, WebhookStatus } from '../domain';
import { DeliveryStatus } from '../delivery/usage';
import { Batch, BatchEnd, QueuedEvent, QueueHead, takeBatch } from '../delivery/queue-batch';

/** The delivery state of one webhook: its usage plus what keeps retries of the head batch stable. */
export interface DeliveryState {
  status: DeliveryStatus;
  batchId: string | null;
  /** Where the batch being tried ends, so a retry sends the same rows. */
  batchEnd: BatchEnd | null;
  /** Rows of the first waiting event already delivered. */
  headOffset: number;
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
  /** Null when nothing waits. */
  batch: Batch | null;
}

/** A payload event as read from the topic: the JSON text it came as, and what intake needs of it besides. */
export interface ReceivedEvent {
  eventId: string;
  webhookId: string;
  tableId: string;
  actionNum: number;
  bundleTime: number;
  numRows: number;
  json: string;
}

/** Keeps of a parsed event only what intake needs, so its parsed rows are not held while it is stored. */
export const receivedEvent = (event: PayloadEvent, json: string): ReceivedEvent => ({
  eventId: event.eventId,
  webhookId: event.webhookId,
  tableId: event.tableId,
  actionNum: event.actionNum,
  bundleTime: event.bundleTime,
  numRows: event.rows.length,
  json,
});

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
  batch_end_offset: number | null;
  head_offset: number;
  next_attempt_at: string;
  generation: number;
}

/** What the intake statement reads of an event besides its text (json_to_recordset's columns). */
const intakeRecord = ({ event: e, batch }: { event: ReceivedEvent; batch: number }): Record<string, unknown> => ({
  webhookId: e.webhookId,
  eventId: e.eventId,
  actionNum: e.actionNum,
  bundleTime: e.bundleTime,
  tableId: e.tableId,
  numRows: e.numRows,
  batch,
});

const time = (v: string | null): number | null => (v === null ? null : Number(v));

/** The head's events with their rows: `[[seq, actionNum, bundleTime, tableId], event]` each, the event as stored. */
function queuedEvents(json: string | null): QueuedEvent[] {
  if (json === null) return [];
  const head = JSON.parse(json) as Array<[[number, number, number, string], Pick<PayloadEvent, 'rows'>]>;
  return head.map(([[seq, actionNum, bundleTime, tableId], { rows }]) => ({ seq, actionNum, bundleTime, tableId, rows }));
}

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
  batchEnd:
    r.batch_last_seq === null || r.batch_end_offset === null ? null : { lastSeq: Number(r.batch_last_seq), endOffset: r.batch_end_offset },
  headOffset: r.head_offset,
  nextAttemptAt: Number(r.next_attempt_at),
  generation: r.generation,
});

/** The usage columns, as each item of a batched statement carries them (jsonb_to_recordset). */
const USAGE_COLUMNS = `status text, updated_time bigint, last_success_time bigint, last_failure_time bigint,
  last_error_message text, last_http_status int, last_event_batch jsonb, batch_attempts int`;
/** Sets the usage columns but the status, which each statement sets itself (success decides it in SQL). */
const SET_USAGE = `updated_time = x.updated_time, last_success_time = x.last_success_time,
  last_failure_time = x.last_failure_time, last_error_message = x.last_error_message,
  last_http_status = x.last_http_status, last_event_batch = x.last_event_batch, batch_attempts = x.batch_attempts`;
const usageRecord = (s: DeliveryStatus): Record<string, unknown> => ({
  status: s.status,
  updated_time: s.updatedTime,
  last_success_time: s.lastSuccessTime,
  last_failure_time: s.lastFailureTime,
  last_error_message: s.lastErrorMessage,
  last_http_status: s.lastHttpStatus,
  last_event_batch: s.lastEventBatch,
  batch_attempts: s.batchAttempts,
});

/**
 * A batch of items (jsonb_to_recordset($1) with these columns besides the usage ones), each joined to its webhook's
 * delivery row, locked in id order as intake locks them, so the two never deadlock. `previous_seq` is the position
 * delivered so far.
 */
const lockedItems = (columns: string): string => `SELECT x.*, l.delivered_seq AS previous_seq
  FROM jsonb_to_recordset($1::jsonb) AS x(webhook_id uuid, generation int, owner text, ${columns}, ${USAGE_COLUMNS})
  JOIN webhook_delivery l ON l.webhook_id = x.webhook_id ORDER BY l.webhook_id FOR UPDATE OF l`;
/**
 * The rows of webhooks $2 leased by $1, locked in id order. Every statement that locks several delivery rows locks
 * them in id order (intake, clearing, the batched delivery statements), so no two of them ever deadlock.
 */
const LOCK_IN_ORDER = `SELECT webhook_id FROM webhook_delivery WHERE lease_owner = $1 AND webhook_id = ANY($2)
  ORDER BY webhook_id FOR UPDATE`;

/**
 * Now on the database's clock, in ms. Leases are set and compared on it alone: on the instances' clocks, one running
 * a lease's length ahead of another would take over that one's live leases, and two instances would deliver the
 * same webhook at once. An instance still gives up its loops early on its own clock (DeliveryScheduler), which only
 * measures a lease's length from before the statement that set it.
 */
const DB_NOW_MS = '(extract(epoch from now()) * 1000)::bigint';

/** Only the loop that read this generation and still holds the lease may change the state. */
const STILL_OWNED = 'd.webhook_id = x.webhook_id AND d.generation = x.generation AND d.lease_owner = x.owner';

/** What a statement after a request needs to know about it: whose loop made it, on which generation. */
interface AttemptRef {
  webhookId: string;
  generation: number;
  owner: string;
  status: DeliveryStatus;
}

export interface AttemptStart extends AttemptRef {
  batchId: string;
  batchEnd: BatchEnd;
}

export interface AttemptSuccess extends AttemptRef {
  batchSize: number;
  /** The queue's head once the batch is delivered (headAfter). */
  head: QueueHead;
}

export interface AttemptFailure extends AttemptRef {
  nextAttemptAt: number;
}

const attemptRecord = ({ webhookId, generation, owner, status }: AttemptRef): Record<string, unknown> => ({
  webhook_id: webhookId,
  generation,
  owner,
  ...usageRecord(status),
});

/**
 * Per-webhook durable FIFO queues and delivery state (SPEC sections 4 and 5). Every statement that changes a
 * webhook's state after a request is conditional on its `generation`, which clearing, disabling and deleting bump:
 * a late answer to an abandoned request changes nothing.
 */
export class DeliveryRepository {
  private readonly sql: Sql;

  // the delivery loops' statements, each gathered across loops into few round trips, and intake's across partitions
  private readonly heads = new Coalescer((wanted: Array<{ webhookId: string; batchSize: number }>) => this.loadHeads(wanted));
  private readonly starts = new Coalescer((attempts: AttemptStart[]) => this.startAttempts(attempts));
  private readonly successes = new Coalescer((attempts: AttemptSuccess[]) => this.recordSuccesses(attempts));
  private readonly failures = new Coalescer((attempts: AttemptFailure[]) => this.recordFailures(attempts));
  private readonly releases = new Coalescer((leases: Array<{ owner: string; webhookId: string }>) => this.releaseLeases(leases));
  private readonly intake = new Coalescer((batches: ReceivedEvent[][]) => this.storeBatches(batches));

  constructor(db: DataSource) {
    this.sql = new Sql(db);
  }

  /**
   * Stores payload events in one statement (one round trip, one transaction): drops duplicates by eventId and events
   * a webhook must not get, appends one queue entry per event in topic order, and counts its rows into numWaiting.
   * Each event is stored as the JSON text it came in, which Postgres never parses: nothing is serialised again.
   * Batches stored at once (the partitions of one fetch) share that statement.
   */
  async storeEvents(received: ReceivedEvent[]): Promise<IntakeResult> {
    const stored = await this.intake.call(received);
    if ('failed' in stored) throw stored.failed;
    return stored;
  }

  private async storeBatches(batches: ReceivedEvent[][]): Promise<Array<IntakeResult | { failed: unknown }>> {
    try {
      return await this.storeTogether(batches);
    } catch (err) {
      if (batches.length === 1) throw err;
      // whatever failed must not hold up the other partitions' batches: each is stored alone
      return Promise.all(batches.map((batch) => this.storeTogether([batch]).then(([stored]) => stored, (failed) => ({ failed }))));
    }
  }

  private async storeTogether(batches: ReceivedEvent[][]): Promise<IntakeResult[]> {
    const results = batches.map((): IntakeResult => ({ queuedEvents: 0, queuedRows: 0, duplicates: 0, dropped: 0 }));
    // an event seen twice is a duplicate of its first sighting, in its batch or an earlier one
    const seen = new Set<string>();
    const unique: Array<{ event: ReceivedEvent; batch: number }> = [];
    batches.forEach((events, batch) => {
      for (const event of events) {
        if (seen.has(event.eventId)) results[batch].duplicates++;
        else (seen.add(event.eventId), unique.push({ event, batch }));
      }
    });
    if (unique.length === 0) return results;
    const stored = await this.sql.rows<{ batch: number; unique: number; wanted: number; fresh: number; rows: number }>(
      `WITH ev AS (
         SELECT * FROM ROWS FROM (
             json_to_recordset($1::json) AS ("webhookId" uuid, "eventId" text, "actionNum" bigint, "bundleTime" bigint, "tableId" text,
               "numRows" int, batch int),
             ${splitJsonTexts('$2')})
           WITH ORDINALITY AS e(webhook_id, event_id, action_num, bundle_time, table_id, num_rows, batch, event_json, i)),
       -- SHARE: a webhook cannot be deleted, disabled or re-enabled under us. Its enabled flag and activeSince are
       -- those committed last (a PATCH in progress is waited for), so a disable's clearing cannot miss what we queue
       hooks AS (
         SELECT id, enabled, active_since FROM webhooks WHERE id IN (SELECT webhook_id FROM ev) ORDER BY id FOR SHARE),
       wanted AS (
         SELECT ev.* FROM ev JOIN hooks h ON h.id = ev.webhook_id WHERE h.enabled AND ev.bundle_time >= h.active_since),
       fresh AS (
         INSERT INTO received_events (event_id, webhook_id) SELECT event_id, webhook_id FROM wanted
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id),
       -- ORDER BY: seq follows the order of the topic, which is each webhook's FIFO order
       queued AS (
         INSERT INTO webhook_queue (webhook_id, event_id, action_num, bundle_time, table_id, num_rows, event_json)
         SELECT w.webhook_id, w.event_id, w.action_num, w.bundle_time, w.table_id, w.num_rows, w.event_json
           FROM wanted w JOIN fresh f ON f.event_id = w.event_id WHERE w.num_rows > 0 ORDER BY w.i
         RETURNING webhook_id, num_rows),
       counts AS (SELECT webhook_id, sum(num_rows)::int AS n FROM queued GROUP BY webhook_id),
       -- rows locked in id order, as clearing and the delivery statements do, so they never deadlock
       locked AS (
         SELECT c.webhook_id, c.n FROM counts c JOIN webhook_delivery l ON l.webhook_id = c.webhook_id
          ORDER BY l.webhook_id FOR UPDATE OF l),
       -- a data-modifying CTE runs to completion whether or not the final SELECT reads it
       counted AS (
         UPDATE webhook_delivery d SET num_waiting = d.num_waiting + x.n FROM locked x WHERE d.webhook_id = x.webhook_id)
       SELECT ev.batch, count(*)::int AS unique, count(w.event_id)::int AS wanted, count(f.event_id)::int AS fresh,
              coalesce(sum(ev.num_rows) FILTER (WHERE f.event_id IS NOT NULL), 0)::int AS rows
         FROM ev LEFT JOIN wanted w ON w.event_id = ev.event_id LEFT JOIN fresh f ON f.event_id = ev.event_id
        GROUP BY ev.batch`,
      [JSON.stringify(unique.map(intakeRecord)), joinJsonTexts(unique.map((u) => u.event.json))],
    );
    for (const s of stored) {
      const result = results[s.batch];
      result.dropped = s.unique - s.wanted;
      result.duplicates += s.wanted - s.fresh;
      result.queuedEvents = s.fresh;
      result.queuedRows = s.rows;
    }
    return results;
  }

  /**
   * Leases, for `leaseMs`, up to `limit` enabled webhooks that have rows waiting, are due at `now`, and are leased by
   * nobody.
   */
  async claimDue(owner: string, now: number, leaseMs: number, exclude: string[], limit: number): Promise<string[]> {
    const rows = await this.sql.rows<{ webhook_id: string }>(`UPDATE webhook_delivery SET lease_owner = $1, lease_until = ${DB_NOW_MS} + $2
        WHERE webhook_id IN (
          SELECT d.webhook_id FROM webhook_delivery d JOIN webhooks w ON w.id = d.webhook_id AND w.enabled
           WHERE num_waiting > 0 AND next_attempt_at <= $3 AND lease_until < ${DB_NOW_MS} AND NOT (d.webhook_id = ANY($4))
           ORDER BY next_attempt_at LIMIT $5 FOR UPDATE OF d SKIP LOCKED)
        RETURNING webhook_id`,
      [owner, leaseMs, now, exclude, limit],
    );
    return rows.map((r) => r.webhook_id);
  }

  /** Extends by `leaseMs` the leases `owner` still holds among `ids`; answers those. */
  async renewLeases(owner: string, ids: string[], leaseMs: number): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.sql.rows<{ webhook_id: string }>(
      `UPDATE webhook_delivery d SET lease_until = ${DB_NOW_MS} + $3 FROM (${LOCK_IN_ORDER}) l WHERE d.webhook_id = l.webhook_id
       RETURNING d.webhook_id`,
      [owner, ids, leaseMs],
    );
    return rows.map((r) => r.webhook_id);
  }

  releaseLease(owner: string, webhookId: string): Promise<void> {
    return this.releases.call({ owner, webhookId });
  }

  /** Releases the leases of one instance's loops (a Coalescer batches one instance's calls, hence one owner). */
  private async releaseLeases(leases: Array<{ owner: string; webhookId: string }>): Promise<void[]> {
    for (const owner of new Set(leases.map((l) => l.owner))) {
      await this.sql.rows(
        `UPDATE webhook_delivery d SET lease_owner = NULL, lease_until = 0 FROM (${LOCK_IN_ORDER}) l WHERE d.webhook_id = l.webhook_id`,
        [owner, leases.filter((l) => l.owner === owner).map((l) => l.webhookId)],
      );
    }
    return leases.map(() => undefined);
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

  /** The webhook, its state and the batch at the head of its queue (the same rows on every retry). */
  loadHead(webhookId: string, batchSize: number): Promise<HeadBatch | null> {
    return this.heads.call({ webhookId, batchSize });
  }

  /** Records that a request for the head batch goes out; false when the webhook was cleared or lost meanwhile. */
  startAttempt(attempt: AttemptStart): Promise<boolean> {
    return this.starts.call(attempt);
  }

  /**
   * The head batch was delivered: its rows leave the queue and numWaiting drops by their number. Answers the rows
   * still waiting, so the loop knows whether to go on without reading again (none: the lease is released with it).
   * Null when the webhook was cleared, or taken over by another instance (this one stalled past its lease): that
   * instance owns the batch now, and counting it here too would drop numWaiting below the rows still queued. The
   * status is decided on the stored count: rows queued since the batch was read keep it `sending`, never `idle`.
   */
  recordSuccess(attempt: AttemptSuccess): Promise<number | null> {
    return this.successes.call(attempt);
  }

  /** The attempt failed: usage updated, the same batch is due again at `nextAttemptAt` (false as for recordSuccess). */
  recordFailure(attempt: AttemptFailure): Promise<boolean> {
    return this.failures.call(attempt);
  }

  private async loadHeads(wanted: Array<{ webhookId: string; batchSize: number }>): Promise<Array<HeadBatch | null>> {
    type Head = DeliveryRow & {
      webhook_id: string;
      doc_id: string;
      url: string;
      authorization: string;
      payload_format: PayloadFormat;
      enabled: boolean;
      /** The head's events with their queue columns, as one JSON array (queuedEvents); null when none waits. */
      head: string | null;
    };
    // the events the batch takes rows from: at most batch_size of them (each has rows), and only while the rows
    // before an event, from head_offset on, are fewer than batch_size
    const found: Head[] = await this.sql.rows(
      `SELECT d.*, w.doc_id, w.url, w."authorization", w.payload_format, w.enabled, h.head
         FROM unnest($1::uuid[], $2::int[]) AS x(webhook_id, batch_size)
         JOIN webhook_delivery d ON d.webhook_id = x.webhook_id JOIN webhooks w ON w.id = d.webhook_id
         CROSS JOIN LATERAL (
           -- one aggregate, so one sort; the events' texts are joined as they are, never parsed here
           SELECT '[' || string_agg(
                           '[' || json_build_array(e.seq, e.action_num, e.bundle_time, e.table_id)::text || ',' || e.event_json || ']',
                           ',' ORDER BY e.seq) || ']' AS head
             FROM (SELECT q.*, sum(q.num_rows) OVER (ORDER BY q.seq) - q.num_rows AS rows_before
                     FROM (SELECT seq, action_num, bundle_time, table_id, num_rows, event_json FROM webhook_queue
                            WHERE webhook_id = d.webhook_id AND seq > d.delivered_seq
                              AND (d.batch_last_seq IS NULL OR seq <= d.batch_last_seq)
                            ORDER BY seq LIMIT x.batch_size) q) e
            WHERE e.rows_before - d.head_offset < x.batch_size) h`,
      [wanted.map((w) => w.webhookId), wanted.map((w) => w.batchSize)],
    );
    const byId = new Map(found.map((r) => [r.webhook_id, r]));
    return wanted.map(({ webhookId, batchSize }) => {
      const r = byId.get(webhookId);
      if (!r) return null;
      const state = toDeliveryState(r);
      return {
        target: { webhookId, docId: r.doc_id, url: r.url, authorization: r.authorization, payloadFormat: r.payload_format, enabled: r.enabled },
        state,
        batch: takeBatch(queuedEvents(r.head), state.headOffset, batchSize, state.batchEnd, r.payload_format === 'envelope'),
      };
    });
  }

  private async startAttempts(attempts: AttemptStart[]): Promise<boolean[]> {
    return this.stillOwned(
      attempts,
      attempts.map((a) => ({
        ...attemptRecord(a),
        batch_id: a.batchId,
        batch_last_seq: a.batchEnd.lastSeq,
        batch_end_offset: a.batchEnd.endOffset,
      })),
      `WITH x AS (${lockedItems('batch_id uuid, batch_last_seq bigint, batch_end_offset int')})
       UPDATE webhook_delivery d SET status = x.status, ${SET_USAGE}, batch_id = x.batch_id, batch_last_seq = x.batch_last_seq,
         batch_end_offset = x.batch_end_offset
         FROM x WHERE ${STILL_OWNED} RETURNING d.webhook_id`,
    );
  }

  private async recordSuccesses(attempts: AttemptSuccess[]): Promise<Array<number | null>> {
    // one statement: the status update and the events' removal happen together or not at all; the removal's range
    // starts after the previous position so it does not walk dead index entries either
    const left = await this.changed<{ webhook_id: string; num_waiting: number }>(
      attempts.map((a) => ({
        ...attemptRecord(a),
        batch_size: a.batchSize,
        delivered_seq: a.head.deliveredSeq,
        head_offset: a.head.headOffset,
      })),
      `WITH x AS (${lockedItems('batch_size int, delivered_seq bigint, head_offset int')}),
       updated AS (
         UPDATE webhook_delivery d SET ${SET_USAGE}, num_waiting = GREATEST(d.num_waiting - x.batch_size, 0),
           status = CASE WHEN d.num_waiting - x.batch_size > 0 THEN 'sending' ELSE x.status END,
           batch_id = NULL, batch_last_seq = NULL, batch_end_offset = NULL, next_attempt_at = 0,
           delivered_seq = x.delivered_seq, head_offset = x.head_offset,
           -- an emptied queue is let go at once: its loop ends, and the next rows are claimed afresh
           lease_owner = CASE WHEN d.num_waiting - x.batch_size > 0 THEN d.lease_owner END,
           lease_until = CASE WHEN d.num_waiting - x.batch_size > 0 THEN d.lease_until ELSE 0 END
         FROM x WHERE ${STILL_OWNED}
         RETURNING d.webhook_id, d.num_waiting, x.previous_seq, d.delivered_seq),
       removed AS (
         DELETE FROM webhook_queue q USING updated u
          WHERE q.webhook_id = u.webhook_id AND q.seq > u.previous_seq AND q.seq <= u.delivered_seq)
       SELECT webhook_id, num_waiting FROM updated`,
    );
    return attempts.map((a) => left.get(a.webhookId)?.num_waiting ?? null);
  }

  private async recordFailures(attempts: AttemptFailure[]): Promise<boolean[]> {
    return this.stillOwned(
      attempts,
      attempts.map((a) => ({ ...attemptRecord(a), next_attempt_at: a.nextAttemptAt })),
      `WITH x AS (${lockedItems('next_attempt_at bigint')})
       UPDATE webhook_delivery d SET status = x.status, ${SET_USAGE}, next_attempt_at = x.next_attempt_at
         FROM x WHERE ${STILL_OWNED} RETURNING d.webhook_id`,
    );
  }

  /** Runs a batched statement over `records`; true for each attempt whose webhook it changed. */
  private async stillOwned(attempts: AttemptRef[], records: Array<Record<string, unknown>>, statement: string): Promise<boolean[]> {
    const changed = await this.changed(records, statement);
    return attempts.map((a) => changed.has(a.webhookId));
  }

  /** The rows a batched statement over `records` returns, by webhook. */
  private async changed<R extends { webhook_id: string }>(records: Array<Record<string, unknown>>, statement: string): Promise<Map<string, R>> {
    const rows = await this.sql.rows<R>(statement, [JSON.stringify(records)]);
    return new Map(rows.map((r) => [r.webhook_id, r]));
  }

  /**
   * Of each webhook with rows waiting: how many, and when the bundle of the oldest was appended (ms; the head event
   * is the oldest, the queue being in arrival order).
   */
  async queueDepths(): Promise<Map<string, { rows: number; oldestBundleTime: number | null }>> {
    const rows: Array<{ webhook_id: string; num_waiting: number; oldest: string | null }> = await this.sql.rows(
      `SELECT d.webhook_id, d.num_waiting,
         (SELECT q.bundle_time FROM webhook_queue q WHERE q.webhook_id = d.webhook_id AND q.seq > d.delivered_seq
           ORDER BY q.seq LIMIT 1) AS oldest
         FROM webhook_delivery d WHERE d.num_waiting > 0`,
    );
    return new Map(rows.map((r) => [r.webhook_id, { rows: r.num_waiting, oldestBundleTime: r.oldest === null ? null : Number(r.oldest) }]));
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

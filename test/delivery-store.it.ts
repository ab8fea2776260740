/**
 * The dispatcher's intake statement against the real database: what is queued, in which order, and what is dropped
 * as a duplicate or as not for the webhook (SPEC section 4).
 */
import { randomUUID } from 'node:crypto';
import { DeliveryRepository, ReceivedEvent, receivedEvent } from '../libs/db/delivery.repository';
import { headAfter, idleStatus, onAttemptStarted } from '../libs/delivery';
import { PayloadEvent } from '../libs/domain';
import { useMigratedDatabase, waitFor } from './support/harness';

const database = useMigratedDatabase();
let repo: DeliveryRepository;
/** Another instance's: its statements are never gathered with `repo`'s, so the two run concurrently. */
let otherRepo: DeliveryRepository;

beforeAll(() => {
  repo = new DeliveryRepository(database.source);
  otherRepo = new DeliveryRepository(database.source);
});

async function webhook(opts: { enabled?: boolean; activeSince?: number } = {}): Promise<string> {
  const id = randomUUID();
  await database.db.query(
    `INSERT INTO webhooks (id, doc_id, url, event_types, unsubscribe_key, enabled, active_since)
     VALUES ($1, 'doc', 'http://example.com/', '{add}', 'key', $2, $3)`,
    [id, opts.enabled ?? true, opts.activeSince ?? 0],
  );
  await database.db.query('INSERT INTO webhook_delivery (webhook_id) VALUES ($1)', [id]);
  return id;
}

/** A payload event as the matcher publishes it, with its JSON text. */
function received(webhookId: string, actionNum: number, rowIds: number[], bundleTime = 1000): ReceivedEvent {
  const event: PayloadEvent = {
    v: 1,
    eventId: `doc:${actionNum}:${webhookId}`,
    webhookId,
    docId: 'doc',
    tableId: 'Orders',
    actionNum,
    bundleTime,
    rows: rowIds.map((id) => ({ type: 'add', id, fields: { Item: `item ${id}` }, previous: {}, changedColIds: [] })),
  };
  return receivedEvent(event, JSON.stringify(event));
}

type QueueEntry = { action_num: string; table_id: string; num_rows: number; event_json: string };
const queue = (webhookId: string): Promise<QueueEntry[]> =>
  database.db.query('SELECT action_num, table_id, num_rows, event_json FROM webhook_queue WHERE webhook_id = $1 ORDER BY seq', [webhookId]);
/** Each queued event as [actionNum, its row ids]. */
const queuedIds = async (webhookId: string): Promise<Array<[number, number[]]>> =>
  (await queue(webhookId)).map((e) => [Number(e.action_num), (JSON.parse(e.event_json) as PayloadEvent).rows.map((r) => r.id)]);
const numWaiting = async (webhookId: string): Promise<number> =>
  (await database.db.query<{ num_waiting: number }>('SELECT num_waiting FROM webhook_delivery WHERE webhook_id = $1', [webhookId]))[0].num_waiting;

describe('storeEvents', () => {
  it('queues every event in topic order across webhooks, rows in order, and counts the rows into numWaiting', async () => {
    const [a, b] = [await webhook(), await webhook()];
    const events = [received(a, 1, [3, 1]), received(b, 1, [7]), received(a, 2, [2, 9, 4])];
    const result = await repo.storeEvents(events);
    expect(result).toEqual({ queuedEvents: 3, queuedRows: 6, duplicates: 0, dropped: 0 });
    expect(await queuedIds(a)).toEqual([[1, [3, 1]], [2, [2, 9, 4]]]);
    const [first] = await queue(a);
    expect(first).toEqual({ action_num: '1', table_id: 'Orders', num_rows: 2, event_json: events[0].json });
    expect([await numWaiting(a), await numWaiting(b)]).toEqual([5, 1]);
  });

  it('queues nothing for an event without rows', async () => {
    const a = await webhook();
    expect(await repo.storeEvents([received(a, 1, [])])).toEqual({ queuedEvents: 1, queuedRows: 0, duplicates: 0, dropped: 0 });
    expect(await queue(a)).toEqual([]);
  });

  it('drops an event seen before, in the same batch or an earlier one', async () => {
    const a = await webhook();
    await repo.storeEvents([received(a, 1, [1])]);
    const result = await repo.storeEvents([received(a, 1, [1]), received(a, 2, [2]), received(a, 2, [2])]);
    expect(result).toEqual({ queuedEvents: 1, queuedRows: 1, duplicates: 2, dropped: 0 });
    expect(await queuedIds(a)).toEqual([[1, [1]], [2, [2]]]);
    expect(await numWaiting(a)).toBe(2);
  });

  it('drops events of webhooks disabled, deleted, or enabled after the bundle', async () => {
    const live = await webhook({ activeSince: 1000 });
    const disabled = await webhook({ enabled: false });
    const later = await webhook({ activeSince: 5000 });
    const result = await repo.storeEvents([
      received(live, 1, [1], 1000),
      received(disabled, 1, [1]),
      received(later, 1, [1], 4999),
      received(randomUUID(), 1, [1]),
    ]);
    expect(result).toEqual({ queuedEvents: 1, queuedRows: 1, duplicates: 0, dropped: 3 });
    expect([await numWaiting(live), await numWaiting(disabled), await numWaiting(later)]).toEqual([1, 0, 0]);
    // a dropped event was not remembered: the webhook gets it if it comes again once the webhook may have it
    await database.db.query('UPDATE webhooks SET enabled = true WHERE id = $1', [disabled]);
    expect((await repo.storeEvents([received(disabled, 1, [1])])).queuedEvents).toBe(1);
  });

  it('keeps each queue whole when batches for the same webhooks are stored concurrently', async () => {
    const hooks = [await webhook(), await webhook(), await webhook()];
    const batches = Array.from({ length: 8 }, (_, b) => hooks.map((h, i) => received(h, 100 + b * 10 + i, [b * 10 + i])).reverse());
    await Promise.all(batches.map((batch, b) => (b % 2 ? otherRepo : repo).storeEvents(batch)));
    for (const h of hooks) {
      expect(await numWaiting(h)).toBe(8);
      expect(await queue(h)).toHaveLength(8);
    }
  });

  it('answers each of the batches stored at once with its own counts', async () => {
    const [a, b] = [await webhook(), await webhook({ enabled: false })];
    const results = await Promise.all([
      repo.storeEvents([received(a, 1, [1, 2]), received(b, 1, [1])]),
      repo.storeEvents([received(a, 2, [3]), received(a, 1, [1, 2])]),
      repo.storeEvents([]),
    ]);
    expect(results).toEqual([
      { queuedEvents: 1, queuedRows: 2, duplicates: 0, dropped: 1 },
      { queuedEvents: 1, queuedRows: 1, duplicates: 1, dropped: 0 },
      { queuedEvents: 0, queuedRows: 0, duplicates: 0, dropped: 0 },
    ]);
    expect(await queuedIds(a)).toEqual([[1, [1, 2]], [2, [3]]]);
    expect(await numWaiting(a)).toBe(3);
  });

  it('stores the other batches when one stored at once with them fails', async () => {
    const a = await webhook();
    const unstorable: ReceivedEvent = { ...received(a, 2, [2]), webhookId: 'no-uuid' };
    const [good, bad] = await Promise.allSettled([repo.storeEvents([received(a, 1, [1])]), repo.storeEvents([unstorable])]);
    expect(good).toEqual({ status: 'fulfilled', value: { queuedEvents: 1, queuedRows: 1, duplicates: 0, dropped: 0 } });
    expect(bad.status).toBe('rejected');
    expect(await queuedIds(a)).toEqual([[1, [1]]]);
  });
});

const sending = onAttemptStarted(idleStatus(0), 20, 1);
const ids = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('head batches over queued events', () => {
  const owner = 'instance-b';

  async function leasedWebhook(): Promise<string> {
    const id = await webhook();
    await database.db.query('UPDATE webhook_delivery SET lease_owner = $1, lease_until = $2 WHERE webhook_id = $3', [owner, Date.now() + 60_000, id]);
    return id;
  }

  /** Reads the head batch and records its first attempt: its row ids, and what recording an outcome needs. */
  async function attemptHead(webhookId: string, batchSize: number) {
    const head = await repo.loadHead(webhookId, batchSize);
    const batch = head!.batch!;
    const ref = { webhookId, generation: head!.state.generation, owner, status: sending };
    expect(await repo.startAttempt({ ...ref, batchId: randomUUID(), batchEnd: batch.end })).toBe(true);
    const succeed = () => repo.recordSuccess({ ...ref, batchSize: batch.rows.length, head: headAfter(batch) });
    return { ids: batch.rows.map((r) => r.row.id), succeed, fail: () => repo.recordFailure({ ...ref, nextAttemptAt: 0 }) };
  }

  it('sends a 250-row event as 100 + 100 + 50, the next events after it, and removes each event once delivered', async () => {
    const a = await leasedWebhook();
    await repo.storeEvents([received(a, 1, ids(0, 250)), received(a, 2, [1000, 1001]), received(a, 3, [2000])]);
    const first = await attemptHead(a, 100);
    expect(first.ids).toEqual(ids(0, 100));
    expect(await first.succeed()).toBe(153);
    const second = await attemptHead(a, 100);
    expect(second.ids).toEqual(ids(100, 200));
    expect(await second.succeed()).toBe(53);
    expect((await queuedIds(a)).map(([actionNum]) => actionNum)).toEqual([1, 2, 3]);
    const third = await attemptHead(a, 100);
    expect(third.ids).toEqual([...ids(200, 250), 1000, 1001, 2000]);
    expect(await third.succeed()).toBe(0);
    expect(await queue(a)).toEqual([]);
    expect(await numWaiting(a)).toBe(0);
  });

  it('changes nothing for an instance that lost the lease: its start, success and failure are refused', async () => {
    const a = await leasedWebhook();
    await repo.storeEvents([received(a, 1, [1, 2])]);
    const head = await repo.loadHead(a, 100);
    const batch = head!.batch!;
    const ref = { webhookId: a, generation: head!.state.generation, owner, status: sending };
    expect(await repo.startAttempt({ ...ref, batchId: randomUUID(), batchEnd: batch.end })).toBe(true);
    await database.db.query('UPDATE webhook_delivery SET lease_owner = $1 WHERE webhook_id = $2', ['instance-other', a]);
    expect(await repo.recordSuccess({ ...ref, batchSize: 2, head: headAfter(batch) })).toBeNull();
    expect(await repo.recordFailure({ ...ref, nextAttemptAt: 0 })).toBe(false);
    expect(await repo.startAttempt({ ...ref, batchId: randomUUID(), batchEnd: batch.end })).toBe(false);
    expect(await queuedIds(a)).toEqual([[1, [1, 2]]]);
    expect(await numWaiting(a)).toBe(2);
  });

  it('reads back each row as it came, whatever characters its values hold', async () => {
    const a = await leasedWebhook();
    const values = ['\u0001 and \u0000, escaped', 'quote " backslash \\ newline \n', 'été 😀 \u2028', '', '[1,2]'];
    const events = values.map((value, i) => {
      const event = received(a, i + 1, [i + 1]);
      const parsed = JSON.parse(event.json) as PayloadEvent;
      parsed.rows[0].fields = { Item: value, List: ['L', value], Nested: { k: [value] } };
      return receivedEvent(parsed, JSON.stringify(parsed));
    });
    await repo.storeEvents(events);
    const head = await repo.loadHead(a, 100);
    expect(head!.batch!.rows.map((r) => r.row.fields)).toEqual(values.map((value) => ({ Item: value, List: ['L', value], Nested: { k: [value] } })));
  });

  it('retries the same rows, even when more were queued since, then goes on from where the batch ended', async () => {
    const a = await leasedWebhook();
    await repo.storeEvents([received(a, 1, [1, 2, 3])]);
    const first = await attemptHead(a, 2);
    expect(first.ids).toEqual([1, 2]);
    expect(await first.fail()).toBe(true);
    await repo.storeEvents([received(a, 2, [4])]);
    const retry = await attemptHead(a, 100);
    expect(retry.ids).toEqual([1, 2]);
    expect(await retry.succeed()).toBe(2);
    expect((await attemptHead(a, 100)).ids).toEqual([3, 4]);
  });
});

describe('statements that lock several webhooks', () => {
  it('never deadlock: intake, lease renewals and batched attempt records on the same webhooks at once', async () => {
    const owner = 'instance-a';
    const hooks: string[] = [];
    for (let i = 0; i < 24; i++) hooks.push(await webhook());
    await database.db.query('UPDATE webhook_delivery SET lease_owner = $1, lease_until = $2 WHERE webhook_id = ANY($3)', [owner, Date.now() + 60_000, hooks]);
    // each round takes the webhooks in a different order, so only locking in one order everywhere avoids a cycle
    const shuffled = (round: number): string[] => [...hooks].sort((a, b) => ((a.charCodeAt(round % 30) ^ round) - (b.charCodeAt(round % 30) ^ round)) || a.localeCompare(b));
    for (let round = 0; round < 100; round++) {
      const order = shuffled(round);
      await Promise.all([
        repo.storeEvents(order.map((h) => received(h, round + 1, [round]))),
        otherRepo.storeEvents([...order].reverse().map((h) => received(h, 10_000 + round, [round]))),
        repo.renewLeases(owner, [...order].reverse(), 60_000),
        ...order.map((h) => repo.startAttempt({ webhookId: h, generation: 0, owner, status: sending, batchId: randomUUID(), batchEnd: { lastSeq: round, endOffset: 1 } })),
      ]);
    }
    expect(await numWaiting(hooks[0])).toBe(200);
  });
});

describe('leases', () => {
  it('are set and compared on the database clock: an instance whose clock runs a minute ahead takes over no live lease', async () => {
    const a = await webhook();
    await repo.storeEvents([received(a, 1, [1])]);
    expect(await repo.claimDue('instance-a', Date.now(), 5000, [], 1000)).toContain(a);
    expect(await repo.claimDue('instance-b', Date.now() + 60_000, 5000, [], 1000)).not.toContain(a);
    // renewed for 1 ms on the database's clock, it runs out at once, whatever the claimer's clock says
    expect(await repo.renewLeases('instance-a', [a], 1)).toEqual([a]);
    await waitFor('the lease to run out', async () => (await repo.claimDue('instance-b', Date.now() - 60_000, 5000, [], 1000)).includes(a));
  });
});

describe('disabled webhooks', () => {
  it('are never claimed, even with rows still counted', async () => {
    const [on, off] = [await webhook(), await webhook()];
    await repo.storeEvents([received(on, 1, [1]), received(off, 1, [1])]);
    await database.db.query('UPDATE webhooks SET enabled = false WHERE id = $1', [off]);
    const claimed = await repo.claimDue('instance-c', Date.now(), 5000, [], 1000);
    expect(claimed).toContain(on);
    expect(claimed).not.toContain(off);
  });

  it('get nothing queued by an intake that ran while the disable was being committed', async () => {
    const a = await webhook();
    // what PATCH enabled:false does, in one transaction, held open: the flag, then the queue emptied
    await database.db.query('BEGIN');
    await database.db.query('UPDATE webhooks SET enabled = false WHERE id = $1', [a]);
    await database.db.query('SELECT 1 FROM webhook_delivery WHERE webhook_id = $1 FOR UPDATE', [a]);
    await database.db.query('DELETE FROM webhook_queue WHERE webhook_id = $1', [a]);
    await database.db.query('UPDATE webhook_delivery SET num_waiting = 0, generation = generation + 1 WHERE webhook_id = $1', [a]);
    const storing = repo.storeEvents([received(a, 1, [1, 2])]);
    await waitFor('intake to wait on the disable', async () => {
      const [waiting] = await database.source.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      return waiting.n > 0;
    });
    await database.db.query('COMMIT');
    expect(await storing).toEqual({ queuedEvents: 0, queuedRows: 0, duplicates: 0, dropped: 1 });
    expect(await queue(a)).toEqual([]);
    expect(await numWaiting(a)).toBe(0);
  });
});

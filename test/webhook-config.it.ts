/**
 * Webhook changes against a matcher's poll, on the real database: a webhook fires for every bundle appended after
 * it was created (SPEC section 3), so no poll that starts after its activeSince may miss it.
 */
import { randomUUID } from 'node:crypto';
import { DocStateRepository } from '../libs/db/doc-state.repository';
import { WebhookRepository } from '../libs/db/webhook.repository';
import { emptySchema } from '../libs/domain';
import { NewWebhook } from '../libs/webhook-api';
import { useMigratedDatabase, waitFor } from './support/harness';

const database = useMigratedDatabase();
let repo: WebhookRepository;

beforeAll(() => {
  repo = new WebhookRepository(database.source);
});

const newWebhook = (): NewWebhook => ({
  id: randomUUID(), docId: 'doc', tableRef: 't1', url: 'https://example.com/', eventTypes: ['add'], name: '', memo: '',
  readyColRef: null, watchedColRefs: [], enabled: true, authorization: '', unsubscribeKey: 'key', payloadFormat: 'grist',
});

const waitingOnLocks = async (): Promise<number> =>
  (
    await database.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    )
  )[0].n;

/** Another change holding the config_version lock, as a config-api transaction does until it commits. */
async function holdConfigLock(): Promise<{ release: () => Promise<void> }> {
  await database.db.query('BEGIN');
  await database.db.query('UPDATE config_version SET version = version + 1');
  return { release: () => database.db.query('COMMIT').then(() => undefined) };
}

describe('webhook changes and the matcher poll', () => {
  it('a poll waits for a change in progress and then reads its version', async () => {
    const before = await repo.configVersion();
    const held = await holdConfigLock();
    const polled = repo.configVersion();
    await waitFor('the poll to wait on the change', async () => (await waitingOnLocks()) > 0);
    await held.release();
    expect(await polled).toBe(before + 1);
  });

  it("a batch's read of its rows waits for a change in progress and then reads its version", async () => {
    const docs = new DocStateRepository(database.source);
    await docs.save([{ docId: 'd1', previousActionNum: 0, lastActionNum: 4, schema: emptySchema(), schemaChanged: true, clearedTables: [], rows: new Map() }]);
    const before = await repo.configVersion();
    const held = await holdConfigLock();
    const read = docs.loadRows(new Map(), new Map([['d1', 4], ['unknown', 0]]), { configVersion: true });
    await waitFor('the read to wait on the change', async () => (await waitingOnLocks()) > 0);
    await held.release();
    const { rows, configVersion } = await read;
    expect(configVersion).toBe(before + 1);
    expect(rows).toEqual(new Map());
    expect((await docs.loadRows(new Map(), new Map(), { configVersion: true })).configVersion).toBe(before + 1);
  });

  it('a created webhook is active from a time after every change before it committed', async () => {
    const held = await holdConfigLock();
    const webhook = newWebhook();
    const inserting = repo.insert([webhook]);
    await waitFor('the insert to wait on the change', async () => (await waitingOnLocks()) > 0);
    const committedAt = Date.now();
    await held.release();
    await inserting;
    const [stored] = (await repo.listAll()).filter((w) => w.id === webhook.id);
    expect(stored.activeSince).toBeGreaterThanOrEqual(committedAt);
  });

  it('a re-enabled webhook is active from a time read under the lock', async () => {
    const webhook = newWebhook();
    await repo.insert([{ ...webhook, enabled: false }]);
    const held = await holdConfigLock();
    let stampedAt = 0;
    const enabling = repo.update('doc', webhook.id, (current, now) => {
      stampedAt = now;
      return { next: { ...current, enabled: true, activeSince: now }, emptyQueue: false };
    });
    await waitFor('the update to wait on the change', async () => (await waitingOnLocks()) > 0);
    const committedAt = Date.now();
    await held.release();
    expect(await enabling).toBe(true);
    expect(stampedAt).toBeGreaterThanOrEqual(committedAt);
  });

  it('a poll does not wait while a disable empties the queue: the version is locked only after', async () => {
    const webhook = newWebhook();
    await repo.insert([webhook]);
    const before = await repo.configVersion();
    await database.db.query('BEGIN');
    let disabling: Promise<boolean> = Promise.resolve(false);
    try {
      // the dispatcher recording an attempt holds this row, so the purge waits
      await database.db.query('SELECT 1 FROM webhook_delivery WHERE webhook_id = $1 FOR UPDATE', [webhook.id]);
      disabling = repo.update('doc', webhook.id, (current) => ({ next: { ...current, enabled: false }, emptyQueue: true }));
      await waitFor('the disable to wait on the queue', async () => (await waitingOnLocks()) > 0);
      expect(await repo.configVersion()).toBe(before);
    } finally {
      await database.db.query('COMMIT');
    }
    expect(await disabling).toBe(true);
    expect(await repo.configVersion()).toBe(before + 1);
  });

  it('a PATCH of a webhook that is gone changes no version', async () => {
    const before = await repo.configVersion();
    expect(await repo.update('doc', randomUUID(), (current) => ({ next: current, emptyQueue: false }))).toBe(false);
    expect(await repo.delete('doc', randomUUID())).toBe(false);
    expect(await repo.configVersion()).toBe(before);
  });

  it.each<[string, Partial<NewWebhook>, number]>([
    ['a new URL makes a batch waiting for its retry due at once', { url: 'https://example.com/fixed' }, 0],
    ['a new authorization too', { authorization: 'Bearer fixed' }, 0],
    ['a new name does not', { name: 'renamed' }, 86_400_000],
  ])('%s', async (_name, change, nextAttemptAt) => {
    const webhook = newWebhook();
    await repo.insert([webhook]);
    await database.db.query('UPDATE webhook_delivery SET num_waiting = 3, next_attempt_at = 86400000 WHERE webhook_id = $1', [webhook.id]);
    expect(await repo.update('doc', webhook.id, (current) => ({ next: { ...current, ...change }, emptyQueue: false }))).toBe(true);
    const [row] = await database.db.query<{ next_attempt_at: string }>('SELECT next_attempt_at FROM webhook_delivery WHERE webhook_id = $1', [webhook.id]);
    expect(Number(row.next_attempt_at)).toBe(nextAttemptAt);
  });
});

/**
 * The matcher against the real broker and database (SPEC sections 2 and 3): durable document state, the payload
 * events it publishes, duplicates, bad input, live webhook changes, renames, crash safety and scaling out.
 */
import { PartitionMetadata, Partitioners } from 'kafkajs';
import { Client } from 'pg';
import type { PayloadEvent, PayloadRow } from '../libs/domain';
import {
  apiClient,
  collectTopic,
  createTestDatabase,
  createTestKafka,
  engineEnv,
  logEntries,
  readMetric,
  RunningApp,
  startApp,
  stopAllApps,
  TestDatabase,
  TestKafka,
  TopicCollector,
  uniqueName,
  waitFor,
} from './support/harness';

type Action = unknown[];
type Bundle = { docId: string; actionNum: number; actions: Action[]; userActions?: unknown[] };

/** What every describe block shares: one database, one topic set, the API and the matcher(s), the topic readers. */
class MatcherRig {
  db!: TestDatabase;
  k!: TestKafka;
  env!: Record<string, string>;
  api!: RunningApp;
  matcher!: RunningApp;
  events!: TopicCollector;
  dlq!: TopicCollector;

  async start(partitions = 2, extraEnv: Record<string, string> = {}): Promise<void> {
    [this.db, this.k] = await Promise.all([createTestDatabase(), createTestKafka(partitions)]);
    this.env = engineEnv(this.db, this.k, { ALLOWED_WEBHOOK_DOMAINS: 'hooks.example.com', TOPIC_PARTITIONS: String(partitions), ...extraEnv });
    [this.api, this.matcher, this.events, this.dlq] = await Promise.all([
      startApp('config-api', this.env),
      startApp('matcher', this.env),
      collectTopic(this.k.kafka, this.k.eventsTopic),
      collectTopic(this.k.kafka, `${this.k.actionsTopic}.dlq`),
    ]);
  }

  async close(): Promise<void> {
    await Promise.all([this.events?.close(), this.dlq?.close()]);
    await stopAllApps();
    await Promise.all([this.k?.close(), this.db?.drop()]);
  }

  call(method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
    return apiClient(() => this.api.url)(method, route, body);
  }

  /** Appends bundles in one request (key = docId), in order. */
  async publish(...bundles: Bundle[]): Promise<void> {
    await this.k.producer.send({
      topic: this.k.actionsTopic,
      acks: -1,
      messages: bundles.map((b) => ({ key: b.docId, value: JSON.stringify({ userActions: [], ...b }) })),
    });
  }

  /** Waits until the matcher saved the document at `actionNum` (its events are then on the topic). */
  async applied(docId: string, actionNum: number): Promise<void> {
    await waitFor(`${docId} to reach actionNum ${actionNum}`, async () => {
      const rows = await this.db.query<{ n: string }>('SELECT last_action_num AS n FROM docs WHERE doc_id = $1', [docId]);
      return rows.length > 0 && Number(rows[0].n) >= actionNum;
    });
  }

  /** Every event the matcher published for bundles up to `actionNum` of the document has been read. */
  async settled(docId: string, actionNum: number): Promise<void> {
    await this.applied(docId, actionNum);
    await this.events.caughtUp();
  }

  async createWebhook(docId: string, fields: Record<string, unknown>): Promise<string> {
    const res = await this.call('POST', `/api/docs/${docId}/webhooks`, {
      webhooks: [{ fields: { url: 'https://hooks.example.com/hook', ...fields } }],
    });
    expect(res).toMatchObject({ status: 200 });
    return res.body.webhooks[0].id;
  }

  async patchWebhook(docId: string, id: string, fields: Record<string, unknown>): Promise<void> {
    expect(await this.call('PATCH', `/api/docs/${docId}/webhooks/${id}`, fields)).toMatchObject({ status: 200 });
  }

  /** Payload events of one webhook, in topic order (all of a webhook's events share a partition). */
  eventsOf(webhookId: string): PayloadEvent[] {
    return this.events.messages.filter((m) => m.key === webhookId).map((m) => JSON.parse(m.value as string) as PayloadEvent);
  }

  async eventFor(webhookId: string, actionNum: number): Promise<PayloadEvent> {
    const event = await waitFor(`event of bundle ${actionNum} for ${webhookId}`, () => this.eventsOf(webhookId).find((e) => e.actionNum === actionNum));
    return event as PayloadEvent;
  }

  async restartMatcher(): Promise<void> {
    await this.matcher.stop();
    this.matcher = await startApp('matcher', this.env);
  }
}

const add = (id: number, fields: Record<string, unknown>): PayloadRow => ({ type: 'add', id, fields, previous: {}, changedColIds: [] });
const update = (id: number, fields: Record<string, unknown>, previous: Record<string, unknown>, changedColIds: string[]): PayloadRow => ({
  type: 'update',
  id,
  fields,
  previous,
  changedColIds,
});
const remove = (id: number, fields: Record<string, unknown>): PayloadRow => ({ type: 'remove', id, fields, previous: {}, changedColIds: [] });

describe('matcher', () => {
  const rig = new MatcherRig();
  const docId = (name: string): string => uniqueName(name);

  beforeAll(() => rig.start());
  afterAll(() => rig.close());

  it('applies every DocAction to durable state: firing after a restart compares with the rows saved before it', async () => {
    const doc = docId('state');
    await rig.publish({
      docId: doc,
      actionNum: 1,
      actions: [
        ['AddTable', 'Orders', [
          { id: 'Item', type: 'Text' }, { id: 'Qty', type: 'Int' }, { id: 'Price', type: 'Numeric' },
          { id: 'Done', type: 'Bool' }, { id: 'Tags', type: 'ChoiceList' }, { id: 'Who', type: 'Ref:People' },
        ]],
      ],
    });
    await rig.applied(doc, 1);
    const w = await rig.createWebhook(doc, { tableId: 'Orders', eventTypes: ['add', 'update', 'remove'] });
    const defaults = { Price: 0, Done: false, Tags: null, Who: 0 };

    await rig.publish({ docId: doc, actionNum: 2, actions: [['BulkAddRecord', 'Orders', [1, 2, 3], { Item: ['Tea', 'Jam', 'Oil'], Qty: [1, 2, 3] }]] });
    expect((await rig.eventFor(w, 2)).rows).toEqual([
      add(1, { Item: 'Tea', Qty: 1, ...defaults }),
      add(2, { Item: 'Jam', Qty: 2, ...defaults }),
      add(3, { Item: 'Oil', Qty: 3, ...defaults }),
    ]);

    // UpdateRecord / BulkUpdateRecord: a rewrite of the stored value is no change
    await rig.restartMatcher();
    await rig.publish({
      docId: doc,
      actionNum: 3,
      actions: [['UpdateRecord', 'Orders', 1, { Qty: 1 }], ['BulkUpdateRecord', 'Orders', [2, 3], { Qty: [20, 3], Item: ['Jam', 'Oil'] }]],
    });
    expect((await rig.eventFor(w, 3)).rows).toEqual([update(2, { Item: 'Jam', Qty: 20, ...defaults }, { Qty: 2 }, ['Qty'])]);

    // AddColumn: existing rows hold the type's default, so writing it changes nothing
    await rig.publish({
      docId: doc,
      actionNum: 4,
      actions: [['AddColumn', 'Orders', 'Note', { type: 'Text' }], ['UpdateRecord', 'Orders', 1, { Note: '' }], ['AddRecord', 'Orders', 4, { Item: 'Salt' }]],
    });
    expect((await rig.eventFor(w, 4)).rows).toEqual([add(4, { Item: 'Salt', Qty: 0, ...defaults, Note: '' })]);

    // RemoveColumn, RenameColumn, ModifyColumn
    await rig.publish({
      docId: doc,
      actionNum: 5,
      actions: [
        ['UpdateRecord', 'Orders', 1, { Note: 'fresh' }],
        ['RemoveColumn', 'Orders', 'Price'],
        ['RenameColumn', 'Orders', 'Item', 'Product'],
        ['ModifyColumn', 'Orders', 'Qty', { type: 'Numeric' }],
        ['UpdateRecord', 'Orders', 3, { Product: 'Olive oil' }],
      ],
    });
    const after5 = { Done: false, Tags: null, Who: 0 };
    expect((await rig.eventFor(w, 5)).rows).toEqual([
      update(1, { Product: 'Tea', Qty: 1, ...after5, Note: 'fresh' }, { Note: '' }, ['Note']),
      update(3, { Product: 'Olive oil', Qty: 3, ...after5, Note: '' }, { Product: 'Oil' }, ['Product']),
    ]);

    // RemoveRecord / BulkRemoveRecord send the last state saved before the restart, under the new column names
    await rig.restartMatcher();
    await rig.publish({
      docId: doc,
      actionNum: 6,
      actions: [['UpdateRecord', 'Orders', 1, { Qty: 1 }], ['RemoveRecord', 'Orders', 2], ['BulkRemoveRecord', 'Orders', [3]]],
    });
    expect((await rig.eventFor(w, 6)).rows).toEqual([
      remove(2, { Product: 'Jam', Qty: 20, ...after5, Note: '' }),
      remove(3, { Product: 'Olive oil', Qty: 3, ...after5, Note: '' }),
    ]);

    // ReplaceTableData: surviving rows count as added, the others go
    await rig.publish({ docId: doc, actionNum: 7, actions: [['ReplaceTableData', 'Orders', [1, 5], { Product: ['Tea', 'Rice'], Qty: [1, 5] }]] });
    expect((await rig.eventFor(w, 7)).rows).toEqual([
      add(1, { Product: 'Tea', Qty: 1, ...after5, Note: '' }),
      remove(4, { Product: 'Salt', Qty: 0, ...after5, Note: '' }),
      add(5, { Product: 'Rice', Qty: 5, ...after5, Note: '' }),
    ]);

    await rig.publish({
      docId: doc,
      actionNum: 8,
      actions: [['UpdateRecord', 'Orders', 1, { Note: '' }], ['UpdateRecord', 'Orders', 4, { Qty: 7 }], ['UpdateRecord', 'Orders', 5, { Qty: 6 }]],
    });
    expect((await rig.eventFor(w, 8)).rows).toEqual([
      // row 4 went with the replacement: an update of an unseen row, every written column changed, no old values
      update(4, { Product: '', Qty: 7, ...after5, Note: '' }, {}, ['Qty']),
      update(5, { Product: 'Rice', Qty: 6, ...after5, Note: '' }, { Qty: 5 }, ['Qty']),
    ]);

    // TableData: a new baseline, firing nothing
    await rig.publish({ docId: doc, actionNum: 9, actions: [['TableData', 'Orders', [5, 6], { Product: ['Rice', 'Salt'], Qty: [50, 60] }]] });
    await rig.restartMatcher();
    await rig.publish({
      docId: doc,
      actionNum: 10,
      actions: [['UpdateRecord', 'Orders', 6, { Qty: 60 }], ['UpdateRecord', 'Orders', 5, { Qty: 51 }], ['UpdateRecord', 'Orders', 1, { Qty: 2 }]],
    });
    expect((await rig.eventFor(w, 10)).rows).toEqual([
      update(1, { Product: '', Qty: 2, ...after5, Note: '' }, {}, ['Qty']),
      update(5, { Product: 'Rice', Qty: 51, ...after5, Note: '' }, { Qty: 50 }, ['Qty']),
    ]);

    // RenameTable
    await rig.publish({ docId: doc, actionNum: 11, actions: [['RenameTable', 'Orders', 'Sales'], ['UpdateRecord', 'Sales', 6, { Qty: 61 }]] });
    expect(await rig.eventFor(w, 11)).toMatchObject({
      tableId: 'Sales',
      rows: [update(6, { Product: 'Salt', Qty: 61, ...after5, Note: '' }, { Qty: 60 }, ['Qty'])],
    });
    await rig.publish({ docId: doc, actionNum: 12, actions: [['UpdateRecord', 'Sales', 5, { Product: 'Brown rice' }]] });
    expect(await rig.eventFor(w, 12)).toMatchObject({
      tableId: 'Sales',
      rows: [update(5, { Product: 'Brown rice', Qty: 51, ...after5, Note: '' }, { Product: 'Rice' }, ['Product'])],
    });

    // RemoveTable: a table re-created under the same name is another table
    await rig.publish({
      docId: doc,
      actionNum: 13,
      actions: [['RemoveTable', 'Sales'], ['AddTable', 'Sales', [{ id: 'Qty', type: 'Int' }]], ['AddRecord', 'Sales', 1, { Qty: 1 }]],
    });
    await rig.settled(doc, 13);
    expect(rig.eventsOf(w).map((e) => e.actionNum)).toEqual([2, 3, 4, 5, 6, 7, 8, 10, 11, 12]);
  });

  it('publishes one event per (bundle, webhook): key, eventId, rows in id order with every column', async () => {
    const doc = docId('shape');
    await rig.publish({
      docId: doc,
      actionNum: 1,
      actions: [
        ['AddTable', 'Items', [{ id: 'Name', type: 'Text' }, { id: 'Qty', type: 'Int' }, { id: 'Ready', type: 'Bool' }, { id: 'manualSort', type: 'ManualSortPos' }]],
        ['AddTable', 'Other', [{ id: 'X', type: 'Any' }]],
      ],
    });
    await rig.applied(doc, 1);
    const all = await rig.createWebhook(doc, { tableId: 'Items', eventTypes: ['add', 'update'] });
    const ready = await rig.createWebhook(doc, { tableId: 'Items', eventTypes: ['add'], isReadyColumn: 'Ready' });
    const other = await rig.createWebhook(doc, { tableId: 'Other', eventTypes: ['add'] });
    const watched = await rig.createWebhook(doc, { tableId: 'Items', eventTypes: ['update'], watchedColIds: ['Qty'] });

    const before = Date.now();
    await rig.publish({
      docId: doc,
      actionNum: 2,
      actions: [
        ['BulkAddRecord', 'Items', [9, 2, 5], { Name: ['n9', 'n2', 'n5'], Ready: [true, 'true', true], manualSort: [9, 2, 5] }],
        ['UpdateRecord', 'Items', 2, { Qty: 4 }],
        ['AddRecord', 'Other', 3, { X: ['L', 1, 2] }],
        ['AddRecord', 'Items', 7, { Name: 'gone' }],
        ['RemoveRecord', 'Items', 7],
      ],
    });
    await rig.settled(doc, 2);
    const row = (id: number, Name: string, Qty: number, Ready: unknown) => ({ Name, Qty, Ready, manualSort: id });
    for (const [webhookId, tableId, rows] of [
      [all, 'Items', [add(2, row(2, 'n2', 4, 'true')), add(5, row(5, 'n5', 0, true)), add(9, row(9, 'n9', 0, true))]],
      [ready, 'Items', [add(5, row(5, 'n5', 0, true)), add(9, row(9, 'n9', 0, true))]],
      [other, 'Other', [add(3, { X: ['L', 1, 2] })]],
    ] as const) {
      const messages = rig.events.messages.filter((m) => m.key === webhookId);
      expect(messages).toHaveLength(1);
      const event = JSON.parse(messages[0].value as string) as PayloadEvent;
      expect(event).toEqual({ v: 1, eventId: `${doc}:2:${webhookId}`, webhookId, docId: doc, tableId, actionNum: 2, bundleTime: expect.any(Number), rows });
      expect(event.bundleTime).toBeGreaterThanOrEqual(before - 1000);
      expect(event.bundleTime).toBeLessThanOrEqual(Date.now());
    }
    expect(rig.eventsOf(watched)).toEqual([]);

    await rig.publish({
      docId: doc,
      actionNum: 3,
      actions: [['BulkUpdateRecord', 'Items', [2, 5, 9], { Qty: [4, 1, 0], Name: ['n2', 'n5b', 'n9'] }], ['UpdateRecord', 'Items', 2, { Ready: true }]],
    });
    await rig.settled(doc, 3);
    const row5 = update(5, row(5, 'n5b', 1, true), { Name: 'n5', Qty: 0 }, ['Name', 'Qty']);
    expect((await rig.eventFor(all, 3)).rows).toEqual([update(2, row(2, 'n2', 4, true), { Ready: 'true' }, ['Ready']), row5]);
    // the ready value became exactly true: add
    expect((await rig.eventFor(ready, 3)).rows).toEqual([add(2, row(2, 'n2', 4, true))]);
    // watched columns filter updates, previous still holds every changed column
    expect((await rig.eventFor(watched, 3)).rows).toEqual([row5]);
    expect(rig.eventsOf(other).map((e) => e.actionNum)).toEqual([2]);
  });

  it('splits an event too large for one message into parts of consecutive rows, each with its own id', async () => {
    const doc = docId('import');
    await rig.publish({ docId: doc, actionNum: 1, actions: [['AddTable', 'Rows', [{ id: 'Text', type: 'Text' }]]] });
    await rig.applied(doc, 1);
    const w = await rig.createWebhook(doc, { tableId: 'Rows', eventTypes: ['add'] });
    // an import: 4,000 rows of 200 characters, about 1 MB of payload for one webhook
    const ids = Array.from({ length: 4000 }, (_, i) => i + 1);
    await rig.publish({ docId: doc, actionNum: 2, actions: [['BulkAddRecord', 'Rows', ids, { Text: ids.map((id) => `${id}`.padEnd(200, '.')) }]] });
    await rig.settled(doc, 2);
    const messages = await waitFor('every part', () => {
      const found = rig.events.messages.filter((m) => m.key === w);
      const rows = found.reduce((n, m) => n + (JSON.parse(m.value as string) as PayloadEvent).rows.length, 0);
      return rows >= ids.length ? found : undefined;
    });
    const parts = messages.map((m) => JSON.parse(m.value as string) as PayloadEvent);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.map((p) => p.eventId)).toEqual([`${doc}:2:${w}`, ...parts.slice(1).map((_, i) => `${doc}:2:${w}:part${i + 2}`)]);
    for (const m of messages) expect(Buffer.byteLength(m.value as string)).toBeLessThanOrEqual(512 * 1024);
    expect(parts.flatMap((p) => p.rows.map((r) => r.id))).toEqual(ids);
  });

  it('skips duplicates (same or lower actionNum), allows gaps and keeps the order of a document', async () => {
    const doc = docId('dup');
    await rig.publish({ docId: doc, actionNum: 1, actions: [['AddTable', 'T', [{ id: 'V', type: 'Int' }]]] });
    await rig.applied(doc, 1);
    const w = await rig.createWebhook(doc, { tableId: 'T', eventTypes: ['add', 'update'] });
    await rig.publish({ docId: doc, actionNum: 2, actions: [['AddRecord', 'T', 1, { V: 1 }]] });
    await rig.eventFor(w, 2);
    const [duplicates, gaps] = await Promise.all([
      readMetric(rig.matcher, 'matcher_bundles_duplicate_total'),
      readMetric(rig.matcher, 'matcher_action_num_gaps_total'),
    ]);

    const chain = Array.from({ length: 25 }, (_, i): Bundle => ({ docId: doc, actionNum: 6 + i, actions: [['UpdateRecord', 'T', 1, { V: 6 + i }]] }));
    await rig.publish(
      { docId: doc, actionNum: 2, actions: [['AddRecord', 'T', 2, { V: 2 }]] },
      { docId: doc, actionNum: 1, actions: [['AddRecord', 'T', 3, { V: 3 }]] },
      { docId: doc, actionNum: 5, actions: [['UpdateRecord', 'T', 1, { V: 5 }]] },
      { docId: doc, actionNum: 4, actions: [['AddRecord', 'T', 4, { V: 4 }]] },
      ...chain,
      // rows 2 and 4 were never added: the duplicates changed nothing
      { docId: doc, actionNum: 31, actions: [['BulkUpdateRecord', 'T', [2, 4], { V: [2, 4] }]] },
    );
    await rig.settled(doc, 31);

    const events = rig.eventsOf(w);
    expect(events.map((e) => e.actionNum)).toEqual([2, 5, ...chain.map((b) => b.actionNum), 31]);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
    expect(events[1].rows).toEqual([update(1, { V: 5 }, { V: 1 }, ['V'])]);
    // each update compares with the one before it: applied in order
    for (const e of events.slice(2, -1)) expect(e.rows).toEqual([update(1, { V: e.actionNum }, { V: e.actionNum - 1 }, ['V'])]);
    expect(events[events.length - 1].rows).toEqual([update(2, { V: 2 }, {}, ['V']), update(4, { V: 4 }, {}, ['V'])]);
    expect(await readMetric(rig.matcher, 'matcher_bundles_duplicate_total')).toBe(duplicates + 3);
    expect(await readMetric(rig.matcher, 'matcher_action_num_gaps_total')).toBe(gaps + 1);
  });

  it('dead-letters bad input unchanged with its reason, changes no state and keeps going', async () => {
    const doc = docId('bad');
    await rig.publish({ docId: doc, actionNum: 1, actions: [['AddTable', 'T', [{ id: 'V', type: 'Int' }]], ['AddRecord', 'T', 1, { V: 1 }]] });
    await rig.applied(doc, 1);
    const w = await rig.createWebhook(doc, { tableId: 'T', eventTypes: ['update'] });
    const deadBefore = await readMetric(rig.matcher, 'matcher_bundles_dead_lettered_total');
    const dlqBefore = rig.dlq.messages.length;

    const bad: Array<{ key: string | null; value: string; reason: RegExp }> = [
      { key: doc, value: '{"docId": "oops", ', reason: /invalid JSON/ },
      { key: doc, value: JSON.stringify({ actionNum: 2, actions: [] }), reason: /docId is missing/ },
      { key: doc, value: JSON.stringify({ docId: doc, actions: [] }), reason: /actionNum is missing/ },
      { key: null, value: JSON.stringify({ docId: doc, actionNum: 2, actions: [['Explode', 'T']] }), reason: /unknown action "Explode"/ },
      // one bad action rejects the whole bundle, the valid update before it included
      {
        key: doc,
        value: JSON.stringify({ docId: doc, actionNum: 2, actions: [['UpdateRecord', 'T', 1, { V: 99 }], ['AddRecord', 'T', 'x', {}]] }),
        reason: /AddRecord row id/,
      },
      {
        key: doc,
        value: JSON.stringify({ docId: doc, actionNum: 2, actions: [['UpdateRecord', 'T', 1, { V: 99 }], ['BulkAddRecord', 'T', [2, 3], { V: [1] }]] }),
        reason: /has 1 values for 2 rows/,
      },
      // what Postgres could not store: without the parser's checks, every retry of the batch failed in the save
      { key: doc, value: JSON.stringify({ docId: doc, actionNum: 2, actions: [['UpdateRecord', 'T', 1, { V: 'a\u0000b' }]] }), reason: /cannot store/ },
      { key: doc, value: JSON.stringify({ docId: doc, actionNum: 2, actions: [['UpdateRecord', 'T', 1, { V: '\ud800' }]] }), reason: /cannot store/ },
      { key: doc, value: JSON.stringify({ docId: doc, actionNum: 2, actions: [['AddRecord', 'T', 2 ** 31, { V: 1 }]] }), reason: /from 1 to 2147483647/ },
      // read as Infinity, it was stored and sent as null
      { key: doc, value: JSON.stringify({ docId: doc, actionNum: 2, actions: [['UpdateRecord', 'T', 1, { V: 0 }]] }).replace('"V":0', '"V":1e400'), reason: /number too large for JSON/ },
      { key: doc, value: JSON.stringify({ docId: '\u4e00'.repeat(1000), actionNum: 1, actions: [] }), reason: /docId cannot be stored/ },
      // parsed fine, but JSON.stringify overflows the stack writing it into the payload event
      {
        key: doc,
        value: JSON.stringify({ docId: doc, actionNum: 2, actions: [['UpdateRecord', 'T', 1, { V: 0 }]] }).replace('"V":0', `"V":${'['.repeat(10_000)}${']'.repeat(10_000)}`),
        reason: /nests arrays or objects/,
      },
      // under another key (or none) a document's bundles may spread over partitions, and lower actionNums be skipped
      { key: `${doc}-other`, value: JSON.stringify({ docId: doc, actionNum: 2, actions: [['UpdateRecord', 'T', 1, { V: 50 }]] }), reason: /message key ".*-other" is not the docId/ },
      { key: null, value: JSON.stringify({ docId: doc, actionNum: 2, actions: [['UpdateRecord', 'T', 1, { V: 51 }]] }), reason: /message key missing is not the docId/ },
      ...Array.from({ length: 150 }, (_, i) => ({ key: `junk-${i % 7}`, value: `garbage ${i}`, reason: /invalid JSON/ })),
      { key: `${doc}-${'k'.repeat(1000)}`, value: 'garbage with a long key', reason: /invalid JSON/ },
    ];
    await rig.k.producer.send({ topic: rig.k.actionsTopic, acks: -1, messages: bad.map(({ key, value }) => ({ key, value })) });
    // a good bundle after the bad ones, with the actionNum the bad ones carried
    const sentAt = Date.now();
    await rig.publish({ docId: doc, actionNum: 2, actions: [['UpdateRecord', 'T', 1, { V: 99 }]] });
    expect((await rig.eventFor(w, 2)).rows).toEqual([update(1, { V: 99 }, { V: 1 }, ['V'])]);
    expect(Date.now() - sentAt).toBeLessThan(5000);

    await waitFor('the dead letters', () => rig.dlq.messages.length >= dlqBefore + bad.length);
    const dead = rig.dlq.messages.slice(dlqBefore);
    expect(dead).toHaveLength(bad.length);
    for (const b of bad) {
      const found = dead.filter((d) => d.value === b.value && d.key === b.key);
      expect(found).toHaveLength(1);
      expect(found[0].headers['dlq-reason']).toMatch(b.reason);
    }
    await waitFor('the dead-letter metric', async () => (await readMetric(rig.matcher, 'matcher_bundles_dead_lettered_total')) === deadBefore + bad.length);
    // one warn line per message, with its ids; the key cut to 200 characters
    const mine = (key: unknown) => key === null || (typeof key === 'string' && (key.startsWith(doc) || key.startsWith('junk-')));
    const logged = () => logEntries(rig.matcher, 'bundle dead-lettered').filter((e) => mine(e.key));
    await waitFor('the dead-letter log lines', () => logged().length >= bad.length);
    expect(logged().map((e) => e.key).sort()).toEqual(bad.map((b) => b.key?.slice(0, 200) ?? null).sort());
    expect(new Set(logged().map((e) => `${e.partition}:${e.offset}`)).size).toBe(bad.length);
    for (const e of logged()) expect(e).toMatchObject({ level: 'warn', partition: expect.any(Number), offset: expect.stringMatching(/^\d+$/), reason: expect.any(String) });
  });

  it('dead-letters a bundle that would fire a row too large for one message, and keeps going', async () => {
    // each bundle fits in a message, but the row they build does not: without the check, the broker refused the
    // update's event on every retry of its batch and the partition stopped for good
    const doc = docId('bigrow');
    await rig.publish({ docId: doc, actionNum: 1, actions: [['AddTable', 'T', [{ id: 'C', type: 'Text' }]]] });
    await rig.applied(doc, 1);
    const w = await rig.createWebhook(doc, { tableId: 'T', eventTypes: ['add', 'update'] });
    const dlqBefore = rig.dlq.messages.length;
    const big = (c: string) => c.repeat(600_000);
    await rig.publish({ docId: doc, actionNum: 2, actions: [['AddRecord', 'T', 1, { C: big('x') }]] });
    await rig.publish({ docId: doc, actionNum: 3, actions: [['UpdateRecord', 'T', 1, { C: big('y') }]] });
    await rig.publish({ docId: doc, actionNum: 4, actions: [['UpdateRecord', 'T', 1, { C: 'z' }]] });
    expect((await rig.eventFor(w, 4)).rows).toEqual([update(1, { C: 'z' }, { C: big('x') }, ['C'])]);
    expect(rig.eventsOf(w).map((e) => e.actionNum)).toEqual([2, 4]);
    await waitFor('the dead letter', () => rig.dlq.messages.length > dlqBefore);
    const dead = rig.dlq.messages.slice(dlqBefore);
    expect(dead).toHaveLength(1);
    expect(JSON.parse(dead[0].value as string).actionNum).toBe(3);
    expect(dead[0].headers['dlq-reason']).toMatch(/row 1 of table "T" would be sent as more than 1000000 bytes/);
  });

  it('dead-letters a bundle whose rows, filled to the table width, would hold too many cells', async () => {
    // 100,000 row ids into a table of 200 columns (600 KB) made 20 million cells: the matcher ran out of heap on every retry
    const doc = docId('wide');
    const columns = Array.from({ length: 200 }, (_, i) => ({ id: `C${i}`, type: 'Numeric' }));
    await rig.publish({ docId: doc, actionNum: 1, actions: [['AddTable', 'T', columns]] });
    await rig.applied(doc, 1);
    const dlqBefore = rig.dlq.messages.length;
    const ids = Array.from({ length: 6251 }, (_, i) => i + 1);
    await rig.publish({ docId: doc, actionNum: 2, actions: [['BulkAddRecord', 'T', ids, {}]] });
    await rig.publish({ docId: doc, actionNum: 3, actions: [['AddRecord', 'T', 1, { C0: 5 }]] });
    await rig.applied(doc, 3);
    expect(await rig.db.query('SELECT row_id FROM doc_rows WHERE doc_id = $1', [doc])).toEqual([{ row_id: 1 }]);
    await waitFor('the dead letter', () => rig.dlq.messages.length > dlqBefore);
    const dead = rig.dlq.messages.slice(dlqBefore);
    expect(dead.map((d) => JSON.parse(d.value as string).actionNum)).toEqual([2]);
    expect(dead[0].headers['dlq-reason']).toMatch(/cannot apply bundle: its rows would hold more than 1250000 cells/);
  });

  it('honours webhook changes without a restart, firing only for bundles appended after creation or re-enabling', async () => {
    const doc = docId('live');
    await rig.publish({ docId: doc, actionNum: 1, actions: [['AddTable', 'T', [{ id: 'V', type: 'Int' }]]] });
    await rig.applied(doc, 1);

    // a lagging matcher reads a bundle appended before the webhook existed: it does not fire
    await rig.matcher.stop();
    await rig.publish({ docId: doc, actionNum: 2, actions: [['AddRecord', 'T', 1, { V: 1 }]] });
    const w = await rig.createWebhook(doc, { tableId: 'T', eventTypes: ['add', 'update'] });
    await rig.publish({ docId: doc, actionNum: 3, actions: [['AddRecord', 'T', 2, { V: 2 }]] });
    rig.matcher = await startApp('matcher', rig.env);
    expect((await rig.eventFor(w, 3)).rows).toEqual([add(2, { V: 2 })]);

    // every change below is followed at once by a bundle, which must already see it
    await rig.patchWebhook(doc, w, { eventTypes: ['update'] });
    await rig.publish({ docId: doc, actionNum: 4, actions: [['AddRecord', 'T', 3, { V: 3 }], ['UpdateRecord', 'T', 1, { V: 10 }]] });
    expect((await rig.eventFor(w, 4)).rows).toEqual([update(1, { V: 10 }, { V: 1 }, ['V'])]);

    await rig.patchWebhook(doc, w, { enabled: false });
    await rig.publish({ docId: doc, actionNum: 5, actions: [['UpdateRecord', 'T', 1, { V: 11 }]] });
    await rig.settled(doc, 5);
    await rig.patchWebhook(doc, w, { enabled: true });
    await rig.publish({ docId: doc, actionNum: 6, actions: [['UpdateRecord', 'T', 1, { V: 12 }]] });
    // the state moved on while it was disabled
    expect((await rig.eventFor(w, 6)).rows).toEqual([update(1, { V: 12 }, { V: 11 }, ['V'])]);

    // re-enabled after a bundle was appended: a lagging matcher does not fire for that bundle
    await rig.matcher.stop();
    await rig.patchWebhook(doc, w, { enabled: false });
    await rig.publish({ docId: doc, actionNum: 7, actions: [['UpdateRecord', 'T', 1, { V: 13 }]] });
    await rig.patchWebhook(doc, w, { enabled: true });
    await rig.publish({ docId: doc, actionNum: 8, actions: [['UpdateRecord', 'T', 1, { V: 14 }]] });
    rig.matcher = await startApp('matcher', rig.env);
    expect((await rig.eventFor(w, 8)).rows).toEqual([update(1, { V: 14 }, { V: 13 }, ['V'])]);

    const created = await rig.createWebhook(doc, { tableId: 'T', eventTypes: ['add'] });
    await rig.publish({ docId: doc, actionNum: 9, actions: [['AddRecord', 'T', 4, { V: 4 }]] });
    expect((await rig.eventFor(created, 9)).rows).toEqual([add(4, { V: 4 })]);

    expect(await rig.call('DELETE', `/api/docs/${doc}/webhooks/${created}`)).toMatchObject({ status: 200 });
    await rig.publish({ docId: doc, actionNum: 10, actions: [['AddRecord', 'T', 5, { V: 5 }], ['UpdateRecord', 'T', 1, { V: 15 }]] });
    expect((await rig.eventFor(w, 10)).rows).toEqual([update(1, { V: 15 }, { V: 14 }, ['V'])]);
    await rig.settled(doc, 10);
    expect(rig.eventsOf(w).map((e) => e.actionNum)).toEqual([3, 4, 6, 8, 10]);
    expect(rig.eventsOf(created).map((e) => e.actionNum)).toEqual([9]);
  });

  it("accepts Grist's stored shape, declares unknown tables by their data, and lets Calculate bundles update state silently", async () => {
    const doc = docId('grist');
    await rig.k.publishRaw(doc, JSON.stringify({ docId: doc, actionNum: 1, userActions: [], stored: [[0, ['AddRecord', 'Auto', 1, { A: 1, Ready: true }]]] }));
    await rig.applied(doc, 1);
    const w = await rig.createWebhook(doc, { tableId: 'Auto', eventTypes: ['add', 'update'], isReadyColumn: 'Ready' });

    await rig.publish({
      docId: doc,
      actionNum: 2,
      userActions: [['Calculate']],
      actions: [['UpdateRecord', 'Auto', 1, { A: 2 }], ['AddRecord', 'Auto', 2, { A: 1, Ready: true }]],
    });
    await rig.k.publishRaw(
      doc,
      JSON.stringify({
        docId: doc,
        actionNum: 3,
        userActions: [],
        stored: [
          [0, ['AddColumn', 'Auto', 'B', { type: 'Int' }]],
          [0, ['UpdateRecord', 'Auto', 2, { A: 5 }]],
          // readiness is strict: only the boolean true counts
          [1, ['BulkAddRecord', 'Auto', [3, 4], { A: [3, 4], Ready: [1, 'true'] }]],
        ],
        calc: [[0, ['UpdateRecord', 'Auto', 1, { A: 2 }]]],
      }),
    );
    await rig.settled(doc, 3);
    // row 1 already held the calculated value; row 2, added by the Calculate bundle, is an existing ready row
    expect(rig.eventsOf(w).map((e) => [e.actionNum, e.rows])).toEqual([[3, [update(2, { A: 5, Ready: true, B: 0 }, { A: 1 }, ['A'])]]]);
  });

  it('survives renames, treats a removed ready column as none and fires nothing once the table is removed', async () => {
    const doc = docId('rename');
    await rig.publish({
      docId: doc,
      actionNum: 1,
      actions: [
        ['AddTable', 'T', [{ id: 'Name', type: 'Text' }, { id: 'Qty', type: 'Int' }, { id: 'Ready', type: 'Bool' }]],
        ['BulkAddRecord', 'T', [1, 2], { Name: ['a', 'b'], Qty: [1, 2], Ready: [true, false] }],
      ],
    });
    await rig.applied(doc, 1);
    const w = await rig.createWebhook(doc, { tableId: 'T', eventTypes: ['add', 'update'], isReadyColumn: 'Ready', watchedColIds: ['Qty'] });

    await rig.publish({
      docId: doc,
      actionNum: 2,
      actions: [
        ['RenameTable', 'T', 'T2'],
        ['RenameColumn', 'T2', 'Qty', 'Amount'],
        ['RenameColumn', 'T2', 'Ready', 'IsReady'],
        ['BulkUpdateRecord', 'T2', [1, 2], { Amount: [10, 20] }],
      ],
    });
    expect(await rig.eventFor(w, 2)).toMatchObject({ tableId: 'T2', rows: [update(1, { Name: 'a', Amount: 10, IsReady: true }, { Amount: 1 }, ['Amount'])] });
    const listed = await rig.call('GET', `/api/docs/${doc}/webhooks`);
    expect(listed.body.webhooks[0].fields).toMatchObject({ tableId: 'T2', isReadyColumn: 'IsReady', watchedColIds: ['Amount'] });

    // an unwatched column changed: nothing; then the ready column goes and row 2 (never ready) updates
    await rig.publish(
      { docId: doc, actionNum: 3, actions: [['UpdateRecord', 'T2', 1, { Name: 'a2' }]] },
      { docId: doc, actionNum: 4, actions: [['RemoveColumn', 'T2', 'IsReady'], ['UpdateRecord', 'T2', 2, { Amount: 21 }]] },
      // the watched column goes: every changed column counts
      { docId: doc, actionNum: 5, actions: [['RemoveColumn', 'T2', 'Amount'], ['UpdateRecord', 'T2', 2, { Name: 'b2' }]] },
    );
    expect((await rig.eventFor(w, 4)).rows).toEqual([update(2, { Name: 'b', Amount: 21 }, { Amount: 20 }, ['Amount'])]);
    expect((await rig.eventFor(w, 5)).rows).toEqual([update(2, { Name: 'b2' }, { Name: 'b' }, ['Name'])]);

    await rig.publish({
      docId: doc,
      actionNum: 6,
      actions: [['UpdateRecord', 'T2', 1, { Name: 'a3' }], ['RemoveTable', 'T2'], ['AddRecord', 'T2', 1, { Name: 'new' }]],
    });
    await rig.publish({ docId: doc, actionNum: 7, actions: [['UpdateRecord', 'T2', 1, { Name: 'newer' }]] });
    await rig.settled(doc, 7);
    expect(rig.eventsOf(w).map((e) => e.actionNum)).toEqual([2, 4, 5]);
    const invalid = await rig.call('GET', `/api/docs/${doc}/webhooks`);
    expect(invalid.body.webhooks[0]).toMatchObject({ fields: { tableId: null }, usage: { status: 'invalid' } });
  });
});

/** Bundles from..to of each document, interleaved: bundle n adds row n, or (every third) updates row n - 1. */
function stream(docs: string[], from: number, to: number): Bundle[] {
  const bundles: Bundle[] = [];
  for (let n = from; n <= to; n++) {
    for (const docId of docs) {
      bundles.push(
        n % 3 === 0
          ? { docId, actionNum: n, actions: [['UpdateRecord', 'T', n - 1, { Qty: n * 100 }]] }
          : { docId, actionNum: n, actions: [['AddRecord', 'T', n, { Item: `i${n}`, Qty: n }]] },
      );
    }
  }
  return bundles;
}

const expectedRows = (n: number): PayloadRow[] =>
  n % 3 === 0
    ? [update(n - 1, { Item: `i${n - 1}`, Qty: n * 100 }, { Qty: n - 1 }, ['Qty'])]
    : [add(n, { Item: `i${n}`, Qty: n })];

/** Sets up documents with table T and one webhook each; returns webhook id by docId. */
async function docsWithWebhooks(rig: MatcherRig, docs: string[]): Promise<Map<string, string>> {
  await rig.publish(...docs.map((docId) => ({ docId, actionNum: 1, actions: [['AddTable', 'T', [{ id: 'Item', type: 'Text' }, { id: 'Qty', type: 'Int' }]]] })));
  const hooks = new Map<string, string>();
  for (const docId of docs) {
    await rig.applied(docId, 1);
    hooks.set(docId, await rig.createWebhook(docId, { tableId: 'T', eventTypes: ['add', 'update'] }));
  }
  return hooks;
}

/**
 * Every expected event is there at least once, copies of an eventId are identical, nothing else was published, and
 * each webhook's events first appear in actionNum order.
 */
function checkEvents(rig: MatcherRig, hooks: Map<string, string>, lastActionNum: number): void {
  const byId = new Map<string, string[]>();
  for (const m of rig.events.messages) {
    const event = JSON.parse(m.value as string) as PayloadEvent;
    expect(m.key).toBe(event.webhookId);
    byId.set(event.eventId, [...(byId.get(event.eventId) ?? []), m.value as string]);
  }
  let expected = 0;
  for (const [docId, webhookId] of hooks) {
    const firsts: number[] = [];
    for (const e of rig.eventsOf(webhookId)) if (!firsts.includes(e.actionNum)) firsts.push(e.actionNum);
    expect(firsts).toEqual(Array.from({ length: lastActionNum - 1 }, (_, i) => i + 2));
    for (let n = 2; n <= lastActionNum; n++) {
      const copies = byId.get(`${docId}:${n}:${webhookId}`) ?? [];
      expect(copies.length).toBeGreaterThanOrEqual(1);
      expect(new Set(copies).size).toBe(1);
      expect(JSON.parse(copies[0])).toMatchObject({ docId, webhookId, tableId: 'T', actionNum: n, rows: expectedRows(n) });
      expected++;
    }
  }
  expect(byId.size).toBe(expected);
}

describe('matcher memory', () => {
  const rig = new MatcherRig();

  // the heap limit the apps run with in production (app-process)
  beforeAll(() => rig.start(1, { NODE_OPTIONS: '--max-old-space-size=256' }));
  afterAll(() => rig.close());

  it('matches a batch whose bundles together would hold too many cells in smaller parts, in order, counting each once', async () => {
    // each bundle is under MAX_BUNDLE_CELLS (999 rows of 1,000 columns), 12 of them are not: a batch of them all
    // exhausted the heap on every retry
    const doc = uniqueName('cells');
    const columns = Array.from({ length: 1000 }, (_, i) => ({ id: `C${i}`, type: 'Numeric' }));
    await rig.publish({ docId: doc, actionNum: 1, actions: [['AddTable', 'T', columns]] });
    await rig.applied(doc, 1);
    const bundles = Array.from({ length: 12 }, (_, b) => ({
      docId: doc,
      actionNum: b + 2,
      actions: [['BulkAddRecord', 'T', Array.from({ length: 999 }, (_, i) => b * 999 + i + 1), {}]],
    }));
    await rig.publish(...bundles);
    const count = async () => (await rig.db.query<{ n: number }>('SELECT count(*)::int AS n FROM doc_rows WHERE doc_id = $1', [doc]))[0].n;
    await waitFor('every bundle applied', async () => (await count()) === 12 * 999, 60_000);
    await rig.applied(doc, 13);
    expect(rig.matcher.process.exitCode).toBeNull();
    expect(rig.dlq.messages).toHaveLength(0);
    // the parts matched and then given up on are not counted: the bench reads these counters
    expect(await readMetric(rig.matcher, 'matcher_bundles_applied_total')).toBe(13);
    expect(await readMetric(rig.matcher, 'matcher_row_changes_total')).toBe(12 * 999);
  }, 120_000);
});

describe('matcher crash safety', () => {
  const rig = new MatcherRig();
  beforeAll(() => rig.start());
  afterAll(() => rig.close());

  it('loses no event and never changes one across kill -9 at various moments of a stream of 300 bundles', async () => {
    const docs = Array.from({ length: 5 }, (_, i) => uniqueName(`crash${i}`));
    const hooks = await docsWithWebhooks(rig, docs);
    const distinct = (): number => new Set(rig.events.messages.map((m) => JSON.parse(m.value as string).eventId)).size;
    const all = stream(docs, 2, 61);
    const publishInSmallSends = (bundles: Bundle[]) => async (): Promise<void> => {
      for (let i = 0; i < bundles.length; i += 10) await rig.publish(...bundles.slice(i, i + 10));
    };
    const restart = async (): Promise<void> => {
      await rig.matcher.kill();
      rig.matcher = await startApp('matcher', rig.env);
    };

    // 1. killed after publishing a batch's events, while saving its state: a row lock holds the save. The save is
    // one statement, so it may still land once the lock goes; if not, the batch is matched again. Either way the
    // events on the topic are the same.
    const lock = new Client({ connectionString: rig.db.url });
    await lock.connect();
    await lock.query('BEGIN');
    await lock.query('SELECT 1 FROM docs WHERE doc_id = $1 FOR UPDATE', [docs[0]]);
    let published = publishInSmallSends(all.slice(0, 100))();
    await waitFor('the matcher to wait on the lock', async () => {
      const waiting = await rig.db.query(
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
      );
      return waiting.length > 0;
    });
    await rig.matcher.kill();
    await lock.query('ROLLBACK');
    await lock.end();
    rig.matcher = await startApp('matcher', rig.env);

    // 2. and 3. killed whatever it is doing once so many distinct events are out, while bundles keep coming
    for (const [phase, killAt] of [[1, 150], [2, 255]]) {
      published = published.then(publishInSmallSends(all.slice(phase * 100, phase * 100 + 100)));
      await waitFor(`${killAt} distinct events`, () => distinct() >= killAt, 40_000, 10);
      await restart();
    }
    await published;
    await waitFor('all 300 events', () => distinct() >= 300, 40_000);
    for (const docId of docs) await rig.settled(docId, 61);
    checkEvents(rig, hooks, 61);
  }, 100_000);
});

describe('two matchers in one consumer group', () => {
  const rig = new MatcherRig();
  let second: RunningApp;
  beforeAll(async () => {
    await rig.start(4);
    second = await startApp('matcher', rig.env);
  });
  afterAll(() => rig.close());

  /** Two documents per partition of the actions topic, as the producer's partitioner places them. */
  function docsOverPartitions(): string[] {
    const partitionMetadata = [0, 1, 2, 3].map((partitionId) => ({ partitionId, leader: 0 }) as PartitionMetadata);
    const partitioner = Partitioners.DefaultPartitioner();
    const perPartition = new Map<number, string[]>();
    while ([...perPartition.values()].filter((d) => d.length >= 2).length < 4) {
      const docId = uniqueName('pair');
      const p = partitioner({ topic: rig.k.actionsTopic, partitionMetadata, message: { key: docId, value: null } });
      const list = perPartition.get(p) ?? [];
      if (list.length < 2) perPartition.set(p, [...list, docId]);
    }
    return [...perPartition.values()].flat();
  }

  it('share the partitions, keep each document in order and produce every event, also after one leaves', async () => {
    const groupId = rig.env.MATCHER_GROUP_ID;
    await waitFor('both matchers in the group', async () => {
      const { groups } = await rig.k.admin.describeGroups([groupId]);
      return groups[0].state === 'Stable' && groups[0].members.length === 2;
    });
    const docs = docsOverPartitions();
    const hooks = await docsWithWebhooks(rig, docs);
    const appliedBefore = await Promise.all([rig.matcher, second].map((m) => readMetric(m, 'matcher_bundles_applied_total')));

    await rig.publish(...stream(docs, 2, 31));
    for (const docId of docs) await rig.settled(docId, 31);
    checkEvents(rig, hooks, 31);
    const appliedAfter = await Promise.all([rig.matcher, second].map((m) => readMetric(m, 'matcher_bundles_applied_total')));
    // each instance owns two of the four partitions, so each applied the bundles of four documents
    expect(appliedAfter.map((n, i) => n - appliedBefore[i])).toEqual([120, 120]);

    // one leaves: the other takes over its partitions and carries on from the saved state
    await second.stop();
    await rig.publish(...stream(docs, 32, 41));
    for (const docId of docs) await rig.settled(docId, 41);
    checkEvents(rig, hooks, 41);
  });
});

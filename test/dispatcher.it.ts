/**
 * The dispatcher against the real broker and database (SPEC sections 4 and 5): batching, retries that never reorder,
 * the `usage` status over time, isolation between webhooks, queue control, crashes and several instances.
 *
 * Webhooks are created over the API (the matcher learns the table from an AddTable bundle); rows are fed either
 * through the whole pipeline (bundles on doc-actions) or as payload events published straight to webhook-events,
 * which gives each test exact control over what is queued and when.
 */
import { createServer, Server } from 'node:http';
import { AddressInfo, createServer as createTcpServer } from 'node:net';
import { once } from 'node:events';
import {
  apiClient,
  createTestDatabase,
  createTestKafka,
  engineEnv,
  HoldingReceiver,
  logEntries,
  readTopic,
  ReceivedRequest,
  Receiver,
  Reply,
  RunningApp,
  startApp,
  startHoldingReceiver,
  startReceiver,
  stopAllApps,
  TestDatabase,
  TestKafka,
  waitFor,
} from './support/harness';
import { PayloadEvent } from '../libs/domain';

type Call = ReturnType<typeof apiClient>;

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const ids = (rows: unknown[]): number[] => rows.map((r) => (r as { id: number }).id);
const TABLE = 'Orders';

/** A deferred reply: a request is held until the test settles it. */
function gate(): { promise: Promise<Reply>; open(reply: Reply): void } {
  let open!: (reply: Reply) => void;
  const promise = new Promise<Reply>((resolve) => (open = resolve));
  return { promise, open };
}

/** Routes the shared receiver's answers by path, so each test scripts its own webhook. */
function router(receiver: Receiver) {
  const handlers = new Map<string, (req: ReceivedRequest) => Reply | Promise<Reply>>();
  receiver.reply((req) => (handlers.get(req.url) ?? (() => ({ status: 200 })))(req));
  const requests = (path: string): ReceivedRequest[] => receiver.requests.filter((r) => r.url === path);
  return {
    on: (path: string, fn: (req: ReceivedRequest) => Reply | Promise<Reply>) => handlers.set(path, fn),
    requests,
    /** Rows of the requests answered 2xx, in order. */
    rows: (path: string): unknown[] =>
      requests(path).flatMap((r) => (r.status !== null && r.status < 300 && Array.isArray(r.json) ? r.json : [])),
  };
}

/** Feeds a webhook's queue directly: one payload event (v1) per call, rows `{id, Item}`. */
function eventFeeder(k: TestKafka, docId: string) {
  let actionNum = 1000;
  const event = (webhookId: string, rowIds: number[]): PayloadEvent => {
    actionNum += 1;
    return {
      v: 1,
      eventId: `${docId}:${actionNum}:${webhookId}`,
      webhookId,
      docId,
      tableId: TABLE,
      actionNum,
      // the dispatcher drops events older than the webhook (activeSince), so this is "now"
      bundleTime: Date.now(),
      rows: rowIds.map((id) => ({ type: 'add', id, fields: { Item: `item ${id}` }, previous: {}, changedColIds: [] })),
    };
  };
  /** Publishes the events in one request, so the dispatcher reads them together. Key = webhookId unless given. */
  const send = async (events: PayloadEvent[], key?: string): Promise<void> => {
    await k.producer.send({
      topic: k.eventsTopic,
      acks: -1,
      messages: events.map((e) => ({ key: key ?? e.webhookId, value: JSON.stringify(e) })),
    });
  };
  return { event, send, publish: (webhookId: string, rowIds: number[]) => send([event(webhookId, rowIds)]) };
}

async function addTable(k: TestKafka, docId: string): Promise<void> {
  await k.publish({ docId, actionNum: 1, actions: [['AddTable', TABLE, [{ id: 'Item', type: 'Text' }, { id: 'Qty', type: 'Int' }]]] });
}

async function createWebhook(call: Call, docId: string, url: string, fields: Record<string, unknown> = {}): Promise<string> {
  const res = await waitFor(`the API to know ${docId}.${TABLE}`, async () => {
    const r = await call('POST', `/api/docs/${docId}/webhooks`, { webhooks: [{ fields: { url, eventTypes: ['add'], tableId: TABLE, ...fields } }] });
    if (r.status !== 200 && r.status !== 404 && r.status !== 400) throw new Error(`POST webhooks: ${r.status} ${JSON.stringify(r.body)}`);
    return r.status === 200 ? r : null;
  });
  return res!.body.webhooks[0].id;
}

async function usageOf(call: Call, docId: string, webhookId: string): Promise<any> {
  const res = await call('GET', `/api/docs/${docId}/webhooks`);
  expect(res.status).toBe(200);
  return res.body.webhooks.find((w: { id: string }) => w.id === webhookId)?.usage;
}

/** Polls a webhook's usage until `ok` holds; returns it. */
function usageWhen(call: Call, docId: string, webhookId: string, what: string, ok: (u: any) => boolean, timeoutMs?: number): Promise<any> {
  return waitFor(`${what} (${webhookId})`, async () => {
    const u = await usageOf(call, docId, webhookId);
    return u && ok(u) ? u : null;
  }, timeoutMs);
}

/** A loopback port nothing listens on (connection refused), which a server may take later. */
async function closedPort(): Promise<number> {
  const s = createTcpServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** For each failed request, the next one is the same batch: same webhook-id, same body. */
function expectRetriesOfTheSameBatch(requests: ReceivedRequest[]): void {
  requests.forEach((r, i) => {
    if (r.status !== null && r.status < 300) return;
    const next = requests[i + 1];
    if (!next) return;
    expect({ id: next.headers['webhook-id'], body: next.body }).toEqual({ id: r.headers['webhook-id'], body: r.body });
  });
}

describe('dispatcher: batching, retries and status', () => {
  const docId = 'shop';
  let db: TestDatabase;
  let k: TestKafka;
  let receiver: Receiver;
  let route: ReturnType<typeof router>;
  let refusedPort: number;
  let call: Call;
  let feed: ReturnType<typeof eventFeeder>;

  beforeAll(async () => {
    [db, k, receiver, refusedPort] = await Promise.all([createTestDatabase(), createTestKafka(), startReceiver(), closedPort()]);
    route = router(receiver);
    feed = eventFeeder(k, docId);
    const env = engineEnv(db, k, {
      ALLOWED_WEBHOOK_DOMAINS: `localhost:${receiver.port},localhost:${refusedPort}`,
      TRIGGER_WAIT_DELAY: '20',
      TRIGGER_MAX_ATTEMPTS: '3',
      WEBHOOK_TIMEOUT_MS: '400',
    });
    const [api] = await Promise.all([startApp('config-api', env), startApp('matcher', env), startApp('dispatcher', env)]);
    call = apiClient(() => api.url);
    await addTable(k, docId);
  });

  afterAll(async () => {
    await stopAllApps();
    await Promise.all([receiver?.close(), k?.close(), db?.drop()]);
  });

  it('sends 250 matching rows as 100 + 100 + 50, in order, batches spanning bundles (whole pipeline)', async () => {
    const id = await createWebhook(call, docId, `${receiver.url}/batching`);
    const bulk = (from: number, to: number) => ['BulkAddRecord', TABLE, range(from, to), { Item: range(from, to).map((i) => `item ${i}`), Qty: range(from, to) }];
    // one produce request: the matcher reads both bundles together and the dispatcher queues both before sending
    await k.producer.send({
      topic: k.actionsTopic,
      acks: -1,
      messages: [
        { key: docId, value: JSON.stringify({ docId, actionNum: 2, userActions: [], actions: [bulk(1, 120)] }) },
        { key: docId, value: JSON.stringify({ docId, actionNum: 3, userActions: [], actions: [bulk(121, 250)] }) },
      ],
    });
    await waitFor('250 rows', () => route.rows('/batching').length >= 250);
    const requests = route.requests('/batching');
    expect(requests.map((r) => (r.json as unknown[]).length)).toEqual([100, 100, 50]);
    expect(ids(route.rows('/batching'))).toEqual(range(1, 250));
    expect(requests[1].json).toContainEqual({ id: 120, Item: 'item 120', Qty: 120 });
    expect(requests[1].json).toContainEqual({ id: 121, Item: 'item 121', Qty: 121 });
    expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(3);
    const usage = await usageWhen(call, docId, id, 'idle after the last batch', (u) => u.status === 'idle' && u.lastEventBatch?.size === 50);
    expect(usage).toMatchObject({
      numWaiting: 0,
      lastHttpStatus: 200,
      lastFailureTime: null,
      lastErrorMessage: null,
      lastEventBatch: { size: 50, attempts: 1, status: 'success', httpStatus: 200, errorMessage: null },
    });
  });

  it('sends the envelope format, a batch spanning bundles but never two tables (a PATCH of tableId while rows wait)', async () => {
    const w = await createWebhook(call, docId, `${receiver.url}/envelope`, { payloadFormat: 'envelope' });
    const [first, second, moved] = [feed.event(w, [1, 2]), feed.event(w, [3]), feed.event(w, [1])];
    await feed.send([first, second, { ...moved, tableId: 'Archive' }]);
    const bodies = () => route.requests('/envelope').map((r) => r.json as any);
    await waitFor('the 4 rows', () => bodies().flatMap((b) => b.events).length >= 4);
    expect(bodies().map((b) => [b.tableId, b.events.map((e: any) => [e.actionNum, e.id])])).toEqual([
      ['Orders', [[first.actionNum, 1], [first.actionNum, 2], [second.actionNum, 3]]],
      ['Archive', [[moved.actionNum, 1]]],
    ]);
    expect(bodies()[0]).toMatchObject({ webhookId: w, docId });
    expect(bodies()[0].events[0]).toEqual({ type: 'add', actionNum: first.actionNum, id: 1, fields: { Item: 'item 1' }, previous: {}, changedColIds: [] });
  });

  it('records a failure whose body Postgres could not store as it came (a NUL), then retries and delivers', async () => {
    const w = await createWebhook(call, docId, `${receiver.url}/binary`);
    let answered = 0;
    route.on('/binary', () => (++answered === 1 ? { status: 500, body: 'bad\u0000body' } : { status: 200 }));
    await feed.publish(w, [1]);
    await waitFor('the retry to deliver', () => route.rows('/binary').length === 1);
    expect(route.requests('/binary')).toHaveLength(2);
    expect(await usageOf(call, docId, w)).toMatchObject({ status: 'idle', lastErrorMessage: 'bad\uFFFDbody' });
  });

  it('counts 200, 201 and 204 as success: one request per batch', async () => {
    const id = await createWebhook(call, docId, `${receiver.url}/codes`);
    const codes = [200, 201, 204];
    route.on('/codes', () => ({ status: codes[route.requests('/codes').length - 1] }));
    for (const [i, code] of codes.entries()) {
      await feed.publish(id, [i + 1]);
      await waitFor(`the ${code} answer`, () => route.requests('/codes').length === i + 1 && route.requests('/codes')[i].status === code);
      await usageWhen(call, docId, id, `success ${code} recorded`, (u) => u.status === 'idle' && u.lastHttpStatus === code);
    }
    const requests = route.requests('/codes');
    expect(requests).toHaveLength(3);
    expect(ids(route.rows('/codes'))).toEqual([1, 2, 3]);
    expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(3);
    expect(await usageOf(call, docId, id)).toMatchObject({
      numWaiting: 0,
      lastErrorMessage: null,
      lastEventBatch: { size: 1, attempts: 1, status: 'success', httpStatus: 204, errorMessage: null },
    });
  });

  it('retries the same batch (same webhook-id) after a redirect, 404, 500, a reset connection or a timeout', async () => {
    const id = await createWebhook(call, docId, `${receiver.url}/failures`);
    const failures: Array<[Reply, string | RegExp]> = [
      [{ status: 302, body: 'moved', headers: { location: `${receiver.url}/redirected` } }, 'moved'],
      [{ status: 301, headers: { location: `${receiver.url}/redirected` } }, 'HTTP 301'],
      [{ status: 404, body: 'no such hook' }, 'no such hook'],
      [{ status: 500, body: '  boom\n' }, 'boom'],
      ['destroy', /socket|closed|reset/i],
      ['hang', 'timed out after 400 ms'],
    ];
    for (const [i, [failure, message]] of failures.entries()) {
      const before = route.requests('/failures').length;
      route.on('/failures', () => (route.requests('/failures').length === before + 1 ? failure : { status: 200 }));
      await feed.publish(id, [i + 1]);
      await waitFor(`row ${i + 1} delivered after a failure`, () => route.rows('/failures').length === i + 1, 10_000);
      const [failed, retried] = route.requests('/failures').slice(before);
      expect(retried.headers['webhook-id']).toBe(failed.headers['webhook-id']);
      expect(retried.json).toEqual([{ id: i + 1, Item: `item ${i + 1}` }]);
      const usage = await usageWhen(call, docId, id, `row ${i + 1} recorded`, (u) => u.status === 'idle' && u.lastSuccessTime >= retried.at);
      expect(usage.lastErrorMessage).toEqual(typeof message === 'string' ? message : expect.stringMatching(message));
      expect(usage.lastEventBatch).toEqual({ size: 1, attempts: 2, status: 'success', httpStatus: 200, errorMessage: null });
    }
    expect(route.requests('/failures')).toHaveLength(failures.length * 2);
    expect(route.requests('/redirected')).toHaveLength(0);
  });

  it('retries on connection refused until the receiver is up', async () => {
    const id = await createWebhook(call, docId, `http://localhost:${refusedPort}/late`);
    await feed.publish(id, [1, 2]);
    const failing = await usageWhen(call, docId, id, 'a network failure retried', (u) => u.lastEventBatch?.attempts >= 2);
    expect(failing).toMatchObject({ numWaiting: 2, lastHttpStatus: null, lastSuccessTime: null });
    expect(['retrying', 'postponed']).toContain(failing.status);
    expect(failing.lastEventBatch).toMatchObject({ size: 2, status: 'failure', httpStatus: null });
    expect(failing.lastEventBatch.errorMessage).toMatch(/ECONNREFUSED|connect/i);

    const late: Array<{ body: string; webhookId: unknown }> = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c)).on('end', () => {
        late.push({ body, webhookId: req.headers['webhook-id'] });
        res.writeHead(200).end();
      });
    });
    server.listen(refusedPort, '127.0.0.1');
    await once(server, 'listening');
    try {
      // postponed after 3 attempts: the next try comes within 64 units (1.3 s)
      await waitFor('the late receiver to get the rows', () => late.length > 0, 10_000);
      expect(JSON.parse(late[0].body)).toEqual([{ id: 1, Item: 'item 1' }, { id: 2, Item: 'item 2' }]);
      const usage = await usageWhen(call, docId, id, 'idle', (u) => u.status === 'idle');
      expect(usage.lastEventBatch.attempts).toBeGreaterThan(2);
      expect(usage.lastErrorMessage).toMatch(/ECONNREFUSED|connect/i);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('waits as long as Retry-After asks on 429', async () => {
    const id = await createWebhook(call, docId, `${receiver.url}/throttled`);
    route.on('/throttled', () =>
      route.requests('/throttled').length === 1 ? { status: 429, body: 'slow down', headers: { 'retry-after': '1' } } : { status: 200 },
    );
    await feed.publish(id, [1]);
    await waitFor('the retry after 429', () => route.rows('/throttled').length === 1, 10_000);
    const [first, second] = route.requests('/throttled');
    expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
    // the computed delay would be 20 ms
    expect(second.at - first.at).toBeGreaterThanOrEqual(950);
    expect(second.at - first.at).toBeLessThan(2500);
  });

  it('shows sending, retrying, postponed then idle, keeping the last error after a later success', async () => {
    const id = await createWebhook(call, docId, `${receiver.url}/status`);
    const held = gate();
    let answer: Reply = { status: 500, body: 'boom' };
    route.on('/status', (req) => (route.requests('/status')[0] === req ? held.promise : answer));
    expect(await usageOf(call, docId, id)).toMatchObject({ status: 'idle', numWaiting: 0, lastEventBatch: null });

    await feed.publish(id, range(1, 150));
    await waitFor('the first attempt in flight', () => route.requests('/status').length === 1);
    // the batch in flight is counted in numWaiting
    expect(await usageWhen(call, docId, id, 'sending', (u) => u.status === 'sending')).toMatchObject({
      numWaiting: 150,
      lastEventBatch: null,
      lastErrorMessage: null,
    });

    held.open({ status: 500, body: 'boom' });
    const retrying = await usageWhen(call, docId, id, 'retrying', (u) => u.lastEventBatch !== null);
    expect(['retrying', 'postponed']).toContain(retrying.status);
    expect(retrying).toMatchObject({ numWaiting: 150, lastHttpStatus: 500, lastErrorMessage: 'boom', lastSuccessTime: null });
    expect(retrying.lastFailureTime).toEqual(expect.any(Number));
    expect(retrying.lastEventBatch).toMatchObject({ size: 100, status: 'failure', httpStatus: 500, errorMessage: 'boom' });

    const postponed = await usageWhen(call, docId, id, 'postponed', (u) => u.status === 'postponed');
    expect(postponed.lastEventBatch).toMatchObject({ size: 100, attempts: 3, status: 'failure', httpStatus: 500, errorMessage: 'boom' });
    expect(postponed.numWaiting).toBe(150);
    // postponed keeps retrying (at the longest delay), still the same batch
    await waitFor('a retry after postponed', () => route.requests('/status').length >= 4, 10_000);
    expect((await usageOf(call, docId, id)).status).toBe('postponed');

    answer = { status: 200 };
    const idle = await usageWhen(call, docId, id, 'idle', (u) => u.status === 'idle', 10_000);
    expect(idle).toMatchObject({
      numWaiting: 0,
      lastHttpStatus: 200,
      lastErrorMessage: 'boom',
      lastEventBatch: { size: 50, attempts: 1, status: 'success', httpStatus: 200, errorMessage: null },
    });
    expect(idle.lastSuccessTime).toBeGreaterThanOrEqual(idle.lastFailureTime);
    expect(ids(route.rows('/status'))).toEqual(range(1, 150));
    expectRetriesOfTheSameBatch(route.requests('/status'));
  });

  it('never breaks the order per webhook under mixed failures', async () => {
    const id = await createWebhook(call, docId, `${receiver.url}/chaos`);
    // at most two failures in a row, so the batch is never postponed (TRIGGER_MAX_ATTEMPTS=3)
    const script: Reply[] = [
      { status: 500, body: 'e' }, { status: 200 }, { status: 404 }, 'destroy', { status: 201 },
      { status: 307, headers: { location: `${receiver.url}/redirected` } }, { status: 200 },
      { status: 429 }, { status: 503, headers: { 'retry-after': '0' } }, { status: 204 }, 'hang', { status: 200 },
    ];
    route.on('/chaos', () => script[(route.requests('/chaos').length - 1) % script.length]);
    for (let round = 0; round < 3; round += 1) {
      const events = range(0, 9).map((e) => feed.event(id, range(round * 100 + e * 10 + 1, round * 100 + e * 10 + 10)));
      await feed.send(events);
      await waitFor(`round ${round} started`, () => route.requests('/chaos').length > round * 3);
    }
    await waitFor('300 rows', () => route.rows('/chaos').length >= 300, 30_000);
    expect(ids(route.rows('/chaos'))).toEqual(range(1, 300));
    expectRetriesOfTheSameBatch(route.requests('/chaos'));
    expect(route.requests('/chaos').filter((r) => r.status === null || r.status >= 300).length).toBeGreaterThan(3);
    expect(route.requests('/redirected')).toHaveLength(0);
    await usageWhen(call, docId, id, 'idle', (u) => u.status === 'idle' && u.numWaiting === 0);
  });
});

describe('dispatcher: isolation and queue control', () => {
  const docId = 'desk';
  let db: TestDatabase;
  let k: TestKafka;
  let receiver: Receiver;
  let holder: HoldingReceiver;
  let route: ReturnType<typeof router>;
  let call: Call;
  let feed: ReturnType<typeof eventFeeder>;
  let dispatcher: RunningApp;

  beforeAll(async () => {
    [db, k, receiver, holder] = await Promise.all([createTestDatabase(), createTestKafka(), startReceiver(), startHoldingReceiver()]);
    route = router(receiver);
    feed = eventFeeder(k, docId);
    const env = engineEnv(db, k, { ALLOWED_WEBHOOK_DOMAINS: `localhost:${receiver.port},localhost:${holder.port}`, TRIGGER_WAIT_DELAY: '50' });
    const [api, , started] = await Promise.all([startApp('config-api', env), startApp('matcher', env), startApp('dispatcher', env)]);
    dispatcher = started;
    call = apiClient(() => api.url);
    await Promise.all([addTable(k, docId), addTable(k, 'elsewhere')]);
  });

  afterAll(async () => {
    await stopAllApps();
    await Promise.all([receiver?.close(), holder?.close(), k?.close(), db?.drop()]);
  });

  const held = (path: string) => holder.requests.filter((r) => r.url === path);

  /** A webhook whose receiver never answers, with its first batch in flight, and a healthy one already served. */
  async function hangingAndHealthy(name: string): Promise<{ hanging: string; healthy: string }> {
    const [hanging, healthy] = [
      await createWebhook(call, docId, `${holder.url}/${name}`),
      await createWebhook(call, docId, `${receiver.url}/${name}`),
    ];
    await feed.send([feed.event(hanging, [1, 2, 3]), feed.event(healthy, [1])]);
    await waitFor('the hanging request', () => held(`/${name}`).length === 1);
    await feed.publish(hanging, [4, 5]);
    await usageWhen(call, docId, hanging, 'numWaiting 5', (u) => u.numWaiting === 5 && u.status === 'sending');
    await usageWhen(call, docId, healthy, 'the healthy one served', (u) => u.status === 'idle' && u.lastEventBatch !== null);
    return { hanging, healthy };
  }

  /** The in-flight request was abandoned: its connection closed within one second of `since`. */
  async function expectAbandoned(path: string, since: number): Promise<void> {
    const [request] = held(path);
    await waitFor('the in-flight request to be abandoned', () => request.closedAt !== null, 3000, 20);
    expect(request.closedAt! - since).toBeLessThan(1000);
  }

  const reset = { status: 'idle', numWaiting: 0, lastEventBatch: null, lastErrorMessage: null, lastHttpStatus: null };

  it('keeps delivering to a webhook while another webhook of the document hangs', async () => {
    const hanging = await createWebhook(call, docId, `${holder.url}/iso`);
    const healthy = await createWebhook(call, docId, `${receiver.url}/iso`);
    await feed.send([feed.event(hanging, [1, 2, 3]), feed.event(healthy, [1, 2, 3])]);
    await waitFor('the hanging request', () => held('/iso').length === 1);
    await waitFor('the healthy rows', () => route.rows('/iso').length === 3, 3000);
    for (let round = 1; round <= 3; round += 1) {
      const sent = Date.now();
      await feed.send([feed.event(hanging, [round * 10]), feed.event(healthy, [round * 10])]);
      await waitFor(`healthy round ${round}`, () => route.rows('/iso').length === 3 + round, 2000);
      expect(route.requests('/iso').at(-1)!.at - sent).toBeLessThan(1500);
    }
    expect(held('/iso')).toHaveLength(1);
    expect(held('/iso')[0].closedAt).toBeNull();
    expect(await usageOf(call, docId, hanging)).toMatchObject({ status: 'sending', numWaiting: 6, lastEventBatch: null });
    expect(await usageOf(call, docId, healthy)).toMatchObject({ status: 'idle', numWaiting: 0 });
    await call('DELETE', `/api/docs/${docId}/webhooks/queue/${hanging}`);
  });

  it('dead-letters payload events Postgres could not store, and delivers the rest of their batch', async () => {
    const w = await createWebhook(call, docId, `${receiver.url}/unstorable`);
    const nul = feed.event(w, [1]);
    nul.rows[0].fields.Item = 'a\u0000b';
    const longId = { ...feed.event(w, [2]), eventId: `${'d'.repeat(600)}:1:${w}` };
    await feed.send([nul, longId, feed.event(w, [3])]);
    await waitFor('the storable row', () => route.rows('/unstorable').length === 1, 5000);
    expect(ids(route.rows('/unstorable'))).toEqual([3]);
    const dead = await readTopic(k.kafka, `${k.eventsTopic}.dlq`, 2);
    expect(dead.map((d) => JSON.parse(d.value!).eventId)).toEqual([nul.eventId, longId.eventId]);
    // one warn line per message, with its ids
    const logged = () => logEntries(dispatcher, 'payload event dead-lettered').filter((e) => e.key === w);
    await waitFor('the dead-letter log lines', () => logged().length === 2);
    expect(logged()).toEqual([
      expect.objectContaining({ level: 'warn', partition: expect.any(Number), offset: expect.stringMatching(/^\d+$/), reason: 'not a payload event (v1)' }),
      expect.objectContaining({ level: 'warn', partition: expect.any(Number), offset: expect.stringMatching(/^\d+$/), reason: 'not a payload event (v1)' }),
    ]);
    expect(logged()[1].offset).not.toBe(logged()[0].offset);
  });

  it('stores an event whose integers are written 7.0 or 7e0 (JSON numbers all the same), not stalling its partition', async () => {
    const w = await createWebhook(call, docId, `${receiver.url}/number-forms`);
    const [fraction, exponent] = [feed.event(w, [1]), feed.event(w, [2])];
    const json = (e: PayloadEvent, field: 'actionNum' | 'bundleTime', form: string) =>
      JSON.stringify(e).replace(`"${field}":${e[field]}`, `"${field}":${e[field]}${form}`);
    await k.producer.send({
      topic: k.eventsTopic,
      acks: -1,
      messages: [
        { key: w, value: json(fraction, 'actionNum', '.0') },
        { key: w, value: json(exponent, 'bundleTime', 'e0') },
      ],
    });
    await feed.publish(w, [3]);
    await waitFor('every row', () => route.rows('/number-forms').length === 3, 5000);
    expect(ids(route.rows('/number-forms'))).toEqual([1, 2, 3]);
  });

  it('DELETE of one queue abandons its in-flight request, resets only its usage, and drops events of older bundles', async () => {
    const { hanging, healthy } = await hangingAndHealthy('clear-one');
    const healthyBefore = await usageOf(call, docId, healthy);
    const since = Date.now();
    expect((await call('DELETE', `/api/docs/${docId}/webhooks/queue/${hanging}`)).status).toBe(200);
    expect(await usageOf(call, docId, hanging)).toMatchObject(reset);
    await expectAbandoned('/clear-one', since);
    expect(await usageOf(call, docId, healthy)).toEqual(healthyBefore);
    // nothing of the cleared batch is retried, nor anything of a bundle older than the clear still on its way:
    // the next request carries only new rows
    await feed.send([{ ...feed.event(hanging, [5]), bundleTime: since - 1 }]);
    await feed.publish(hanging, [6]);
    await waitFor('a new request', () => held('/clear-one').length === 2);
    expect(held('/clear-one')[1].json).toEqual([{ id: 6, Item: 'item 6' }]);
    expect(held('/clear-one')[1].headers['webhook-id']).not.toBe(held('/clear-one')[0].headers['webhook-id']);
    held('/clear-one')[1].answer(200);
    await usageWhen(call, docId, hanging, 'idle', (u) => u.status === 'idle' && u.lastEventBatch?.status === 'success');
  });

  it('DELETE of every queue of the document resets them all, and no other document', async () => {
    const { hanging, healthy } = await hangingAndHealthy('clear-all');
    const failing = await createWebhook(call, docId, `${receiver.url}/clear-all-failing`);
    route.on('/clear-all-failing', () => ({ status: 500, body: 'down' }));
    const other = await createWebhook(call, 'elsewhere', `${receiver.url}/clear-all-other`);
    route.on('/clear-all-other', () => ({ status: 500, body: 'down' }));
    await feed.publish(failing, [1]);
    await eventFeeder(k, 'elsewhere').publish(other, [1]);
    await usageWhen(call, docId, failing, 'retrying', (u) => u.lastEventBatch?.status === 'failure');
    await usageWhen(call, 'elsewhere', other, 'retrying', (u) => u.lastEventBatch?.status === 'failure');

    const since = Date.now();
    expect((await call('DELETE', `/api/docs/${docId}/webhooks/queue`)).status).toBe(200);
    await expectAbandoned('/clear-all', since);
    for (const id of [hanging, healthy, failing]) expect(await usageOf(call, docId, id)).toMatchObject(reset);
    const attempts = route.requests('/clear-all-failing').length;
    expect(await usageOf(call, 'elsewhere', other)).toMatchObject({ numWaiting: 1, lastErrorMessage: 'down' });
    // the other document's webhook keeps retrying; the cleared one does not
    await waitFor('the other document to retry', () => route.requests('/clear-all-other').length >= 3, 5000);
    expect(route.requests('/clear-all-failing').length).toBeLessThanOrEqual(attempts + 1);
    await call('DELETE', `/api/docs/elsewhere/webhooks/queue`);
  });

  it('PATCH enabled:false abandons the in-flight request, empties the queue; enabling again starts afresh', async () => {
    const { hanging, healthy } = await hangingAndHealthy('disable');
    const healthyBefore = await usageOf(call, docId, healthy);
    const since = Date.now();
    expect((await call('PATCH', `/api/docs/${docId}/webhooks/${hanging}`, { enabled: false })).status).toBe(200);
    await expectAbandoned('/disable', since);
    expect(await usageOf(call, docId, hanging)).toMatchObject(reset);
    expect(await usageOf(call, docId, healthy)).toEqual(healthyBefore);

    expect((await call('PATCH', `/api/docs/${docId}/webhooks/${hanging}`, { enabled: true })).status).toBe(200);
    await feed.publish(hanging, [7]);
    await waitFor('a new request', () => held('/disable').length === 2);
    expect(held('/disable')[1].json).toEqual([{ id: 7, Item: 'item 7' }]);
    held('/disable')[1].answer(204);
    await usageWhen(call, docId, hanging, 'idle', (u) => u.status === 'idle' && u.lastHttpStatus === 204);
  });

  it('shows the end-to-end lag of a webhook whose rows wait, until they are delivered', async () => {
    const id = await createWebhook(call, docId, `${holder.url}/lag`);
    const lagLine = async (): Promise<number | null> => {
      const text = await (await fetch(`${dispatcher.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`dispatcher_queue_lag_seconds{webhookId="${id}"} `));
      return line ? Number(line.split(' ')[1]) : null;
    };
    const sent = Date.now();
    await feed.publish(id, [1]);
    await waitFor('the request to be held', () => held('/lag').length === 1);
    const lag = await waitFor('a lag of 1 s or more', async () => ((await lagLine()) ?? 0) >= 1 ? lagLine() : null, 10_000);
    expect(lag! * 1000).toBeLessThanOrEqual(Date.now() - sent + 100);
    held('/lag')[0].answer(200);
    await waitFor('the lag series to go once delivered', async () => (await lagLine()) === null, 10_000);
  });

  it('shows a webhook on /metrics only while it exists: its series go with DELETE', async () => {
    const id = await createWebhook(call, docId, `${receiver.url}/metrics-gone`);
    await feed.publish(id, [1]);
    await usageWhen(call, docId, id, 'delivered', (u) => u.status === 'idle' && u.lastEventBatch !== null);
    expect((await call('DELETE', `/api/docs/${docId}/webhooks/${id}`)).status).toBe(200);
    // per-webhook gauges are read again from Postgres every 2 s
    await waitFor('its series to go', async () => !(await (await fetch(`${dispatcher.url}/metrics`)).text()).includes(id), 5000);
  });

  it('DELETE of a webhook abandons its in-flight request and stops its deliveries', async () => {
    const { hanging, healthy } = await hangingAndHealthy('delete');
    const since = Date.now();
    expect((await call('DELETE', `/api/docs/${docId}/webhooks/${hanging}`)).status).toBe(200);
    await expectAbandoned('/delete', since);
    // same key, so the deleted webhook's event is read before the healthy one's
    await feed.send([feed.event(hanging, [8]), feed.event(healthy, [8])], hanging);
    await waitFor('the healthy row', () => route.rows('/delete').length === 2);
    await usageWhen(call, docId, healthy, 'idle', (u) => u.status === 'idle' && u.numWaiting === 0);
    expect(held('/delete')).toHaveLength(1);
    const list = await call('GET', `/api/docs/${docId}/webhooks`);
    expect(list.body.webhooks.map((w: { id: string }) => w.id)).not.toContain(hanging);
  });
});

describe('dispatcher: crashes, restarts and several instances', () => {
  const docId = 'plant';
  let db: TestDatabase;
  let k: TestKafka;
  let receiver: Receiver;
  let holder: HoldingReceiver;
  let route: ReturnType<typeof router>;
  let call: Call;
  let feed: ReturnType<typeof eventFeeder>;
  let env: Record<string, string>;
  let dispatcher: RunningApp;
  let second: RunningApp | null = null;

  beforeAll(async () => {
    [db, k, receiver, holder] = await Promise.all([createTestDatabase(), createTestKafka(), startReceiver(), startHoldingReceiver()]);
    route = router(receiver);
    feed = eventFeeder(k, docId);
    env = engineEnv(db, k, { ALLOWED_WEBHOOK_DOMAINS: `localhost:${receiver.port},localhost:${holder.port}`, TRIGGER_WAIT_DELAY: '50' });
    const [api, , started] = await Promise.all([startApp('config-api', env), startApp('matcher', env), startApp('dispatcher', env)]);
    dispatcher = started;
    call = apiClient(() => api.url);
    await addTable(k, docId);
  });

  afterAll(async () => {
    await stopAllApps();
    await Promise.all([receiver?.close(), holder?.close(), k?.close(), db?.drop()]);
  });

  /** The running dispatcher instance that holds the webhook's lease (its owner names the process id). */
  async function leaseHolder(webhookId: string): Promise<RunningApp> {
    const [row] = await db.query<{ lease_owner: string | null }>('SELECT lease_owner FROM webhook_delivery WHERE webhook_id = $1', [webhookId]);
    const pid = Number(row?.lease_owner?.split(':')[1]);
    const app = [dispatcher, second].find((a) => a?.process.pid === pid);
    if (!app) throw new Error(`no running dispatcher holds ${webhookId} (owner ${row?.lease_owner})`);
    return app;
  }

  /** A webhook posting to `path` of the holding receiver, its first request in flight, and the instance sending it. */
  async function firstRequestInFlight(path: string, rowIds: number[]) {
    const id = await createWebhook(call, docId, `${holder.url}${path}`);
    const requests = () => holder.requests.filter((r) => r.url === path);
    await feed.publish(id, rowIds);
    await waitFor('the first request in flight', () => requests().length === 1);
    return { id, requests, sender: await leaseHolder(id) };
  }

  it('loses nothing when the dispatcher is killed (kill -9) while queueing and delivering', async () => {
    const [a, b] = [await createWebhook(call, docId, `${receiver.url}/crash-a`), await createWebhook(call, docId, `${receiver.url}/crash-b`)];
    const inFlight = gate();
    let holdNext = false;
    let heldRequest: ReceivedRequest | null = null;
    route.on('/crash-a', (req) => {
      if (!holdNext) return { status: 200 };
      holdNext = false;
      heldRequest = req;
      return inFlight.promise;
    });
    const publishRounds = async (from: number, to: number) => {
      for (let round = from; round <= to; round += 1) {
        const rows = range(round * 10 + 1, round * 10 + 10);
        await feed.send([feed.event(a, rows), feed.event(b, rows)]);
      }
    };
    await publishRounds(0, 14);
    await waitFor('some rows delivered', () => route.rows('/crash-a').length >= 30);
    holdNext = true;
    await feed.publish(a, range(1001, 1010));
    await waitFor('a request in flight', () => heldRequest !== null);

    // killed with a request in flight and events still arriving: publishers are never blocked
    await Promise.all([dispatcher.kill(), publishRounds(15, 29)]);
    inFlight.open('destroy');
    dispatcher = await startApp('dispatcher', env);
    await publishRounds(30, 39);

    const firstSeen = (rows: unknown[]) => [...new Set(ids(rows))];
    await waitFor('every row of b', () => firstSeen(route.rows('/crash-b')).length === 400, 40_000);
    await waitFor('every row of a', () => firstSeen(route.rows('/crash-a')).length === 410, 40_000);
    // duplicates are allowed (at-least-once), gaps and reordering are not
    expect(firstSeen(route.rows('/crash-b'))).toEqual(range(1, 400));
    expect(firstSeen(route.rows('/crash-a'))).toEqual([...range(1, 150), ...range(1001, 1010), ...range(151, 400)]);
    // the batch in flight at the crash was sent again, with the same webhook-id
    const resent = route.requests('/crash-a').find((r) => r !== heldRequest && r.body === heldRequest!.body);
    expect(resent?.headers['webhook-id']).toBe(heldRequest!.headers['webhook-id']);
    for (const id of [a, b]) await usageWhen(call, docId, id, 'idle', (u) => u.status === 'idle' && u.numWaiting === 0);
  });

  it('shows status error when the URL is no longer allowed at send time; the rows wait', async () => {
    const id = await createWebhook(call, docId, `${receiver.url}/forbidden`);
    await dispatcher.stop();
    dispatcher = await startApp('dispatcher', { ...env, ALLOWED_WEBHOOK_DOMAINS: 'hooks.example.com' });
    await feed.publish(id, [1, 2, 3]);
    const usage = await usageWhen(call, docId, id, 'status error', (u) => u.status === 'error' && u.lastEventBatch?.attempts >= 2);
    expect(usage).toMatchObject({ numWaiting: 3, lastHttpStatus: null });
    expect(usage.lastErrorMessage).toMatch(/not allowed.*localhost:\d+/i);
    expect(usage.lastEventBatch).toMatchObject({ size: 3, status: 'failure', httpStatus: null, errorMessage: usage.lastErrorMessage });
    expect(route.requests('/forbidden')).toHaveLength(0);

    await dispatcher.stop();
    dispatcher = await startApp('dispatcher', env);
    await waitFor('the rows delivered once allowed', () => route.rows('/forbidden').length === 3, 10_000);
    expect(ids(route.rows('/forbidden'))).toEqual([1, 2, 3]);
    await usageWhen(call, docId, id, 'idle', (u) => u.status === 'idle' && u.numWaiting === 0);
  });

  it('shares the work between two instances: every row once, in order per webhook', async () => {
    second = await startApp('dispatcher', env);
    const hooks: string[] = [];
    for (let i = 0; i < 4; i += 1) hooks.push(await createWebhook(call, docId, `${receiver.url}/scale-${i}`));
    for (let round = 0; round < 5; round += 1) {
      await feed.send(hooks.map((id) => feed.event(id, range(round * 60 + 1, round * 60 + 60))));
    }
    for (let i = 0; i < 4; i += 1) {
      await waitFor(`webhook ${i} to get 300 rows`, () => route.rows(`/scale-${i}`).length >= 300, 20_000);
    }
    for (let i = 0; i < 4; i += 1) {
      expect(ids(route.rows(`/scale-${i}`))).toEqual(range(1, 300));
      expect(route.requests(`/scale-${i}`).every((r) => r.status === 200)).toBe(true);
    }
    expect(second!.process.exitCode).toBeNull();
  });

  it('abandons the request of an instance paused past its lease once another took the webhook over', async () => {
    const { id, requests, sender: paused } = await firstRequestInFlight('/paused', range(1, 150));
    paused.process.kill('SIGSTOP');
    try {
      const [late] = requests();
      const again = await waitFor('the other instance to send the batch again', () => requests()[1], 10_000);
      expect(again.headers['webhook-id']).toBe(late.headers['webhook-id']);
      await feed.publish(id, range(151, 200));
      await usageWhen(call, docId, id, 'numWaiting 200', (u) => u.numWaiting === 200);
      paused.process.kill('SIGCONT');
      // its next lease renewal finds the lease gone, and it abandons the request it still had in flight: two
      // instances must never deliver one webhook at once (a late answer would be dropped, see delivery-store)
      await waitFor('the paused instance to abandon its request', () => late.closedAt !== null, 5000);
      expect(paused.logs.some((l) => l.includes('delivery abandoned') && l.includes('lease lost'))).toBe(true);
      again.answer(200);
      const next = await waitFor('the next batch', () => requests()[2], 10_000);
      expect(ids(next.json as unknown[])).toEqual(range(101, 200));
      expect(await usageOf(call, docId, id)).toMatchObject({ status: 'sending', numWaiting: 100 });
      next.answer(200);
      await usageWhen(call, docId, id, 'idle', (u) => u.status === 'idle' && u.numWaiting === 0);
      expect(requests()).toHaveLength(3);
    } finally {
      paused.process.kill('SIGCONT');
    }
  });

  it('lets the other instance take over a webhook when the one delivering it is killed mid-batch', async () => {
    const { id, requests, sender: victim } = await firstRequestInFlight('/takeover', range(1, 5));
    const killedAt = Date.now();
    await victim.kill();
    const [first] = requests();
    await waitFor('the connection to drop with the killed instance', () => first.closedAt !== null, 2000);
    const again = await waitFor('the survivor to send the batch again', () => requests()[1], 10_000);
    expect(again.at - killedAt).toBeLessThan(7000);
    expect(again.headers['webhook-id']).toBe(first.headers['webhook-id']);
    expect(again.body).toBe(first.body);
    again.answer(200);
    await usageWhen(call, docId, id, 'idle', (u) => u.status === 'idle' && u.numWaiting === 0);
  });

  it('on SIGTERM lets the request in flight be answered and recorded, then exits 0: the batch is not sent again', async () => {
    const { id, requests, sender: stopping } = await firstRequestInFlight('/graceful', range(1, 5));
    const exited = new Promise<number | null>((resolve) => stopping.process.once('exit', resolve));
    stopping.process.kill('SIGTERM');
    await waitFor('the stop to wait for the request', () => stopping.logs.some((l) => l.includes('"msg":"finishing requests in flight"')));
    const [inFlight] = requests();
    expect(inFlight.closedAt).toBeNull();
    inFlight.answer(200);
    expect(await exited).toBe(0);
    await usageWhen(call, docId, id, 'idle', (u) => u.status === 'idle' && u.numWaiting === 0 && u.lastEventBatch?.status === 'success');
    expect(requests()).toHaveLength(1);
  });
});

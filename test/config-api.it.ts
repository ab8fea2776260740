/**
 * The config API (SPEC section 6) against the real database and broker: routes and shapes, validation messages
 * and their order, PATCH semantics, queues, renames, key scoping, and malformed requests (never a 5xx, always
 * JSON errors). Tables and columns come from bundles the matcher applies, as in production.
 */
import {
  createTestDatabase,
  createTestKafka,
  engineEnv,
  Receiver,
  RunningApp,
  startApp,
  startReceiver,
  stopAllApps,
  TestDatabase,
  TestKafka,
  waitFor,
} from './support/harness';

const ADMIN = 'test-admin-key';
const URL_OK = 'https://example.com/hook';
const URL_FORBIDDEN = 'https://evil.example.org/hook';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MISSING_ID = '00000000-0000-4000-8000-000000000000';

interface Res {
  status: number;
  body: any;
}

interface CallOptions {
  /** The bearer key; null sends no Authorization header. */
  key?: string | null;
  headers?: Record<string, string>;
}

/** Same rows for every table the tests declare, with typed columns. */
const COLUMN_TYPES: Record<string, string> = { Qty: 'Numeric', Ready: 'Bool', Done: 'Bool' };
const addTable = (tableId: string, colIds: string[]) => [
  'AddTable',
  tableId,
  colIds.map((id) => ({ id, type: COLUMN_TYPES[id] ?? 'Text', isFormula: false, formula: '' })),
];

const invalidPayload = (userError: string) => ({ status: 400, body: { error: 'Invalid payload', details: { userError } } });
const plainError = (status: number, error: string) => ({ status, body: { error } });

describe('config API', () => {
  let db: TestDatabase;
  let k: TestKafka;
  let receiver: Receiver;
  let api: RunningApp;
  let env: Record<string, string>;

  beforeAll(async () => {
    [db, k, receiver] = await Promise.all([createTestDatabase(), createTestKafka(), startReceiver()]);
    // every request a queue test makes hangs, so its rows stay queued (numWaiting) until cleared
    receiver.reply(() => 'hang');
    env = engineEnv(db, k, { ALLOWED_WEBHOOK_DOMAINS: `example.com,localhost:${receiver.port}` });
    [api] = await Promise.all([startApp('config-api', env), startApp('matcher', env), startApp('dispatcher', env)]);
  });

  afterAll(async () => {
    await stopAllApps();
    await Promise.all([receiver?.close(), k?.close(), db?.drop()]);
  });

  /**
   * One request. Whatever is sent, the answer is never a 5xx and every error is a JSON `{"error": "..."}`:
   * checked here for every request of this file.
   */
  async function call(method: string, route: string, body?: unknown, opts: CallOptions = {}): Promise<Res> {
    const key = opts.key === undefined ? ADMIN : opts.key;
    const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
    if (key !== null) headers.authorization = `Bearer ${key}`;
    const res = await fetch(`${api.url}${route}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    const what = `${method} ${route.slice(0, 200)} answered ${res.status} ${text.slice(0, 300)}`;
    if (res.status >= 500) throw new Error(`5xx: ${what}`);
    const contentType = res.headers.get('content-type') ?? '';
    if (!contentType.startsWith('application/json')) throw new Error(`not JSON: ${what}`);
    const json = JSON.parse(text);
    if (res.status >= 400 && typeof json?.error !== 'string') throw new Error(`error without "error": ${what}`);
    return { status: res.status, body: json };
  }

  const actionNums = new Map<string, number>();
  /** Publishes one bundle of `actions` for `docId`, with the next actionNum of that document. */
  async function publish(docId: string, actions: unknown[]): Promise<void> {
    const actionNum = (actionNums.get(docId) ?? 0) + 1;
    actionNums.set(docId, actionNum);
    await k.publish({ docId, actionNum, actions });
  }

  /**
   * Declares tables through the matcher and waits until the API knows them. The probe names a column that does not
   * exist, so it never creates anything: 404 `Column not found` means the table is known.
   */
  async function seedDoc(docId: string, tables: Record<string, string[]> = { Orders: ['Item', 'Qty', 'Ready'] }): Promise<void> {
    await publish(docId, Object.entries(tables).map(([tableId, colIds]) => addTable(tableId, colIds)));
    for (const tableId of Object.keys(tables)) {
      await waitFor(`the API to know ${docId}.${tableId}`, async () => {
        const res = await call('POST', `/api/docs/${docId}/webhooks`, {
          webhooks: [{ fields: { tableId, url: URL_OK, eventTypes: ['add'], watchedColIds: ['__probe__'] } }],
        });
        return res.status === 404 && res.body.error === 'Column not found "__probe__"';
      });
    }
  }

  async function createWebhook(docId: string, fields: Record<string, unknown>, key = ADMIN): Promise<string> {
    const res = await call('POST', `/api/docs/${docId}/webhooks`, { webhooks: [{ fields }] }, { key });
    expect(res).toMatchObject({ status: 200 });
    return res.body.webhooks[0].id;
  }

  async function list(docId: string): Promise<Array<{ id: string; fields: any; usage: any }>> {
    const res = await call('GET', `/api/docs/${docId}/webhooks`);
    expect(res.status).toBe(200);
    return res.body.webhooks;
  }

  async function webhook(docId: string, id: string): Promise<{ id: string; fields: any; usage: any }> {
    const found = (await list(docId)).find((w) => w.id === id);
    if (!found) throw new Error(`webhook ${id} not listed in ${docId}`);
    return found;
  }

  const queuedRows = async (webhookId: string): Promise<number> =>
    Number((await db.query<{ n: string }>('SELECT coalesce(sum(num_rows), 0) AS n FROM webhook_queue WHERE webhook_id = $1', [webhookId]))[0].n);

  /** The usage of a webhook that never sent anything or was just cleared/disabled (SPEC section 5). */
  const expectIdleUsage = (usage: Record<string, unknown>, numWaiting = 0): void => {
    expect(usage).toMatchObject({ status: 'idle', numWaiting, lastEventBatch: null });
    for (const [key, value] of Object.entries(usage)) {
      if (!['status', 'numWaiting'].includes(key)) expect([key, value]).toEqual([key, null]);
    }
  };

  describe('routes', () => {
    it('counts the requests it answers on /metrics, by method and status code, and times them', async () => {
      const metrics = async () => {
        const text = await (await fetch(`${api.url}/metrics`)).text();
        const count = (method: string, code: number) =>
          Number(text.match(new RegExp(`^config_api_requests_total\\{code="${code}",method="${method}"\\} (\\d+)$`, 'm'))?.[1] ?? 0);
        const timed = Number(text.match(/^config_api_request_duration_seconds_count (\d+)$/m)?.[1]);
        return { ok: count('GET', 200), unauthorized: count('DELETE', 401), timed };
      };
      const before = await metrics();
      await call('GET', '/api/docs/metrics-doc/webhooks');
      await call('DELETE', '/api/docs/metrics-doc/webhooks/queue', undefined, { key: null });
      const after = await metrics();
      // the /metrics request before counts as a GET 200 too, once answered
      expect(after.ok - before.ok).toBe(2);
      expect(after.unauthorized - before.unauthorized).toBe(1);
      expect(after.timed - before.timed).toBe(3);
    });

    it('GET answers {"webhooks": []} for a document never seen and for one without webhooks', async () => {
      expect(await call('GET', '/api/docs/never-seen/webhooks')).toEqual({ status: 200, body: { webhooks: [] } });
      await seedDoc('routes-empty');
      expect(await call('GET', '/api/docs/routes-empty/webhooks')).toEqual({ status: 200, body: { webhooks: [] } });
    });

    it('POST answers the ids in order; GET shows every field with its default and an idle usage', async () => {
      await seedDoc('routes-post');
      const res = await call('POST', '/api/docs/routes-post/webhooks', {
        webhooks: [
          { fields: { url: URL_OK, eventTypes: ['add'], tableId: 'Orders' } },
          {
            fields: {
              url: 'https://api.example.com/b',
              eventTypes: ['update', 'add'],
              tableId: 'Orders',
              name: 'second',
              memo: 'a memo',
              isReadyColumn: 'Ready',
              watchedColIds: [' Qty ', '$Item', ''],
              enabled: false,
              authorization: 'Bearer secret',
              payloadFormat: 'envelope',
            },
          },
        ],
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ webhooks: [{ id: expect.stringMatching(UUID) }, { id: expect.stringMatching(UUID) }] });
      const [first, second] = res.body.webhooks.map((w: { id: string }) => w.id);

      const hooks = await list('routes-post');
      expect(hooks.map((w) => w.id)).toEqual([first, second]);
      for (const w of hooks) expect(Object.keys(w).sort()).toEqual(['fields', 'id', 'usage']);
      expect(hooks[0].fields).toEqual({
        url: URL_OK,
        unsubscribeKey: expect.any(String),
        eventTypes: ['add'],
        isReadyColumn: null,
        tableId: 'Orders',
        watchedColIds: [],
        enabled: true,
        name: '',
        memo: '',
        authorization: '',
        payloadFormat: 'grist',
      });
      expect(hooks[0].fields.unsubscribeKey.length).toBeGreaterThan(10);
      expect(hooks[1].fields).toEqual({
        url: 'https://api.example.com/b',
        unsubscribeKey: expect.any(String),
        eventTypes: ['update', 'add'],
        isReadyColumn: 'Ready',
        tableId: 'Orders',
        watchedColIds: ['Qty', 'Item'],
        enabled: false,
        name: 'second',
        memo: 'a memo',
        authorization: 'Bearer secret',
        payloadFormat: 'envelope',
      });
      expect(hooks[1].fields.unsubscribeKey).not.toBe(hooks[0].fields.unsubscribeKey);
      for (const w of hooks) expectIdleUsage(w.usage);
    });

    it('POST of an empty list creates nothing and answers {"webhooks": []}', async () => {
      expect(await call('POST', '/api/docs/routes-empty-list/webhooks', { webhooks: [] })).toEqual({ status: 200, body: { webhooks: [] } });
      expect(await list('routes-empty-list')).toEqual([]);
    });

    it('PATCH and DELETE answer {"success": true}; a deleted webhook is gone and then unknown', async () => {
      await seedDoc('routes-patch');
      const id = await createWebhook('routes-patch', { url: URL_OK, eventTypes: ['add'], tableId: 'Orders' });
      expect(await call('PATCH', `/api/docs/routes-patch/webhooks/${id}`, { name: 'renamed' })).toEqual({ status: 200, body: { success: true } });
      expect((await webhook('routes-patch', id)).fields.name).toBe('renamed');
      expect(await call('DELETE', `/api/docs/routes-patch/webhooks/${id}`)).toEqual({ status: 200, body: { success: true } });
      expect(await list('routes-patch')).toEqual([]);
      for (const [method, route] of [
        ['DELETE', `/api/docs/routes-patch/webhooks/${id}`],
        ['PATCH', `/api/docs/routes-patch/webhooks/${id}`],
        ['DELETE', `/api/docs/routes-patch/webhooks/queue/${id}`],
      ]) {
        expect(await call(method, route, method === 'PATCH' ? { name: 'x' } : undefined)).toEqual(plainError(404, `Webhook not found "${id}"`));
      }
    });

    it('DELETE queue answers {"success": true} for every queue of a document, one queue, and a document without webhooks', async () => {
      await seedDoc('routes-queue');
      const id = await createWebhook('routes-queue', { url: URL_OK, eventTypes: ['add'], tableId: 'Orders' });
      expect(await call('DELETE', '/api/docs/routes-queue/webhooks/queue')).toEqual({ status: 200, body: { success: true } });
      expect(await call('DELETE', `/api/docs/routes-queue/webhooks/queue/${id}`)).toEqual({ status: 200, body: { success: true } });
      expect(await call('DELETE', '/api/docs/never-seen-queue/webhooks/queue')).toEqual({ status: 200, body: { success: true } });
      expect(await call('DELETE', `/api/docs/routes-queue/webhooks/queue/${MISSING_ID}`)).toEqual(
        plainError(404, `Webhook not found "${MISSING_ID}"`),
      );
      // "queue" is a route, not a webhook id
      expect(await call('PATCH', '/api/docs/routes-queue/webhooks/queue', { name: 'x' })).toEqual(plainError(404, 'Webhook not found "queue"'));
      expect((await webhook('routes-queue', id)).fields.name).toBe('');
    });

    it('_subscribe creates a webhook on the table of the path; _unsubscribe deletes it', async () => {
      await seedDoc('routes-sub', { Orders: ['Item', 'Qty', 'Ready'], People: ['Name'] });
      const res = await call('POST', '/api/docs/routes-sub/tables/Orders/_subscribe', {
        url: URL_OK,
        eventTypes: ['add', 'update'],
        isReadyColumn: 'Ready',
        name: 'legacy',
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ unsubscribeKey: expect.any(String), triggerId: expect.stringMatching(UUID), webhookId: expect.stringMatching(UUID) });
      const { unsubscribeKey, webhookId } = res.body;
      const hook = await webhook('routes-sub', webhookId);
      expect(hook.fields).toMatchObject({ tableId: 'Orders', isReadyColumn: 'Ready', name: 'legacy', eventTypes: ['add', 'update'], unsubscribeKey });
      expectIdleUsage(hook.usage);

      // the table is part of the webhook's address
      expect(await call('POST', '/api/docs/routes-sub/tables/People/_unsubscribe', { webhookId, unsubscribeKey })).toEqual(
        plainError(404, `Webhook not found "${webhookId}"`),
      );
      expect(await call('POST', '/api/docs/routes-sub/tables/Orders/_unsubscribe', { webhookId, unsubscribeKey })).toEqual({
        status: 200,
        body: { success: true },
      });
      expect(await list('routes-sub')).toEqual([]);
      expect(await call('POST', '/api/docs/routes-sub/tables/Orders/_unsubscribe', { webhookId, unsubscribeKey })).toEqual(
        plainError(404, `Webhook not found "${webhookId}"`),
      );
    });

    it('_subscribe answers 404 for an unknown table; _unsubscribe needs no unsubscribeKey from an owner of the document', async () => {
      await seedDoc('routes-sub2');
      expect(await call('POST', '/api/docs/routes-sub2/tables/Nope/_subscribe', { url: URL_OK, eventTypes: ['add'] })).toEqual(
        plainError(404, 'Table not found "Nope"'),
      );
      const { body } = await call('POST', '/api/docs/routes-sub2/tables/Orders/_subscribe', { url: URL_OK, eventTypes: ['add'] });
      expect(await call('POST', '/api/docs/routes-sub2/tables/Orders/_unsubscribe', { webhookId: body.webhookId })).toEqual({
        status: 200,
        body: { success: true },
      });
      expect(await list('routes-sub2')).toEqual([]);
    });
  });

  describe('validation (SPEC section 6, in Grist order)', () => {
    const DOC = 'validation';
    const post = (body: unknown) => call('POST', `/api/docs/${DOC}/webhooks`, body);
    const one = (fields: Record<string, unknown>) => post({ webhooks: [{ fields }] });

    beforeAll(() => seedDoc(DOC));

    it.each<[string, Record<string, unknown>, ReturnType<typeof plainError>]>([
      ['tableId is missing', { url: URL_OK, eventTypes: ['add'] }, invalidPayload('tableId is missing')],
      ['url is missing', { tableId: 'Orders', eventTypes: ['add'] }, invalidPayload('url is missing')],
      ['eventTypes is missing', { tableId: 'Orders', url: URL_OK }, invalidPayload('eventTypes is missing')],
      ['eventTypes is not an array', { tableId: 'Orders', url: URL_OK, eventTypes: 'add' }, invalidPayload('eventTypes is not an array')],
      // Grist's own pairs
      ['url and eventTypes missing', { tableId: 'Orders' }, invalidPayload('url is missing; eventTypes is missing')],
      ['url missing, eventTypes not an array', { tableId: 'Orders', eventTypes: 0 }, invalidPayload('url is missing; eventTypes is not an array')],
      ['url missing beats empty eventTypes', { tableId: 'Orders', eventTypes: [] }, invalidPayload('url is missing')],
      ['URL not allowed', { tableId: 'Orders', url: URL_FORBIDDEN, eventTypes: ['add'] }, plainError(403, 'Provided url is forbidden')],
      ['http URL not allowed', { tableId: 'Orders', url: 'http://example.com/hook', eventTypes: ['add'] }, plainError(403, 'Provided url is forbidden')],
      ['URL not a URL', { tableId: 'Orders', url: 'not a url', eventTypes: ['add'] }, plainError(403, 'Provided url is forbidden')],
      ['URL before empty eventTypes', { tableId: 'Orders', url: URL_FORBIDDEN, eventTypes: [] }, plainError(403, 'Provided url is forbidden')],
      ['empty eventTypes', { tableId: 'Orders', url: URL_OK, eventTypes: [] }, plainError(400, 'eventTypes must be a non-empty array')],
      ['empty eventTypes before table', { tableId: 'Nope', url: URL_OK, eventTypes: [] }, plainError(400, 'eventTypes must be a non-empty array')],
      ['URL before table', { tableId: 'Nope', url: URL_FORBIDDEN, eventTypes: ['add'] }, plainError(403, 'Provided url is forbidden')],
      ['unknown table', { tableId: 'Nope', url: URL_OK, eventTypes: ['add'] }, plainError(404, 'Table not found "Nope"')],
      ['table before columns', { tableId: 'Nope', url: URL_OK, eventTypes: ['add'], isReadyColumn: 'x' }, plainError(404, 'Table not found "Nope"')],
      ['table ids are case-sensitive', { tableId: 'orders', url: URL_OK, eventTypes: ['add'] }, plainError(404, 'Table not found "orders"')],
      [
        'unknown watched column',
        { tableId: 'Orders', url: URL_OK, eventTypes: ['update'], watchedColIds: ['Item', 'notExisting'] },
        plainError(404, 'Column not found "notExisting"'),
      ],
      ['unknown ready column', { tableId: 'Orders', url: URL_OK, eventTypes: ['add'], isReadyColumn: 'bar' }, plainError(404, 'Column not found "bar"')],
      [
        'watched column before ready column',
        { tableId: 'Orders', url: URL_OK, eventTypes: ['add'], watchedColIds: ['w'], isReadyColumn: 'r' },
        plainError(404, 'Column not found "w"'),
      ],
    ])('POST: %s', async (_name, fields, expected) => {
      expect(await one(fields)).toEqual(expected);
    });

    it('POST: webhooks is missing', async () => {
      expect(await post({})).toEqual(invalidPayload('webhooks is missing'));
    });

    it('POST: an unknown event type is none of "add", "update" (Grist clients match that prefix)', async () => {
      const res = await one({ tableId: 'Orders', url: URL_OK, eventTypes: ['add', 'foo'] });
      expect(res).toMatchObject({ status: 400, body: { error: 'Invalid payload' } });
      expect(res.body.details.userError).toMatch(/^eventTypes\[1] is none of "add", "update"/);
      const first = await one({ tableId: 'Orders', url: URL_OK, eventTypes: ['foo'] });
      expect(first.body.details.userError).toMatch(/^eventTypes\[0] is none of "add", "update"/);
    });

    it('PATCH: the same messages in the same order; unknown webhook is 404', async () => {
      const id = await createWebhook(DOC, { tableId: 'Orders', url: URL_OK, eventTypes: ['add'] });
      const patch = (body: unknown) => call('PATCH', `/api/docs/${DOC}/webhooks/${id}`, body);
      expect(await patch({ eventTypes: 'add' })).toEqual(invalidPayload('eventTypes is not an array'));
      expect(await patch({ url: URL_FORBIDDEN, eventTypes: [] })).toEqual(plainError(403, 'Provided url is forbidden'));
      expect(await patch({ eventTypes: [], tableId: 'Nope' })).toEqual(plainError(400, 'eventTypes must be a non-empty array'));
      expect(await patch({ tableId: 'Nope', watchedColIds: ['x'] })).toEqual(plainError(404, 'Table not found "Nope"'));
      expect(await patch({ watchedColIds: ['w'], isReadyColumn: 'r' })).toEqual(plainError(404, 'Column not found "w"'));
      expect(await patch({ isReadyColumn: 'r' })).toEqual(plainError(404, 'Column not found "r"'));
      expect(await call('PATCH', `/api/docs/${DOC}/webhooks/${MISSING_ID}`, { name: 'x' })).toEqual(
        plainError(404, `Webhook not found "${MISSING_ID}"`),
      );
      // nothing above changed the webhook
      expect((await webhook(DOC, id)).fields).toMatchObject({ tableId: 'Orders', url: URL_OK, eventTypes: ['add'], watchedColIds: [], isReadyColumn: null });
    });

    it('_subscribe: the same messages, tableId from the path', async () => {
      const sub = (body: unknown, table = 'Orders') => call('POST', `/api/docs/${DOC}/tables/${table}/_subscribe`, body);
      expect(await sub({})).toEqual(invalidPayload('url is missing; eventTypes is missing'));
      expect(await sub({ eventTypes: 0 })).toEqual(invalidPayload('url is missing; eventTypes is not an array'));
      expect(await sub({ eventTypes: [] })).toEqual(invalidPayload('url is missing'));
      expect(await sub({ eventTypes: [], url: URL_OK })).toEqual(plainError(400, 'eventTypes must be a non-empty array'));
      expect(await sub({ eventTypes: ['add'], url: URL_FORBIDDEN })).toEqual(plainError(403, 'Provided url is forbidden'));
      expect(await sub({ eventTypes: ['add'], url: URL_OK, isReadyColumn: 'bar' })).toEqual(plainError(404, 'Column not found "bar"'));
      expect(await sub({ eventTypes: ['add'], url: URL_OK }, 'Nope')).toEqual(plainError(404, 'Table not found "Nope"'));
      expect(await sub({ eventTypes: ['add'], url: URL_OK, tableId: 'Orders' })).toEqual(invalidPayload('unknown field "tableId"'));
    });

    it('POST of several webhooks is all or nothing: a bad second webhook creates none', async () => {
      await seedDoc('all-or-nothing');
      const good = { fields: { tableId: 'Orders', url: URL_OK, eventTypes: ['add'] } };
      const route = '/api/docs/all-or-nothing/webhooks';
      expect(await call('POST', route, { webhooks: [good, { fields: { tableId: 'Nope', url: URL_OK, eventTypes: ['add'] } }] })).toEqual(
        plainError(404, 'Table not found "Nope"'),
      );
      expect(await call('POST', route, { webhooks: [good, { fields: { tableId: 'Orders', url: URL_FORBIDDEN, eventTypes: ['add'] } }] })).toEqual(
        plainError(403, 'Provided url is forbidden'),
      );
      expect(await call('POST', route, { webhooks: [good, { fields: { tableId: 'Orders', eventTypes: ['add'] } }] })).toEqual(
        invalidPayload('url is missing'),
      );
      expect(await call('POST', route, { webhooks: [good, good, 3] })).toEqual(invalidPayload('webhooks[2] is not an object'));
      expect(await list('all-or-nothing')).toEqual([]);
      expect(await db.query("SELECT id FROM webhooks WHERE doc_id = 'all-or-nothing'")).toEqual([]);
    });
  });

  describe('PATCH semantics', () => {
    const DOC = 'patching';
    const full = {
      url: URL_OK,
      eventTypes: ['add', 'update'],
      tableId: 'Orders',
      name: 'orders',
      memo: 'memo',
      isReadyColumn: 'Ready',
      watchedColIds: ['Qty'],
      enabled: true,
      authorization: 'Bearer k',
      payloadFormat: 'grist',
    };
    let id: string;
    let fields: Record<string, unknown>;
    const patch = async (body: unknown): Promise<Record<string, unknown>> => {
      expect(await call('PATCH', `/api/docs/${DOC}/webhooks/${id}`, body)).toEqual({ status: 200, body: { success: true } });
      return (await webhook(DOC, id)).fields;
    };

    beforeAll(async () => {
      await seedDoc(DOC, { Orders: ['Item', 'Qty', 'Ready'], People: ['Name', 'Done'] });
    });

    beforeEach(async () => {
      id = await createWebhook(DOC, full);
      fields = (await webhook(DOC, id)).fields;
      expect(fields).toEqual({ ...full, unsubscribeKey: expect.any(String) });
    });

    it('an empty body changes nothing; absent fields stay as they are', async () => {
      expect(await patch({})).toEqual(fields);
      expect(await patch({ name: 'n2' })).toEqual({ ...fields, name: 'n2' });
      expect(await patch({ memo: '', eventTypes: ['update'], url: 'https://api.example.com/x' })).toEqual({
        ...fields,
        name: 'n2',
        memo: '',
        eventTypes: ['update'],
        url: 'https://api.example.com/x',
      });
    });

    it('watchedColIds and isReadyColumn without tableId apply to the current table', async () => {
      expect(await patch({ watchedColIds: ['$Item', ' Qty', ''] })).toEqual({ ...fields, watchedColIds: ['Item', 'Qty'] });
      expect(await patch({ isReadyColumn: null, watchedColIds: [] })).toEqual({ ...fields, isReadyColumn: null, watchedColIds: [] });
      expect(await patch({ isReadyColumn: 'Ready' })).toEqual({ ...fields, watchedColIds: [] });
      expect(await patch({ isReadyColumn: '' })).toEqual({ ...fields, isReadyColumn: null, watchedColIds: [] });
    });

    it('the same tableId changes nothing; another table resets the columns unless given', async () => {
      expect(await patch({ tableId: 'Orders' })).toEqual(fields);
      expect(await patch({ tableId: 'People' })).toEqual({ ...fields, tableId: 'People', isReadyColumn: null, watchedColIds: [] });
      expect(await patch({ tableId: 'Orders', isReadyColumn: 'Ready' })).toEqual({ ...fields, watchedColIds: [] });
      expect(await patch({ tableId: 'People', watchedColIds: ['Name'], isReadyColumn: 'Done' })).toEqual({
        ...fields,
        tableId: 'People',
        isReadyColumn: 'Done',
        watchedColIds: ['Name'],
      });
      // columns are resolved in the new table
      expect(await call('PATCH', `/api/docs/${DOC}/webhooks/${id}`, { tableId: 'Orders', watchedColIds: ['Name'] })).toEqual(
        plainError(404, 'Column not found "Name"'),
      );
      expect((await webhook(DOC, id)).fields.tableId).toBe('People');
    });

    it('authorization "" removes it; a rejected PATCH changes nothing', async () => {
      expect(await patch({ authorization: '' })).toEqual({ ...fields, authorization: '' });
      expect(await patch({ authorization: 'Token t' })).toEqual({ ...fields, authorization: 'Token t' });
      const before = (await webhook(DOC, id)).fields;
      expect(await call('PATCH', `/api/docs/${DOC}/webhooks/${id}`, { name: 'x', url: URL_FORBIDDEN })).toEqual(
        plainError(403, 'Provided url is forbidden'),
      );
      expect(await call('PATCH', `/api/docs/${DOC}/webhooks/${id}`, { name: 'x', isReadyColumn: 'Nope' })).toEqual(
        plainError(404, 'Column not found "Nope"'),
      );
      expect(await call('PATCH', `/api/docs/${DOC}/webhooks/${id}`, { name: 'x', unsubscribeKey: 'mine' })).toEqual(
        invalidPayload('unknown field "unsubscribeKey"'),
      );
      expect((await webhook(DOC, id)).fields).toEqual(before);
    });

    it('enabled toggles and the unsubscribeKey never changes', async () => {
      expect(await patch({ enabled: false })).toEqual({ ...fields, enabled: false });
      expect(await patch({ enabled: true })).toEqual(fields);
    });

    it('concurrent PATCHes of different fields both apply; a PATCH racing a DELETE is 200 only if it came first', async () => {
      const route = `/api/docs/${DOC}/webhooks/${id}`;
      for (let round = 0; round < 20; round++) {
        const answers = await Promise.all([call('PATCH', route, { enabled: false }), call('PATCH', route, { name: `n${round}` })]);
        expect(answers.map((a) => a.status)).toEqual([200, 200]);
        expect(await webhook(DOC, id)).toMatchObject({ fields: { enabled: false, name: `n${round}` } });
        await patch({ enabled: true });
      }
      const [patched, deleted] = await Promise.all([call('PATCH', route, { name: 'late' }), call('DELETE', route)]);
      expect(deleted).toEqual({ status: 200, body: { success: true } });
      expect([200, 404]).toContain(patched.status);
      expect(await call('PATCH', route, { name: 'later' })).toEqual(plainError(404, `Webhook not found "${id}"`));
    });
  });

  describe('queues', () => {
    const DOC = 'queues';
    let rowId = 0;
    const addRows = (n: number) =>
      publish(DOC, Array.from({ length: n }, () => ['AddRecord', 'Orders', ++rowId, { Item: `row ${rowId}`, Qty: rowId }]));
    const waiting = async (): Promise<Record<string, number>> =>
      Object.fromEntries((await list(DOC)).map((w) => [w.id, w.usage.numWaiting]));
    const untilWaiting = (expected: Record<string, number>) =>
      waitFor(`numWaiting ${JSON.stringify(expected)}`, async () => JSON.stringify(await waiting()) === JSON.stringify(expected));

    let a: string;
    let b: string;

    beforeAll(async () => {
      await seedDoc(DOC);
      a = await createWebhook(DOC, { tableId: 'Orders', url: `${receiver.url}/a`, eventTypes: ['add'] });
      b = await createWebhook(DOC, { tableId: 'Orders', url: `${receiver.url}/b`, eventTypes: ['add'] });
    });

    it('DELETE queue/:id empties one queue and resets only that usage', async () => {
      await addRows(3);
      await untilWaiting({ [a]: 3, [b]: 3 });
      // the receiver hangs: each webhook has a request in flight
      await waitFor('both first requests', () => new Set(receiver.requests.map((r) => r.url)).size === 2);
      expect((await webhook(DOC, a)).usage.status).toBe('sending');

      expect(await call('DELETE', `/api/docs/${DOC}/webhooks/queue/${a}`)).toEqual({ status: 200, body: { success: true } });
      const hooks = await list(DOC);
      expectIdleUsage(hooks[0].usage);
      expect(hooks[1].usage).toMatchObject({ numWaiting: 3, status: 'sending' });
      expect(await queuedRows(a)).toBe(0);
      expect(await queuedRows(b)).toBe(3);
    });

    it('DELETE queue empties every queue of the document', async () => {
      await addRows(2);
      await untilWaiting({ [a]: 2, [b]: 5 });
      expect(await call('DELETE', `/api/docs/${DOC}/webhooks/queue`)).toEqual({ status: 200, body: { success: true } });
      for (const w of await list(DOC)) expectIdleUsage(w.usage);
      expect([await queuedRows(a), await queuedRows(b)]).toEqual([0, 0]);
    });

    it('PATCH enabled:false empties that webhook queue only; DELETE of a webhook drops its queue', async () => {
      await addRows(2);
      await untilWaiting({ [a]: 2, [b]: 2 });
      expect(await call('PATCH', `/api/docs/${DOC}/webhooks/${a}`, { enabled: false })).toEqual({ status: 200, body: { success: true } });
      const [hookA, hookB] = await list(DOC);
      expect(hookA.fields.enabled).toBe(false);
      expectIdleUsage(hookA.usage);
      expect(hookB.usage.numWaiting).toBe(2);
      expect(await queuedRows(a)).toBe(0);

      expect(await call('DELETE', `/api/docs/${DOC}/webhooks/${b}`)).toEqual({ status: 200, body: { success: true } });
      expect(await queuedRows(b)).toBe(0);
      expect(await db.query('SELECT webhook_id FROM webhook_delivery WHERE webhook_id = $1', [b])).toEqual([]);
      expect((await list(DOC)).map((w) => w.id)).toEqual([a]);
    });
  });

  describe('renames and removals (tables and columns held by stable ids)', () => {
    const DOC = 'renames';

    it('shows RenameTable and RenameColumn in GET and resolves the new names', async () => {
      await seedDoc(DOC, { Orders: ['Item', 'Qty', 'Ready'], Other: ['Name'] });
      const id = await createWebhook(DOC, {
        tableId: 'Orders',
        url: URL_OK,
        eventTypes: ['add', 'update'],
        isReadyColumn: 'Ready',
        watchedColIds: ['Qty', 'Item'],
      });
      await publish(DOC, [
        ['RenameTable', 'Orders', 'Sales'],
        ['RenameColumn', 'Sales', 'Qty', 'Quantity'],
        ['RenameColumn', 'Sales', 'Ready', 'IsReady'],
      ]);
      const renamed = (await waitFor('GET to show the new names', async () => {
        const w = await webhook(DOC, id);
        return w.fields.tableId === 'Sales' ? w : null;
      }))!;
      expect(renamed.fields).toMatchObject({ tableId: 'Sales', isReadyColumn: 'IsReady', watchedColIds: ['Quantity', 'Item'] });
      expectIdleUsage(renamed.usage);

      // old names are unknown, new ones work
      expect(await call('PATCH', `/api/docs/${DOC}/webhooks/${id}`, { watchedColIds: ['Qty'] })).toEqual(plainError(404, 'Column not found "Qty"'));
      expect(await call('PATCH', `/api/docs/${DOC}/webhooks/${id}`, { tableId: 'Orders' })).toEqual(plainError(404, 'Table not found "Orders"'));
      expect(await call('PATCH', `/api/docs/${DOC}/webhooks/${id}`, { watchedColIds: ['Quantity'] })).toEqual({ status: 200, body: { success: true } });
      expect((await webhook(DOC, id)).fields.watchedColIds).toEqual(['Quantity']);
      expect(await call('POST', `/api/docs/${DOC}/tables/Orders/_subscribe`, { url: URL_OK, eventTypes: ['add'] })).toEqual(
        plainError(404, 'Table not found "Orders"'),
      );
    });

    it('RemoveColumn drops a watched column and clears the ready column', async () => {
      const doc = 'renames-columns';
      await seedDoc(doc);
      const id = await createWebhook(doc, { tableId: 'Orders', url: URL_OK, eventTypes: ['add'], isReadyColumn: 'Ready', watchedColIds: ['Qty', 'Item'] });
      await publish(doc, [['RemoveColumn', 'Orders', 'Ready'], ['RemoveColumn', 'Orders', 'Qty']]);
      const w = (await waitFor('GET to drop the columns', async () => {
        const found = await webhook(doc, id);
        return found.fields.isReadyColumn === null ? found : null;
      }))!;
      expect(w.fields).toMatchObject({ tableId: 'Orders', isReadyColumn: null, watchedColIds: ['Item'] });
      expectIdleUsage(w.usage);
    });

    it('RemoveTable leaves tableId null and status invalid until the webhook moves to a table', async () => {
      const doc = 'renames-remove';
      await seedDoc(doc, { Orders: ['Item', 'Qty', 'Ready'], People: ['Name'] });
      const id = await createWebhook(doc, { tableId: 'Orders', url: URL_OK, eventTypes: ['add'], isReadyColumn: 'Ready', watchedColIds: ['Qty'] });
      await publish(doc, [['RemoveTable', 'Orders']]);
      const w = (await waitFor('GET to show the table gone', async () => {
        const found = await webhook(doc, id);
        return found.fields.tableId === null ? found : null;
      }))!;
      expect(w.fields).toMatchObject({ tableId: null, isReadyColumn: null, watchedColIds: [] });
      expect(w.usage).toMatchObject({ status: 'invalid', numWaiting: 0 });

      // other fields can still change; columns need a table
      expect(await call('PATCH', `/api/docs/${doc}/webhooks/${id}`, { name: 'orphan' })).toEqual({ status: 200, body: { success: true } });
      const needsTable = await call('PATCH', `/api/docs/${doc}/webhooks/${id}`, { watchedColIds: ['Qty'] });
      expect(needsTable.status).toBe(404);
      expect(needsTable.body.error).toMatch(/^Table not found/);
      expect(await call('PATCH', `/api/docs/${doc}/webhooks/${id}`, { tableId: 'People', watchedColIds: ['Name'] })).toEqual({
        status: 200,
        body: { success: true },
      });
      const moved = await webhook(doc, id);
      expect(moved.fields).toMatchObject({ tableId: 'People', watchedColIds: ['Name'], isReadyColumn: null, name: 'orphan' });
      expectIdleUsage(moved.usage);
    });
  });

  describe('keys', () => {
    const docKey = async (docIds: string[]): Promise<{ id: string; key: string }> => {
      const res = await call('POST', '/api/keys', { docIds });
      expect(res).toEqual({ status: 200, body: { id: expect.stringMatching(UUID), key: expect.any(String) } });
      return res.body;
    };

    it('the admin creates and lists document keys; the key itself is never listed', async () => {
      const created = await docKey(['keys-list', 'keys-list-2', 'keys-list']);
      const res = await call('GET', '/api/keys');
      expect(res.status).toBe(200);
      const listed = res.body.keys.find((k: { id: string }) => k.id === created.id);
      expect(listed).toEqual({ id: created.id, docIds: ['keys-list', 'keys-list-2'], createdAt: expect.any(Number) });
      expect(Math.abs(listed.createdAt - Date.now())).toBeLessThan(60_000);
      expect(JSON.stringify(res.body)).not.toContain(created.key);
    });

    it('a document key acts on its documents only: 403 No owner access elsewhere, whether or not the document exists', async () => {
      await Promise.all([seedDoc('keys-a'), seedDoc('keys-b')]);
      const { key } = await docKey(['keys-a']);
      const own = await createWebhook('keys-a', { tableId: 'Orders', url: URL_OK, eventTypes: ['add'] }, key);
      const other = await createWebhook('keys-b', { tableId: 'Orders', url: URL_OK, eventTypes: ['add'] });

      expect(await call('GET', '/api/docs/keys-a/webhooks', undefined, { key })).toMatchObject({ status: 200, body: { webhooks: [{ id: own }] } });
      expect(await call('PATCH', `/api/docs/keys-a/webhooks/${own}`, { name: 'mine' }, { key })).toEqual({ status: 200, body: { success: true } });
      expect(await call('DELETE', `/api/docs/keys-a/webhooks/queue/${own}`, undefined, { key })).toEqual({ status: 200, body: { success: true } });
      expect(await call('DELETE', '/api/docs/keys-a/webhooks/queue', undefined, { key })).toEqual({ status: 200, body: { success: true } });
      const sub = await call('POST', '/api/docs/keys-a/tables/Orders/_subscribe', { url: URL_OK, eventTypes: ['add'] }, { key });
      expect(sub.status).toBe(200);
      expect(await call('POST', '/api/docs/keys-a/tables/Orders/_unsubscribe', { webhookId: sub.body.webhookId }, { key })).toEqual({
        status: 200,
        body: { success: true },
      });

      const forbidden = plainError(403, 'No owner access');
      for (const doc of ['keys-b', 'keys-never-seen', 'keys-a-but-longer', 'KEYS-A']) {
        for (const [method, route, body] of [
          ['GET', `/api/docs/${doc}/webhooks`, undefined],
          ['POST', `/api/docs/${doc}/webhooks`, { webhooks: [{ fields: { tableId: 'Orders', url: URL_OK, eventTypes: ['add'] } }] }],
          ['PATCH', `/api/docs/${doc}/webhooks/${other}`, { name: 'hacked' }],
          ['DELETE', `/api/docs/${doc}/webhooks/${other}`, undefined],
          ['DELETE', `/api/docs/${doc}/webhooks/queue`, undefined],
          ['DELETE', `/api/docs/${doc}/webhooks/queue/${other}`, undefined],
          ['POST', `/api/docs/${doc}/tables/Orders/_subscribe`, { url: URL_OK, eventTypes: ['add'] }],
          ['POST', `/api/docs/${doc}/tables/Orders/_unsubscribe`, { webhookId: other }],
        ] as Array<[string, string, unknown]>) {
          expect([method, route, await call(method, route, body, { key })]).toEqual([method, route, forbidden]);
        }
      }

      // another document's webhook cannot be reached, nor detected, through one's own document
      const notFound = plainError(404, `Webhook not found "${other}"`);
      for (const k2 of [key, ADMIN]) {
        expect(await call('PATCH', `/api/docs/keys-a/webhooks/${other}`, { name: 'hacked' }, { key: k2 })).toEqual(notFound);
        expect(await call('DELETE', `/api/docs/keys-a/webhooks/${other}`, undefined, { key: k2 })).toEqual(notFound);
        expect(await call('DELETE', `/api/docs/keys-a/webhooks/queue/${other}`, undefined, { key: k2 })).toEqual(notFound);
        expect(await call('POST', '/api/docs/keys-a/tables/Orders/_unsubscribe', { webhookId: other }, { key: k2 })).toEqual(notFound);
      }
      expect((await list('keys-a')).map((w) => [w.id, w.fields.name])).toEqual([[own, 'mine']]);
      expect((await list('keys-b')).map((w) => [w.id, w.fields.name])).toEqual([[other, '']]);
    });

    it('a document key cannot manage keys, whatever the case of the path: 403', async () => {
      const { id, key } = await docKey(['keys-admin']);
      for (const [method, route, body] of [
        ['GET', '/api/keys', undefined],
        ['POST', '/api/keys', { docIds: ['keys-other'] }],
        ['DELETE', `/api/keys/${id}`, undefined],
        ['GET', '/API/KEYS', undefined],
        ['POST', '/Api/Keys', { docIds: ['keys-other'] }],
        ['DELETE', `/API/Keys/${id}`, undefined],
      ] as Array<[string, string, unknown]>) {
        expect(await call(method, route, body, { key })).toMatchObject({ status: 403 });
      }
      expect((await call('GET', '/api/keys')).body.keys.map((k: { id: string }) => k.id)).toContain(id);
    });

    it('no key, a wrong key or a malformed header is 401 on every route', async () => {
      const headers: Array<CallOptions> = [
        { key: null },
        { key: 'wrong' },
        { key: `${ADMIN}x` },
        { key: null, headers: { authorization: 'Bearer' } },
        { key: null, headers: { authorization: `Basic ${ADMIN}` } },
        { key: null, headers: { authorization: `Bearer ${ADMIN} extra` } },
        { key: null, headers: { authorization: ADMIN } },
      ];
      for (const opts of headers) {
        for (const [method, route] of [
          ['GET', '/api/docs/keys-auth/webhooks'],
          ['POST', '/api/docs/keys-auth/webhooks'],
          ['PATCH', `/api/docs/keys-auth/webhooks/${MISSING_ID}`],
          ['DELETE', `/api/docs/keys-auth/webhooks/${MISSING_ID}`],
          ['DELETE', '/api/docs/keys-auth/webhooks/queue'],
          ['POST', '/api/docs/keys-auth/tables/T/_subscribe'],
          ['POST', '/api/docs/keys-auth/tables/T/_unsubscribe'],
          ['GET', '/api/keys'],
          ['POST', '/api/keys'],
          ['DELETE', `/api/keys/${MISSING_ID}`],
        ]) {
          const res = await call(method, route, method === 'GET' ? undefined : {}, opts);
          expect([method, route, opts, res.status]).toEqual([method, route, opts, 401]);
        }
      }
    });

    it('a revoked key is 401; revoking twice is 404', async () => {
      const { id, key } = await docKey(['keys-revoked']);
      expect(await call('GET', '/api/docs/keys-revoked/webhooks', undefined, { key })).toEqual({ status: 200, body: { webhooks: [] } });
      expect(await call('DELETE', `/api/keys/${id}`)).toEqual({ status: 200, body: { success: true } });
      expect(await call('GET', '/api/docs/keys-revoked/webhooks', undefined, { key })).toMatchObject({ status: 401 });
      expect((await call('GET', '/api/keys')).body.keys.map((k: { id: string }) => k.id)).not.toContain(id);
      expect(await call('DELETE', `/api/keys/${id}`)).toEqual(plainError(404, `Key not found "${id}"`));
      expect(await call('DELETE', '/api/keys/not-a-uuid')).toEqual(plainError(404, 'Key not found "not-a-uuid"'));
      const uuidLength = 'a'.repeat(36);
      expect(await call('DELETE', `/api/keys/${uuidLength}`)).toEqual(plainError(404, `Key not found "${uuidLength}"`));
    });

    it.each<[string, unknown]>([
      ['missing docIds', {}],
      ['empty docIds', { docIds: [] }],
      ['docIds not an array', { docIds: 'a' }],
      ['a docId not a string', { docIds: ['a', 1] }],
      ['an empty docId', { docIds: [''] }],
      ['an array body', [{ docIds: ['a'] }]],
    ])('POST /api/keys rejects %s with 400', async (_name, body) => {
      expect(await call('POST', '/api/keys', body)).toMatchObject({ status: 400, body: { error: 'Invalid payload' } });
    });
  });

  describe('malformed requests never give a 5xx', () => {
    const DOC = 'malformed';
    let id: string;

    beforeAll(async () => {
      await seedDoc(DOC);
      id = await createWebhook(DOC, { tableId: 'Orders', url: URL_OK, eventTypes: ['add'] });
    });

    const bodyRoutes = (): Array<[string, string]> => [
      ['POST', `/api/docs/${DOC}/webhooks`],
      ['PATCH', `/api/docs/${DOC}/webhooks/${id}`],
      ['POST', `/api/docs/${DOC}/tables/Orders/_subscribe`],
      ['POST', `/api/docs/${DOC}/tables/Orders/_unsubscribe`],
      ['POST', '/api/keys'],
    ];

    it('invalid JSON is 400 on every route taking a body', async () => {
      for (const [method, route] of bodyRoutes()) {
        for (const raw of ['{', '{"webhooks": [}', "{'a': 1}", 'undefined', '\u0000']) {
          expect([route, raw, await call(method, route, raw)]).toEqual([route, raw, plainError(400, 'Invalid JSON body')]);
        }
      }
    });

    it('a JSON array, string, number or null body is 400', async () => {
      for (const [method, route] of bodyRoutes()) {
        for (const raw of ['[]', '[{"webhooks": []}]', '"x"', '1', 'null', 'true']) {
          const res = await call(method, route, raw);
          expect([route, raw, res.status]).toEqual([route, raw, 400]);
        }
      }
    });

    it('a body over 256kb is 413 with a JSON error', async () => {
      const huge = JSON.stringify({ webhooks: [{ fields: { tableId: 'Orders', url: URL_OK, eventTypes: ['add'], memo: 'x'.repeat(300_000) } }] });
      for (const [method, route] of bodyRoutes()) {
        expect(await call(method, route, huge)).toEqual(plainError(413, 'Request body too large'));
      }
      // without a key too: the size is refused before anything else
      expect(await call('POST', `/api/docs/${DOC}/webhooks`, huge, { key: null })).toMatchObject({ status: 413 });
    });

    it('another content type or an unsupported encoding or charset is a 4xx', async () => {
      const body = JSON.stringify({ webhooks: [] });
      expect(await call('POST', `/api/docs/${DOC}/webhooks`, body, { headers: { 'content-type': 'text/plain' } })).toEqual(
        invalidPayload('body is not an object'),
      );
      expect(await call('POST', `/api/docs/${DOC}/webhooks`, body, { headers: { 'content-encoding': 'x-unknown' } })).toMatchObject({ status: 415 });
      expect(await call('POST', `/api/docs/${DOC}/webhooks`, body, { headers: { 'content-type': 'application/json; charset=klingon' } })).toMatchObject({
        status: 415,
      });
    });

    const badFields: Array<[string, unknown, string]> = [
      ['url', 5, 'url is not a string'],
      ['url', null, 'url is not a string'],
      ['url', ['https://example.com'], 'url is not a string'],
      ['authorization', 1, 'authorization is not a string'],
      ['authorization', null, 'authorization is not a string'],
      ['eventTypes', { 0: 'add' }, 'eventTypes is not an array'],
      ['eventTypes', [null], 'eventTypes[0] is none of "add", "update", "remove"'],
      ['eventTypes', [['add']], 'eventTypes[0] is none of "add", "update", "remove"'],
      ['eventTypes', ['ADD'], 'eventTypes[0] is none of "add", "update", "remove"'],
      ['tableId', 1, 'tableId is not a string'],
      ['tableId', null, 'tableId is not a string'],
      ['watchedColIds', 'Item', 'watchedColIds is not an array'],
      ['watchedColIds', [1], 'watchedColIds[0] is not a string'],
      ['watchedColIds', null, 'watchedColIds is not an array'],
      ['enabled', 'true', 'enabled is not a boolean'],
      ['enabled', 0, 'enabled is not a boolean'],
      ['enabled', null, 'enabled is not a boolean'],
      ['isReadyColumn', 3, 'isReadyColumn is not a string or null'],
      ['isReadyColumn', ['Ready'], 'isReadyColumn is not a string or null'],
      ['name', 1, 'name is not a string'],
      ['name', {}, 'name is not a string'],
      ['memo', false, 'memo is not a string'],
      ['payloadFormat', 'xml', 'payloadFormat is none of "grist", "envelope"'],
      ['payloadFormat', null, 'payloadFormat is none of "grist", "envelope"'],
    ];
    const valid = { tableId: 'Orders', url: URL_OK, eventTypes: ['add'] };

    it.each(badFields)('%s = %j is 400 on POST, PATCH and _subscribe: %s', async (field, value, userError) => {
      const expected = invalidPayload(userError);
      expect(await call('POST', `/api/docs/${DOC}/webhooks`, { webhooks: [{ fields: { ...valid, [field]: value } }] })).toEqual(expected);
      expect(await call('PATCH', `/api/docs/${DOC}/webhooks/${id}`, { [field]: value })).toEqual(expected);
      const { tableId: _tableId, ...subscribeFields } = valid;
      const sub = await call('POST', `/api/docs/${DOC}/tables/Orders/_subscribe`, { ...subscribeFields, [field]: value });
      expect(sub).toEqual(field === 'tableId' ? invalidPayload('unknown field "tableId"') : expected);
    });

    it('unknown fields are 400 at every level', async () => {
      const route = `/api/docs/${DOC}/webhooks`;
      expect(await call('POST', route, { webhooks: [], extra: 1 })).toEqual(invalidPayload('unknown field "extra"'));
      expect(await call('POST', route, { webhooks: [{ fields: valid, id: 'x' }] })).toEqual(invalidPayload('unknown field "id"'));
      expect(await call('POST', route, { webhooks: [{ fields: { ...valid, secret: 's' } }] })).toEqual(invalidPayload('unknown field "secret"'));
      // JSON.parse makes "__proto__" an own property: it is an unknown field, never a prototype
      const proto = '{"webhooks": [{"fields": {"tableId": "Orders", "url": "https://example.com", "eventTypes": ["add"], "__proto__": {}}}]}';
      expect(await call('POST', route, proto)).toEqual(invalidPayload('unknown field "__proto__"'));
      expect(await call('PATCH', `${route}/${id}`, { usage: {} })).toEqual(invalidPayload('unknown field "usage"'));
      expect(await call('POST', `/api/docs/${DOC}/tables/Orders/_subscribe`, { ...valid, tableId: undefined, constructor: 1 })).toEqual(
        invalidPayload('unknown field "constructor"'),
      );
      expect(await call('POST', route, { webhooks: {} })).toEqual(invalidPayload('webhooks is not an array'));
      expect(await call('POST', route, { webhooks: [{}] })).toEqual(invalidPayload('webhooks[0].fields is missing'));
      expect(await call('POST', route, { webhooks: [{ fields: null }] })).toEqual(invalidPayload('webhooks[0].fields is not an object'));
    });

    it('_unsubscribe with a missing or mistyped webhookId is 400; an unknown one 404; nothing is deleted', async () => {
      const unsubscribe = (body: unknown) => call('POST', `/api/docs/${DOC}/tables/Orders/_unsubscribe`, body);
      expect(await unsubscribe({})).toEqual(invalidPayload('webhookId is missing'));
      expect(await unsubscribe({ unsubscribeKey: 'k' })).toEqual(invalidPayload('webhookId is missing'));
      for (const webhookId of [null, 1, [id], { id }]) {
        expect(await unsubscribe({ webhookId })).toEqual(invalidPayload('webhookId is not a string'));
      }
      expect(await unsubscribe({ webhookId: id, unsubscribeKey: 1 })).toEqual(invalidPayload('unsubscribeKey is not a string'));
      expect(await unsubscribe({ webhookId: id, id })).toEqual(invalidPayload('unknown field "id"'));
      const long = 'x'.repeat(5000);
      expect(await unsubscribe({ webhookId: long })).toEqual(plainError(404, `Webhook not found "${long}"`));
      expect((await list(DOC)).map((w) => w.id)).toContain(id);
    });

    it('odd webhook ids in paths are 404 Webhook not found', async () => {
      for (const odd of ['not-a-uuid', '1', 'x'.repeat(2000), `${id}x`, `${id.toUpperCase()}0`, '%00', '%20', "'%3B%20DROP%20TABLE%20webhooks%3B--"]) {
        for (const [method, route] of [
          ['PATCH', `/api/docs/${DOC}/webhooks/${odd}`],
          ['DELETE', `/api/docs/${DOC}/webhooks/${odd}`],
          ['DELETE', `/api/docs/${DOC}/webhooks/queue/${odd}`],
        ]) {
          const res = await call(method, route, method === 'PATCH' ? { name: 'x' } : undefined);
          expect([route.slice(0, 100), res.status, res.body.error]).toEqual([route.slice(0, 100), 404, expect.stringMatching(/^Webhook not found "/)]);
        }
      }
      expect((await webhook(DOC, id)).fields.name).toBe('');
    });

    it('a webhook id in upper case is the same webhook', async () => {
      expect(await call('PATCH', `/api/docs/${DOC}/webhooks/${id.toUpperCase()}`, { memo: 'upper' })).toEqual({ status: 200, body: { success: true } });
      expect((await webhook(DOC, id)).fields.memo).toBe('upper');
    });

    it('odd document ids in paths never give a 5xx', async () => {
      const random = (n: number) => Array.from({ length: n }, () => String.fromCharCode(0x61 + Math.floor(Math.random() * 26))).join('');
      for (const doc of [random(6000), '%00', 'a%00b', '%E2%82', '%ZZ', '%F0%9F%92%A9', 'a%2Fb', '..', '%2E%2E', '%20', 'null', 'undefined']) {
        for (const [method, route, body] of [
          ['GET', `/api/docs/${doc}/webhooks`, undefined],
          ['POST', `/api/docs/${doc}/webhooks`, { webhooks: [{ fields: valid }] }],
          ['POST', `/api/docs/${doc}/webhooks`, { webhooks: [] }],
          ['DELETE', `/api/docs/${doc}/webhooks/queue`, undefined],
          ['PATCH', `/api/docs/${doc}/webhooks/${id}`, { name: 'x' }],
          ['POST', `/api/docs/${doc}/tables/Orders/_subscribe`, { url: URL_OK, eventTypes: ['add'] }],
          ['POST', `/api/docs/${doc}/tables/${doc}/_unsubscribe`, { webhookId: id }],
        ] as Array<[string, string, unknown]>) {
          const res = await call(method, route, body);
          expect(res.status).toBeGreaterThanOrEqual(200);
        }
      }
      expect(await call('GET', '/api/docs/a%00b/webhooks')).toEqual(
        plainError(400, 'Invalid docId: it contains a NUL character or an unpaired surrogate'),
      );
      expect(await call('GET', '/api/docs/%ZZ/webhooks')).toMatchObject({ status: 400 });
      expect(await call('GET', `/api/docs/${random(6000)}/webhooks`)).toEqual(plainError(400, 'Invalid docId: it is 6000 bytes long, more than 512'));
      expect(await call('GET', `/api/docs/${random(512)}/webhooks`)).toEqual({ status: 200, body: { webhooks: [] } });
      // a valid id under another document is still unknown
      expect(await call('PATCH', `/api/docs/${DOC}x/webhooks/${id}`, { name: 'x' })).toEqual(plainError(404, `Webhook not found "${id}"`));
      expect((await webhook(DOC, id)).fields.name).toBe('');
    });

    it('odd strings inside a body never give a 5xx', async () => {
      for (const text of ['\u0000', 'a\u0000b', '\ud800', 'x'.repeat(100_000)]) {
        for (const [method, route, body] of [
          ['POST', `/api/docs/${DOC}/webhooks`, { webhooks: [{ fields: { ...valid, name: text } }] }],
          ['POST', `/api/docs/${DOC}/webhooks`, { webhooks: [{ fields: { ...valid, tableId: text } }] }],
          ['POST', `/api/docs/${DOC}/webhooks`, { webhooks: [{ fields: { ...valid, url: `https://example.com/${text}` } }] }],
          ['PATCH', `/api/docs/${DOC}/webhooks/${id}`, { memo: text, authorization: text }],
          ['PATCH', `/api/docs/${DOC}/webhooks/${id}`, { watchedColIds: [text], isReadyColumn: text }],
          ['POST', `/api/docs/${DOC}/tables/Orders/_unsubscribe`, { webhookId: text }],
          ['POST', '/api/keys', { docIds: [text] }],
        ] as Array<[string, string, unknown]>) {
          await call(method, route, body);
        }
      }
      expect(await call('PATCH', `/api/docs/${DOC}/webhooks/${id}`, { memo: 'a\u0000b' })).toEqual(invalidPayload('memo contains a NUL character'));
      expect(await call('POST', '/api/keys', { docIds: ['a\u0000b'] })).toMatchObject({ status: 400, body: { error: 'Invalid payload' } });
      expect((await webhook(DOC, id)).fields.memo).not.toContain('\u0000');
    });

    it('unknown routes and methods answer a JSON 404', async () => {
      for (const [method, route] of [
        ['GET', '/'],
        ['GET', '/nope'],
        ['GET', '/api'],
        ['GET', '/api/docs'],
        ['GET', `/api/docs/${DOC}`],
        ['GET', `/api/docs/${DOC}/webhooks/${id}`],
        ['PUT', `/api/docs/${DOC}/webhooks`],
        ['DELETE', `/api/docs/${DOC}/webhooks`],
        ['POST', `/api/docs/${DOC}/webhooks/${id}`],
        ['GET', `/api/docs/${DOC}/webhooks/queue`],
        ['GET', `/api/docs/${DOC}/tables/Orders/_subscribe`],
        ['POST', `/api/docs/${DOC}/tables/Orders/_nope`],
        ['PATCH', '/api/keys'],
        ['GET', '/api/keys/x/y'],
      ]) {
        expect([method, route, await call(method, route, undefined, { key: null })]).toEqual([method, route, plainError(404, 'Not found')]);
        expect([method, route, await call(method, route)]).toEqual([method, route, plainError(404, 'Not found')]);
      }
    });

    it('serves the OpenAPI description', async () => {
      const res = await call('GET', '/api/openapi.json', undefined, { key: null });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body.paths)).toContain('/api/docs/{docId}/webhooks/queue/{webhookId}');
    });
  });

  describe('stopping (a second instance)', () => {
    it('SIGTERM stops cleanly, with exit code 0', async () => {
      const other = await startApp('config-api', env);
      expect(await other.stop()).toBe(0);
    });

    it('a later signal stops at once a clean stop stuck on a query that never ends; one at the same moment does not', async () => {
      await seedDoc('stopping');
      const id = await createWebhook('stopping', { tableId: 'Orders', url: URL_OK, eventTypes: ['add'] });
      const other = await startApp('config-api', env);
      const exited = new Promise<number | null>((resolve) => other.process.once('exit', resolve));
      await db.query('BEGIN');
      try {
        // every webhook change takes this lock first: the PATCH below waits on it, and the stop on the PATCH
        await db.query('SELECT version FROM config_version FOR UPDATE');
        const patching = fetch(`${other.url}/api/docs/stopping/webhooks/${id}`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'stuck' }),
        }).catch(() => 'no answer');
        await waitFor('the PATCH to wait on the lock', async () => {
          const [waiting] = await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          );
          return waiting.n > 0;
        });
        other.process.kill('SIGTERM');
        await waitFor('the first signal to be taken', () => other.logs.some((line) => line.includes('"msg":"stopping"')));
        // a second signal at once is the same stop (Ctrl-C and a supervisor's SIGTERM arrive together)
        other.process.kill('SIGINT');
        // the rule is about time itself: only a signal 2 s after the first forces the stop
        await new Promise((resolve) => setTimeout(resolve, 2100));
        expect(other.process.exitCode).toBeNull();
        other.process.kill('SIGTERM');
        expect(await exited).toBe(1);
        expect(await patching).toBe('no answer');
      } finally {
        await db.query('ROLLBACK');
        await other.kill();
      }
    });
  });
});

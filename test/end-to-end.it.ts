import {
  apiClient,
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

describe('one row end to end', () => {
  let db: TestDatabase;
  let k: TestKafka;
  let receiver: Receiver;
  let api: RunningApp;

  beforeAll(async () => {
    [db, k, receiver] = await Promise.all([createTestDatabase(), createTestKafka(), startReceiver()]);
    const env = engineEnv(db, k, { ALLOWED_WEBHOOK_DOMAINS: `localhost:${receiver.port}` });
    [api] = await Promise.all([startApp('config-api', env), startApp('matcher', env), startApp('dispatcher', env)]);
  });

  afterAll(async () => {
    await stopAllApps();
    await Promise.all([receiver?.close(), k?.close(), db?.drop()]);
  });

  it('delivers an added row to the webhook created over the API, with the headers of SPEC section 4', async () => {
    const call = apiClient(() => api.url);
    await k.publish({ docId: 'sales', actionNum: 1, actions: [['AddTable', 'Orders', [{ id: 'Item', type: 'Text' }, { id: 'Qty', type: 'Int' }]]] });
    const created = await waitFor('the API to know table Orders', async () => {
      const res = await call('POST', '/api/docs/sales/webhooks', {
        webhooks: [{ fields: { url: `${receiver.url}/hook`, eventTypes: ['add'], tableId: 'Orders', authorization: 'Bearer receiver-secret' } }],
      });
      return res.status === 200 ? res : null;
    });
    const webhookId = created!.body.webhooks[0].id;
    // a webhook fires for every bundle appended after it was created
    await k.publish({ docId: 'sales', actionNum: 2, actions: [['AddRecord', 'Orders', 1, { Item: 'Tea', Qty: 2 }]] });

    await waitFor('the receiver to get the row', () => receiver.rows().length >= 1);
    const [request] = receiver.requests;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/hook');
    expect(request.json).toEqual([{ id: 1, Item: 'Tea', Qty: 2 }]);
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers.authorization).toBe('Bearer receiver-secret');
    expect(request.headers['webhook-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(Math.abs(Number(request.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    expect(request.headers['user-agent']).toMatch(/^GristWebhookEngine\/\d+\.\d+\.\d+/);

    const status = await waitFor('usage to show the success', async () => {
      const res = await call('GET', '/api/docs/sales/webhooks');
      const usage = res.body.webhooks[0].usage;
      return usage.status === 'idle' && usage.lastEventBatch ? res.body.webhooks[0] : null;
    });
    expect(status.id).toBe(webhookId);
    expect(status.usage).toMatchObject({
      numWaiting: 0,
      status: 'idle',
      lastHttpStatus: 200,
      lastEventBatch: { size: 1, attempts: 1, status: 'success', httpStatus: 200, errorMessage: null },
    });
  });
});

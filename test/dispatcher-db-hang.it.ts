/**
 * A dispatcher whose Postgres connections hang (a network partition: no error, no answer) while a request is in
 * flight: its lease runs out and another instance takes the webhook over, so it must abandon its request by then
 * (SPEC section 4: each webhook is delivered by one instance at a time).
 */
import { createServer, Server, Socket } from 'node:net';
import { once } from 'node:events';
import { AddressInfo } from 'node:net';
import {
  apiClient,
  createTestDatabase,
  createTestKafka,
  engineEnv,
  HoldingReceiver,
  startApp,
  startHoldingReceiver,
  stopAllApps,
  TestDatabase,
  TestKafka,
  waitFor,
} from './support/harness';

/** A TCP relay to Postgres that can be frozen: connections stay open, nothing goes through either way. */
async function freezableRelay(target: URL): Promise<{ port: number; freeze(): void; close(): Promise<void> }> {
  let frozen = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = new Socket().connect(Number(target.port || 5432), target.hostname);
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      sockets.add(from);
      from.on('data', (chunk) => void (frozen || to.write(chunk)));
      from.on('error', () => undefined);
      from.on('close', () => to.destroy());
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    freeze: () => void (frozen = true),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('dispatcher: Postgres unreachable without an error', () => {
  const docId = 'mill';
  let db: TestDatabase;
  let k: TestKafka;
  let holder: HoldingReceiver;
  let relay: Awaited<ReturnType<typeof freezableRelay>>;

  beforeAll(async () => {
    [db, k, holder] = await Promise.all([createTestDatabase(), createTestKafka(), startHoldingReceiver()]);
    relay = await freezableRelay(new URL(db.url));
  });

  afterAll(async () => {
    await stopAllApps();
    await Promise.all([holder?.close(), relay?.close(), k?.close(), db?.drop()]);
  });

  it('abandons its request in flight before its lease runs out, when its lease renewals hang', async () => {
    const env = engineEnv(db, k, { ALLOWED_WEBHOOK_DOMAINS: `localhost:${holder.port}` });
    const viaRelay = new URL(db.url);
    viaRelay.host = `127.0.0.1:${relay.port}`;
    const [api] = await Promise.all([startApp('config-api', env), startApp('matcher', env)]);
    const cut = await startApp('dispatcher', { ...env, DATABASE_URL: viaRelay.toString() });
    const call = apiClient(() => api.url);
    await k.publish({ docId, actionNum: 1, actions: [['AddTable', 'Orders', [{ id: 'Item', type: 'Text' }]]] });
    const res = await waitFor('the webhook', async () => {
      const r = await call('POST', `/api/docs/${docId}/webhooks`, { webhooks: [{ fields: { url: `${holder.url}/cut`, eventTypes: ['add'], tableId: 'Orders' } }] });
      return r.status === 200 ? r : null;
    });
    expect(res!.body.webhooks).toHaveLength(1);
    await k.publish({ docId, actionNum: 2, actions: [['AddRecord', 'Orders', 1, { Item: 'Tea' }]] });
    await waitFor('the request in flight', () => holder.requests.length === 1, 15_000);
    await startApp('dispatcher', env);

    relay.freeze();
    const frozenAt = Date.now();
    const again = await waitFor('the other instance to take the webhook over', () => holder.requests[1], 15_000);
    const [first] = holder.requests;
    // the frozen instance gave the request up before the other one sent the batch again, never both at once
    expect(first.closedAt).not.toBeNull();
    expect(first.closedAt!).toBeLessThanOrEqual(again.at);
    expect(first.closedAt! - frozenAt).toBeLessThan(5000);
    expect(again.headers['webhook-id']).toBe(first.headers['webhook-id']);
    expect(cut.logs.some((l) => l.includes('delivery abandoned') && l.includes('lease lost or about to run out'))).toBe(true);
  }, 60_000);
});

import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo, connect, Socket } from 'node:net';
import { HttpSender, RESPONSE_BODY_MAX, SenderOptions } from './http-sender';
import { buildRequest, OutgoingRequest } from './request';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const servers: Server[] = [];
const senders: HttpSender[] = [];

/** A loopback server answering with `handler`; records what it received and how many connections it saw. */
async function startServer(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const received: Received[] = [];
  const state = { connections: 0 };
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res);
    });
  });
  server.on('connection', () => state.connections++);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, received, state, server };
}

function sender(opts: Partial<SenderOptions> & Pick<SenderOptions, 'allowed'>): HttpSender {
  const s = new HttpSender({ timeoutMs: 2000, proxyUrl: null, ...opts });
  senders.push(s);
  return s;
}

const post = (url: string): OutgoingRequest =>
  buildRequest({
    url,
    authorization: 'Bearer t0k',
    batchId: 'batch-1',
    timestampSec: 1700000000,
    userAgent: 'grist-webhook-engine/test',
    body: '[{"id":1}]',
  });

afterEach(async () => {
  await Promise.all(senders.splice(0).map((s) => s.close()));
  await Promise.all(
    servers.splice(0).map((server) => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    }),
  );
});

describe('HttpSender against a local receiver', () => {
  it('POSTs the request and reports a 200', async () => {
    const { port, received } = await startServer((_req, res) => res.end('ok'));
    const result = await sender({ allowed: [`localhost:${port}`] }).send(post(`http://localhost:${port}/hook?x=1`));
    expect(result).toEqual({ kind: 'success', httpStatus: 200 });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ method: 'POST', url: '/hook?x=1', body: '[{"id":1}]' });
    expect(received[0].headers).toMatchObject({
      'content-type': 'application/json',
      authorization: 'Bearer t0k',
      'webhook-id': 'batch-1',
      'webhook-timestamp': '1700000000',
      'user-agent': 'grist-webhook-engine/test',
    });
  });

  it.each([
    [204, { kind: 'success', httpStatus: 204 }],
    [404, { kind: 'http-error', httpStatus: 404, body: 'no such hook', retryAfter: null }],
    [500, { kind: 'http-error', httpStatus: 500, body: 'no such hook', retryAfter: null }],
  ])('reports a %i', async (status, expected) => {
    const { port } = await startServer((_req, res) => {
      res.statusCode = status;
      res.end(status === 204 ? undefined : 'no such hook');
    });
    expect(await sender({ allowed: [`localhost:${port}`] }).send(post(`http://localhost:${port}/`))).toEqual(expected);
  });

  it('does not follow a redirect', async () => {
    const target = await startServer((_req, res) => res.end());
    const { port } = await startServer((_req, res) => {
      res.writeHead(301, { location: `http://localhost:${target.port}/` });
      res.end();
    });
    const allowed = [`localhost:${port}`, `localhost:${target.port}`];
    expect(await sender({ allowed }).send(post(`http://localhost:${port}/`))).toEqual({
      kind: 'http-error',
      httpStatus: 301,
      body: '',
      retryAfter: null,
    });
    expect(target.received).toHaveLength(0);
  });

  it('passes Retry-After on', async () => {
    const { port } = await startServer((_req, res) => {
      res.writeHead(429, { 'retry-after': '7' });
      res.end('slow down');
    });
    expect(await sender({ allowed: [`localhost:${port}`] }).send(post(`http://localhost:${port}/`))).toEqual({
      kind: 'http-error',
      httpStatus: 429,
      body: 'slow down',
      retryAfter: '7',
    });
  });

  it('reads at most RESPONSE_BODY_MAX of an error body', async () => {
    const { port } = await startServer((_req, res) => {
      res.statusCode = 500;
      res.end('y'.repeat(RESPONSE_BODY_MAX * 4));
    });
    const result = await sender({ allowed: [`localhost:${port}`] }).send(post(`http://localhost:${port}/`));
    expect(result.kind === 'http-error' && result.body.length).toBe(RESPONSE_BODY_MAX);
  });

  it('keeps the connection alive across attempts, error responses included', async () => {
    let n = 0;
    const { port, state } = await startServer((_req, res) => {
      res.statusCode = n++ % 2 === 0 ? 503 : 200;
      res.end('body');
    });
    const s = sender({ allowed: [`localhost:${port}`] });
    for (let i = 0; i < 4; i++) {
      await s.send(post(`http://localhost:${port}/`));
      // undici frees the connection a tick after the body ends; without this pause it opens a second one
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(state.connections).toBe(1);
  });

  it('times out a slow receiver', async () => {
    const { port } = await startServer(() => undefined);
    const result = await sender({ allowed: [`localhost:${port}`], timeoutMs: 150 }).send(post(`http://localhost:${port}/`));
    expect(result).toEqual({ kind: 'network-error', message: 'timed out after 150 ms' });
  });

  it('times out a body that never ends', async () => {
    const { port } = await startServer((_req, res) => {
      res.writeHead(500);
      res.write('partial');
    });
    const result = await sender({ allowed: [`localhost:${port}`], timeoutMs: 150 }).send(post(`http://localhost:${port}/`));
    expect(result).toEqual({ kind: 'http-error', httpStatus: 500, body: 'partial', retryAfter: null });
  });

  it('reports a refused connection', async () => {
    const { port, server } = await startServer(() => undefined);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const result = await sender({ allowed: [`localhost:${port}`] }).send(post(`http://localhost:${port}/`));
    expect(result.kind).toBe('network-error');
    expect(result.kind === 'network-error' && result.message).toMatch(/ECONNREFUSED/);
  });

  it('rejects with an AbortError when the caller aborts', async () => {
    const { port } = await startServer(() => undefined);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const s = sender({ allowed: [`localhost:${port}`] });
    await expect(s.send(post(`http://localhost:${port}/`), controller.signal)).rejects.toMatchObject({ name: 'AbortError' });
    await expect(s.send(post(`http://localhost:${port}/`), controller.signal)).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('HttpSender security', () => {
  it('refuses a URL ALLOWED_WEBHOOK_DOMAINS does not allow, without connecting', async () => {
    const { port, state } = await startServer((_req, res) => res.end());
    const result = await sender({ allowed: ['example.com'] }).send(post(`http://localhost:${port}/`));
    expect(result).toEqual({
      kind: 'forbidden-url',
      message: `URL is not allowed by ALLOWED_WEBHOOK_DOMAINS: localhost:${port}`,
    });
    expect(state.connections).toBe(0);
  });

  it('refuses a non-public IP literal that is not named explicitly', async () => {
    const { port, state } = await startServer((_req, res) => res.end());
    const result = await sender({ allowed: '*' }).send(post(`http://127.0.0.1:${port}/`));
    expect(result).toEqual({ kind: 'forbidden-url', message: 'Refused to connect to non-public address 127.0.0.1' });
    expect(state.connections).toBe(0);
  });

  it('refuses a name that resolves to a non-public address, at connect time', async () => {
    const { port, state } = await startServer((_req, res) => res.end());
    const result = await sender({ allowed: '*' }).send(post(`http://localhost:${port}/`));
    expect(result.kind).toBe('forbidden-url');
    expect(result.kind === 'forbidden-url' && result.message).toMatch(/^Refused to connect to localhost: non-public address/);
    expect(state.connections).toBe(0);
  });

  it('sends to a private address named explicitly', async () => {
    const { port } = await startServer((_req, res) => res.end());
    expect(await sender({ allowed: [`localhost:${port}`] }).send(post(`http://localhost:${port}/`))).toEqual({
      kind: 'success',
      httpStatus: 200,
    });
  });

  it('sends every request through the proxy, which then polices addresses', async () => {
    const target = await startServer((_req, res) => res.end());
    const proxy = createServer();
    servers.push(proxy);
    const tunnels: string[] = [];
    proxy.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
      tunnels.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const result = await sender({ allowed: '*', proxyUrl }).send(post(`http://127.0.0.1:${target.port}/`));
    expect(result).toEqual({ kind: 'success', httpStatus: 200 });
    expect(tunnels).toEqual([`127.0.0.1:${target.port}`]);
    expect(target.received).toHaveLength(1);
  });
});

import { once } from 'node:events';
import net from 'node:net';

/** A loopback port free right now (the app binds it a moment later; a clash would fail loudly at start-up). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

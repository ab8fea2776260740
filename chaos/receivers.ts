/**
 * Receivers for the chaos run: HTTP servers on loopback, one per behaviour profile, each webhook on its own path
 * (/hook/<webhookName>). They record every request and whether it was answered 2xx.
 */
import { once } from 'node:events';
import http from 'node:http';
import { AddressInfo } from 'node:net';

/** healthy: 200. flaky: 500 or a reset connection now and then. throttle: 429 + Retry-After: 1 now and then.
 * hang: no answer now and then (the engine's timeout fires). closing: its port closes for a while, repeatedly. */
export type Profile = 'healthy' | 'flaky' | 'throttle' | 'hang' | 'closing';
export const PROFILES: Profile[] = ['healthy', 'flaky', 'throttle', 'hang', 'closing'];

export interface Delivery {
  /** The webhook name (from the path). */
  hook: string;
  /** When the 2xx answer was written. */
  at: number;
  body: unknown;
}

type Reply = 'ok' | 'fail500' | 'throttle' | 'hang' | 'reset';

export class Receiver {
  private server: http.Server | null = null;
  private readonly sockets = new Set<import('node:net').Socket>();
  private port = 0;
  /** When true (the run's drain phase), every request is answered 200. */
  healed = false;
  /** Paths (webhook names) forced to hang, whatever the profile. */
  readonly forcedHang = new Set<string>();
  readonly deliveries: Delivery[] = [];
  requests = 0;
  failures = 0;
  openWindowsClosed = 0;

  constructor(
    readonly profile: Profile,
    private readonly random: () => number,
  ) {}

  get portNumber(): number {
    return this.port;
  }

  urlFor(hook: string): string {
    return `http://localhost:${this.port}/hook/${hook}`;
  }

  isOpen(): boolean {
    return this.server !== null;
  }

  async open(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Closes the port (new connections are refused) and drops every open connection. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise((r) => server.close(r));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private choose(hook: string): Reply {
    if (this.forcedHang.has(hook)) return 'hang';
    if (this.healed) return 'ok';
    const x = this.random();
    switch (this.profile) {
      case 'flaky':
        return x < 0.25 ? 'fail500' : x < 0.3 ? 'reset' : 'ok';
      case 'throttle':
        return x < 0.25 ? 'throttle' : 'ok';
      case 'hang':
        return x < 0.15 ? 'hang' : 'ok';
      default:
        return 'ok';
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.requests++;
      const hook = /^\/hook\/([^/?]+)/.exec(req.url ?? '')?.[1] ?? '?';
      const reply = this.choose(hook);
      switch (reply) {
        case 'hang':
          this.failures++;
          return; // never answered; the connection goes when the client gives up or the port closes
        case 'reset':
          this.failures++;
          req.socket.destroy();
          return;
        case 'fail500':
          this.failures++;
          res.writeHead(500, { 'content-type': 'text/plain' }).end('chaos: internal error');
          return;
        case 'throttle':
          this.failures++;
          res.writeHead(429, { 'retry-after': '1', 'content-type': 'text/plain' }).end('chaos: slow down');
          return;
        case 'ok': {
          let body: unknown = null;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            body = null;
          }
          // counted as delivered only once the 2xx answer is actually written to a live connection
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"ok":true}', () => {
            if (!req.socket.destroyed) this.deliveries.push({ hook, at: Date.now(), body });
          });
        }
      }
    });
  }
}

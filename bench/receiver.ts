/**
 * The loopback receivers, run as their own process (forked by receiver-client.ts) so that neither the bench's
 * publisher nor its raw HTTP client competes with them for the event loop.
 *   healthy: answers 200 at once (keep-alive), then counts the rows and, when asked, the latency now - T per row;
 *   hanging: reads the request and never answers.
 * Paths: /w/<n> for the engine's deliveries, /raw for the raw HTTP client.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';

export interface Counts {
  requests: number;
  rows: number;
  /** Arrival of the first and last request counted (ms since the epoch), 0 when none. */
  firstAt: number;
  lastAt: number;
}

export type ReceiverCommand =
  | { id: number; type: 'reset'; recordLatency: boolean }
  | { id: number; type: 'stats'; withLatencies: boolean }
  | { id: number; type: 'close' };

export interface ReceiverStats {
  /** Engine deliveries since the last reset. */
  phase: Counts;
  /** Engine deliveries since the receiver started. */
  total: Counts;
  raw: Counts;
  hanging: Counts;
  /** now - T per row since the last reset (ms), when recording. */
  latencies?: number[];
}

export type ReceiverReply = { id: number; type: 'ready'; port: number; hangPort: number } | { id: number; type: 'stats'; stats: ReceiverStats } | { id: number; type: 'done' };

const counts = (): Counts => ({ requests: 0, rows: 0, firstAt: 0, lastAt: 0 });

function count(c: Counts, rows: number, at: number): void {
  c.requests += 1;
  c.rows += rows;
  if (c.firstAt === 0) c.firstAt = at;
  c.lastAt = at;
}

function rowsOf(body: string): unknown[] {
  try {
    const parsed: unknown = JSON.parse(body);
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

function main(): void {
  let phase = counts();
  const total = counts();
  const raw = counts();
  const hanging = counts();
  let latencies: number[] = [];
  let recordLatency = false;
  const hung = new Set<http.ServerResponse>();

  const healthy = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-length': '0' });
      res.end();
      const now = Date.now();
      const rows = rowsOf(Buffer.concat(chunks).toString('utf8'));
      if (req.url?.startsWith('/raw')) return count(raw, rows.length, now);
      count(phase, rows.length, now);
      count(total, rows.length, now);
      if (!recordLatency) return;
      for (const row of rows) {
        const t = (row as { T?: unknown }).T;
        if (typeof t === 'number' && t > 0) latencies.push(now - t);
      }
    });
  });
  const hang = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hung.add(res);
      count(hanging, rowsOf(Buffer.concat(chunks).toString('utf8')).length, Date.now());
    });
  });
  for (const server of [healthy, hang]) {
    // the dispatcher keeps connections; a short idle timeout would add reconnects to every figure
    server.keepAliveTimeout = 120_000;
    server.headersTimeout = 121_000;
    server.requestTimeout = 0;
  }

  const reply = (message: ReceiverReply): void => {
    process.send?.(message);
  };
  process.on('message', (cmd: ReceiverCommand) => {
    switch (cmd.type) {
      case 'reset':
        phase = counts();
        latencies = [];
        recordLatency = cmd.recordLatency;
        return reply({ id: cmd.id, type: 'done' });
      case 'stats':
        return reply({
          id: cmd.id,
          type: 'stats',
          stats: { phase, total, raw, hanging, ...(cmd.withLatencies ? { latencies } : {}) },
        });
      case 'close':
        for (const res of hung) res.socket?.destroy();
        for (const server of [healthy, hang]) server.closeAllConnections();
        Promise.all([healthy, hang].map((s) => new Promise((r) => s.close(r)))).then(() => {
          reply({ id: cmd.id, type: 'done' });
          process.disconnect?.();
        });
    }
  });
  // the bench going away takes the receivers with it
  process.on('disconnect', () => process.exit(0));

  let listening = 0;
  for (const server of [healthy, hang]) {
    server.listen(0, '127.0.0.1', () => {
      if (++listening < 2) return;
      reply({ id: 0, type: 'ready', port: (healthy.address() as AddressInfo).port, hangPort: (hang.address() as AddressInfo).port });
    });
  }
}

if (require.main === module) main();

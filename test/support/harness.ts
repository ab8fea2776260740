/**
 * Integration test harness: the real broker and Postgres from the stack (global setup), each test with its own
 * database, topics and consumer groups; apps started from dist/ as separate processes; a scriptable receiver.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { Admin, Kafka, logLevel, Partitioners, Producer } from 'kafkajs';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { openDatabase } from '../../libs/db/data-source';
import { waitFor } from '../../libs/testing/wait-for';

const ROOT = path.resolve(__dirname, '../..');
export const brokers = (): string[] => (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const serverUrl = (): string => process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/webhook_engine';

export const uniqueName = (prefix: string): string => `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

export { waitFor };

// ---- Postgres -------------------------------------------------------------------------------------------------

export interface TestDatabase {
  url: string;
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = uniqueName('test');
  const admin = new Client({ connectionString: serverUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  return {
    url: url.toString(),
    query: async (text, params) => (await client.query(text, params)).rows,
    drop: async () => {
      await client.end();
      const a = new Client({ connectionString: serverUrl() });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await a.end();
    },
  };
}

export interface MigratedDatabase {
  db: TestDatabase;
  /** The apps' own access to it: migrated, two pooled connections. */
  source: DataSource;
}

/** A migrated database of its own for the calling test file: made before its tests, dropped after them. */
export function useMigratedDatabase(): MigratedDatabase {
  const database = {} as MigratedDatabase;
  beforeAll(async () => {
    database.db = await createTestDatabase();
    database.source = await openDatabase(database.db.url, 2);
  });
  afterAll(async () => {
    await database.source?.destroy();
    await database.db?.drop();
  });
  return database;
}

// ---- Kafka ----------------------------------------------------------------------------------------------------

export interface TestKafka {
  actionsTopic: string;
  eventsTopic: string;
  producer: Producer;
  admin: Admin;
  kafka: Kafka;
  /** Appends one bundle (key = docId) to the actions topic. */
  publish(bundle: Record<string, unknown> & { docId: string }): Promise<void>;
  publishRaw(key: string | null, value: string): Promise<void>;
  close(): Promise<void>;
}

export async function createTestKafka(partitions = 2): Promise<TestKafka> {
  const kafka = new Kafka({ clientId: 'it', brokers: brokers(), logLevel: logLevel.NOTHING });
  const actionsTopic = uniqueName('actions');
  const eventsTopic = uniqueName('events');
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [actionsTopic, `${actionsTopic}.dlq`, eventsTopic, `${eventsTopic}.dlq`].map((topic) => ({ topic, numPartitions: partitions })),
  });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const publishRaw = async (key: string | null, value: string): Promise<void> => {
    await producer.send({ topic: actionsTopic, acks: -1, messages: [{ key, value }] });
  };
  return {
    actionsTopic,
    eventsTopic,
    producer,
    admin,
    kafka,
    publish: (bundle) => publishRaw(bundle.docId, JSON.stringify({ userActions: [], ...bundle })),
    publishRaw,
    close: async () => {
      await producer.disconnect();
      await admin.deleteTopics({ topics: [actionsTopic, `${actionsTopic}.dlq`, eventsTopic, `${eventsTopic}.dlq`] }).catch(() => undefined);
      await admin.disconnect();
    },
  };
}

/** Reads every message of a topic from the beginning until `count` arrived. */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  count: number,
  timeoutMs = 20_000,
): Promise<Array<{ key: string | null; value: string | null; headers: Record<string, string> }>> {
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 100, sessionTimeout: 6000, heartbeatInterval: 500 });
  const got: Array<{ key: string | null; value: string | null; headers: Record<string, string> }> = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        got.push({ key: message.key?.toString() ?? null, value: message.value?.toString() ?? null, headers });
      },
    });
    await waitFor(`${count} messages on ${topic}`, () => got.length >= count, timeoutMs);
    return got;
  } finally {
    await consumer.disconnect();
  }
}

// ---- apps -----------------------------------------------------------------------------------------------------

export type AppName = 'config-api' | 'matcher' | 'dispatcher';

export interface RunningApp {
  name: AppName;
  url: string;
  process: ChildProcess;
  logs: string[];
  /** SIGTERM and wait for the exit. */
  stop(): Promise<number | null>;
  /** SIGKILL (kill -9) and wait for the exit. */
  kill(): Promise<void>;
}

const running = new Set<RunningApp>();

/** Starts `node dist/apps/<app>/main.js` on a free loopback port and waits for /health to answer 200. */
export async function startApp(name: AppName, env: Record<string, string>): Promise<RunningApp> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/apps', name, 'main.js')], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', KAFKA_BROKERS: brokers().join(','), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let url = '';
  for (const stream of [child.stdout!, child.stderr!]) {
    readline.createInterface({ input: stream }).on('line', (line) => {
      logs.push(line);
      if (process.env.IT_VERBOSE) process.stdout.write(`${name} | ${line}\n`);
      const started = /"msg":"started","url":"([^"]+)"/.exec(line);
      if (started) url = started[1];
    });
  }
  const exited = once(child, 'exit');
  const app: RunningApp = {
    name,
    process: child,
    logs,
    get url() {
      return url;
    },
    stop: async () => {
      running.delete(app);
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = await exited;
      return code as number | null;
    },
    kill: async () => {
      running.delete(app);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
  running.add(app);
  await waitFor(
    `${name} to start`,
    async () => {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${logs.slice(-20).join('\n')}`);
      if (!url) return false;
      return (await fetch(`${url}/health`)).status === 200;
    },
    30_000,
    100,
  );
  return app;
}

/** The app's JSON log lines whose msg is `msg`, parsed. */
export function logEntries(app: RunningApp, msg: string): Array<Record<string, unknown>> {
  return app.logs
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.msg === msg);
}

/** Stops every app a test started and left running. */
export async function stopAllApps(): Promise<void> {
  await Promise.all([...running].map((app) => app.stop()));
}

/** The environment that points apps at one test's database and topics. */
export function engineEnv(db: TestDatabase, k: TestKafka, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    ACTIONS_TOPIC: k.actionsTopic,
    EVENTS_TOPIC: k.eventsTopic,
    MATCHER_GROUP_ID: `${k.actionsTopic}-matcher`,
    DISPATCHER_GROUP_ID: `${k.eventsTopic}-dispatcher`,
    TOPIC_PARTITIONS: '2',
    ADMIN_API_KEY: 'test-admin-key',
    TRIGGER_WAIT_DELAY: '50',
    ...extra,
  };
}

// ---- HTTP -----------------------------------------------------------------------------------------------------

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: unknown;
  at: number;
  /** The status answered; null while hanging or when the connection was destroyed. */
  status: number | null;
}

export type Reply = { status: number; body?: string; headers?: Record<string, string> } | 'hang' | 'destroy';

/** A receiver on loopback whose answers the test sets; it records every request. */
export interface Receiver {
  url: string;
  port: number;
  /** Every request that arrived, in order. */
  requests: ReceivedRequest[];
  /** Sets how the next requests are answered (default 200). */
  reply(fn: (req: ReceivedRequest) => Reply | Promise<Reply>): void;
  /** Rows of the requests answered 2xx, in order. */
  rows(): unknown[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  let replyFn: (req: ReceivedRequest) => Reply | Promise<Reply> = () => ({ status: 200 });
  const requests: ReceivedRequest[] = [];
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {
        json = null;
      }
      const received: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, json, at: Date.now(), status: null };
      requests.push(received);
      const reply = await replyFn(received);
      if (reply === 'hang') {
        hanging.add(res);
        return;
      }
      if (reply === 'destroy') {
        req.socket.destroy();
        return;
      }
      received.status = reply.status;
      res.writeHead(reply.status, reply.headers ?? {});
      res.end(reply.body ?? '');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://localhost:${port}`,
    port,
    requests,
    reply: (fn) => (replyFn = fn),
    rows: () => requests.flatMap((r) => (r.status !== null && r.status < 300 && Array.isArray(r.json) ? r.json : [])),
    close: async () => {
      for (const res of hanging) res.socket?.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A small client for the config API. */
export function apiClient(baseUrl: () => string, key = 'test-admin-key') {
  return async (method: string, route: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${baseUrl()}${route}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, body: json };
  };
}

// ---- topic collector and metrics -----------------------------------------------------------------------------

export interface TopicMessage {
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

/** Every message of a topic since the beginning, gathered by one long-lived consumer. */
export interface TopicCollector {
  /** In arrival order; within a partition, in offset order. */
  messages: TopicMessage[];
  /** Waits until every message appended to the topic before this call has been gathered. */
  caughtUp(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function collectTopic(kafka: Kafka, topic: string): Promise<TopicCollector> {
  const consumer = kafka.consumer({ groupId: uniqueName('collector'), maxWaitTimeInMs: 100, sessionTimeout: 6000, heartbeatInterval: 500 });
  const admin = kafka.admin();
  const messages: TopicMessage[] = [];
  /** Next offset to gather, per partition. */
  const next = new Map<number, number>();
  await Promise.all([consumer.connect(), admin.connect()]);
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      messages.push({ partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value?.toString() ?? null, headers });
      next.set(partition, Number(message.offset) + 1);
    },
  });
  return {
    messages,
    caughtUp: async (timeoutMs = 20_000) => {
      const ends = await admin.fetchTopicOffsets(topic);
      await waitFor(`${topic} to be read to its end`, () => ends.every((e) => (next.get(e.partition) ?? 0) >= Number(e.high)), timeoutMs);
    },
    close: async () => {
      await Promise.all([consumer.disconnect(), admin.disconnect()]);
    },
  };
}

/** The value of an unlabelled counter or gauge on an app's /metrics (0 when not yet rendered). */
export async function readMetric(app: RunningApp, name: string): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

/** A request a HoldingReceiver keeps open until the test answers it. */
export interface HeldRequest {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: unknown;
  at: number;
  /** When the client closed the connection before an answer (an abandoned or crashed sender); null while open. */
  closedAt: number | null;
  /** The status answered; null until `answer`. */
  status: number | null;
  answer(status: number, body?: string): void;
}

/** A receiver that holds every request open (no timeout) and records when each connection goes away. */
export interface HoldingReceiver {
  url: string;
  port: number;
  requests: HeldRequest[];
  close(): Promise<void>;
}

export async function startHoldingReceiver(): Promise<HoldingReceiver> {
  const requests: HeldRequest[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {
        json = null;
      }
      const held: HeldRequest = {
        url: req.url ?? '',
        headers: req.headers,
        body,
        json,
        at: Date.now(),
        closedAt: null,
        status: null,
        answer: (status, text = '') => {
          if (held.closedAt !== null || held.status !== null) return;
          held.status = status;
          res.writeHead(status).end(text);
        },
      };
      res.on('close', () => {
        if (held.status === null) held.closedAt = Date.now();
      });
      requests.push(held);
    });
  });
  server.requestTimeout = 0;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://localhost:${port}`,
    port,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

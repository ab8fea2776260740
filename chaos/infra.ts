/**
 * The chaos run's infrastructure: the local stack (scripts/stack.js), its own database and topics, and the engine's
 * apps as supervised child processes that can be killed with SIGKILL and restarted.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { Admin, Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { appNodeOptions } from '../libs/runtime/app-process';
import { freePort } from '../libs/testing/free-port';
import { waitFor } from '../libs/testing/wait-for';

export const ROOT = path.resolve(__dirname, '../..');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const log = (msg: string): void => {
  process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
};

export { waitFor };

// ---- the local stack -------------------------------------------------------------------------------------------

interface StackModule {
  up(): Promise<void>;
  down(): Promise<void>;
  readEnv(): Record<string, string>;
  readPid(name: 'kafka' | 'postgres'): number | null;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const stack = require(path.join(ROOT, 'scripts/stack.js')) as StackModule;

export interface StackInfo {
  brokers: string[];
  /** Server URL to the stack's database; chaos creates its own database beside it. */
  databaseUrl: string;
  /** Whether the Kafka broker was started by the stack script (pid in .stack/kafka.pid), so it may be restarted. */
  ownsKafka: boolean;
  /** Whether the stack runs an embedded Postgres it started (pid in .stack/postgres.pid). */
  ownsPostgres: boolean;
}

/**
 * The live pid in .stack/<name>.pid, or null (no file, the process is gone, or the pid now names a process the stack
 * did not start): the stack script's own check, so a stale pid file never makes chaos restart another process.
 */
export function stackPid(name: 'kafka' | 'postgres'): number | null {
  return stack.readPid(name);
}

const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Brings the stack up (idempotent, as `npm run stack:up`) unless KAFKA_BROKERS and DATABASE_URL are given. */
/** `stack.up()` with its env lines sent to stderr: our stdout is for the report. */
async function runStackUp(): Promise<void> {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => process.stderr.write(chunk)) as typeof process.stdout.write;
  try {
    await stack.up();
  } finally {
    process.stdout.write = write;
  }
}

export async function stackUp(): Promise<StackInfo> {
  let brokers = process.env.KAFKA_BROKERS;
  let databaseUrl = process.env.DATABASE_URL;
  if (!brokers || !databaseUrl) {
    await runStackUp();
    const env = stack.readEnv();
    brokers ??= env.KAFKA_BROKERS;
    databaseUrl ??= env.DATABASE_URL;
  }
  if (!brokers || !databaseUrl) throw new Error('the stack did not report KAFKA_BROKERS and DATABASE_URL');
  return {
    brokers: brokers.split(',').map((b) => b.trim()).filter(Boolean),
    databaseUrl,
    ownsKafka: stackPid('kafka') !== null,
    ownsPostgres: stackPid('postgres') !== null,
  };
}

/** SIGTERMs the stack's own process `name`, waits for it to exit, then brings the stack up again. */
export async function restartStackProcess(name: 'kafka' | 'postgres', signal: NodeJS.Signals): Promise<{ downAt: number; upAt: number }> {
  const pid = stackPid(name);
  if (pid === null) throw new Error(`the stack does not own ${name}`);
  const downAt = Date.now();
  process.kill(pid, signal);
  await waitFor(`${name} (pid ${pid}) to exit`, () => !processAlive(pid), 60_000, 100);
  // always through the stack script: with KAFKA_BROKERS and DATABASE_URL set (as in CI) stackUp() would skip it
  await runStackUp();
  return { downAt, upAt: Date.now() };
}

// ---- database and topics ---------------------------------------------------------------------------------------

export interface ChaosDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export const runId = (): string => `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

export async function createDatabase(serverUrl: string, id: string): Promise<ChaosDatabase> {
  const name = `chaos_${id}`;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: async () => {
      const a = new Client({ connectionString: serverUrl });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

export interface ChaosTopics {
  actions: string;
  actionsDlq: string;
  events: string;
  eventsDlq: string;
  all: string[];
}

export function createKafka(brokers: string[], clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 300, retries: 30, maxRetryTime: 3000 },
  });
}

export async function createTopics(admin: Admin, id: string, partitions: number): Promise<ChaosTopics> {
  const actions = `chaos_${id}_actions`;
  const events = `chaos_${id}_events`;
  const topics: ChaosTopics = {
    actions,
    actionsDlq: `${actions}.dlq`,
    events,
    eventsDlq: `${events}.dlq`,
    all: [actions, `${actions}.dlq`, events, `${events}.dlq`],
  };
  await admin.createTopics({ waitForLeaders: true, topics: topics.all.map((topic) => ({ topic, numPartitions: partitions })) });
  return topics;
}

/** Messages in a topic (sum over partitions of high - low watermarks). */
export async function topicSize(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
}

// ---- apps ------------------------------------------------------------------------------------------------------

export type AppName = 'config-api' | 'matcher' | 'dispatcher';

/** One supervised app instance (e.g. matcher#1): it keeps its slot across restarts. */
export class AppInstance {
  private child: ChildProcess | null = null;
  private exited: Promise<unknown> | null = null;
  private port = 0;
  /** Set while the chaos run wants this instance down (killed on purpose, or stopped). */
  private intentionallyDown = true;
  /** Exits nobody asked for (a crash), with their code or signal. */
  readonly unexpectedExits: string[] = [];
  readonly label: string;
  private readonly logFile: fs.WriteStream;

  constructor(
    readonly name: AppName,
    readonly slot: number,
    private readonly env: Record<string, string>,
    logDir: string,
  ) {
    this.label = `${name}#${slot}`;
    this.logFile = fs.createWriteStream(path.join(logDir, `${name}-${slot}.log`), { flags: 'a' });
  }

  get url(): string {
    return this.port ? `http://127.0.0.1:${this.port}` : '';
  }

  get pid(): number | undefined {
    return this.isRunning() ? this.child?.pid : undefined;
  }

  isRunning(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Starts the process (on the same port as before, if any) and waits until GET /health answers 200. An exit
   * during start-up is recorded as unexpected and the start is tried again, as a supervisor would.
   */
  async start(timeoutMs = 120_000): Promise<void> {
    if (this.isRunning()) return;
    const epoch = ++this.epoch;
    this.starting = true;
    try {
      const deadline = Date.now() + timeoutMs;
      while (!(await this.startOnce(deadline))) {
        // killed meanwhile on purpose (kill() bumps the epoch): whoever killed it decides what comes next
        if (this.epoch !== epoch) return;
        await sleep(1000);
      }
    } finally {
      if (this.epoch === epoch) this.starting = false;
    }
  }

  private starting = false;
  /** Bumped by every start and kill, so a start interrupted by a kill gives up rather than start a second process. */
  private epoch = 0;

  /** One process: true once healthy, false when it exited first. */
  private async startOnce(deadline: number): Promise<boolean> {
    this.intentionallyDown = false;
    this.port ||= await freePort();
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/apps', this.name, 'main.js')], {
      env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: appNodeOptions(process.env), ...this.env, PORT: String(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = once(child, 'exit');
    this.logFile.write(`---- ${new Date().toISOString()} started pid ${child.pid}\n`);
    for (const stream of [child.stdout!, child.stderr!]) {
      readline.createInterface({ input: stream }).on('line', (line) => this.logFile.write(`${line}\n`));
    }
    child.on('exit', (code, signal) => {
      this.logFile.write(`---- ${new Date().toISOString()} exited code=${code} signal=${signal}\n`);
      if (!this.intentionallyDown && this.child === child) {
        this.unexpectedExits.push(`${new Date().toISOString()} code=${code} signal=${signal}`);
        log(`${this.label} exited unexpectedly (code=${code} signal=${signal}); see its log`);
      }
    });
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) return false;
      const healthy = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (healthy) return true;
      if (Date.now() > deadline) throw new Error(`${this.label} not healthy in time`);
      await sleep(100);
    }
  }

  /** kill -9, and wait for the exit. */
  async kill(): Promise<void> {
    this.epoch++;
    this.starting = false;
    this.intentionallyDown = true;
    if (!this.child || !this.isRunning()) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (a clean stop), and wait for the exit (SIGKILL after 20 s). */
  async stop(): Promise<void> {
    this.epoch++;
    this.intentionallyDown = true;
    if (!this.child || !this.isRunning()) return;
    const child = this.child;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Resident memory of the live process, in MiB (Linux /proc). */
  rssMiB(): number | null {
    const pid = this.pid;
    if (pid === undefined) return null;
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status);
      return kb ? Number(kb[1]) / 1024 : null;
    } catch {
      return null;
    }
  }

  /** An unexpected exit is restarted: it is reported, and the run goes on. */
  async reviveIfCrashed(): Promise<boolean> {
    if (this.intentionallyDown || this.starting || this.isRunning() || this.child === null) return false;
    log(`restarting ${this.label} after its unexpected exit`);
    await this.start();
    return true;
  }

  closeLog(): void {
    this.logFile.end();
  }
}

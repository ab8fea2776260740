/**
 * `node dist/bench/statements.js [--runs N]`: what the engine's own Postgres statements cost, apart from Kafka and
 * HTTP. Four workloads, each on a fresh database, run N times: intake, head reads, whole deliveries (head read,
 * attempt start, success) and the matcher's read and save of document state. For each, Postgres's CPU (from /proc:
 * the server must run on this machine, and nothing else use it meanwhile, since the backends the postmaster reaps
 * are counted whatever their database) and this process's, per unit of work. See docs/BENCHMARKS.md.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { openDatabase } from '../libs/db/data-source';
import { DeliveryRepository, receivedEvent } from '../libs/db/delivery.repository';
import { DocChanges, DocStateRepository } from '../libs/db/doc-state.repository';
import { headAfter, idleStatus, onAttemptStarted, parsePayloadEvent } from '../libs/delivery';
import { DocSchema, PayloadEvent, PayloadRow } from '../libs/domain';
import { ensureStack, onServer, ROOT, withDatabase } from './infra';
import { fmt, runId } from './util';

const WEBHOOKS = 1000;
const EVENTS_PER_STATEMENT = 1500;
const INTAKE_STATEMENTS = 40;
const ROWS_PER_EVENT = 5;
const HEAD_ROUNDS = 10;
const BATCH_SIZE = 100;
const DOCS = 100;
const ROWS_PER_TABLE = 1000;
const CHUNK_ROW_CHANGES = 2500;
const CHUNKS = 60;

interface Measured {
  units: number;
  wallMs: number;
  postgresCpuMs: number;
  benchCpuMs: number;
}

/**
 * CPU of the database's backends: those running at each reading, plus every one the postmaster has reaped, so a
 * connection the pool opens or closes during a measure counts too (clock ticks of 10 ms). Autovacuum would land on
 * whichever measure it ran during, so it is off for the database's tables and each measure starts on vacuumed and
 * analyzed tables: the figures are the statements' own.
 */
class PostgresCpu {
  private constructor(
    private readonly admin: Client,
    private readonly db: DataSource,
    private readonly database: string,
    private readonly postmaster: number,
  ) {}

  static async of(admin: Client, db: DataSource, database: string): Promise<PostgresCpu> {
    const tables: Array<{ tablename: string }> = await db.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
    for (const { tablename } of tables) await db.query(`ALTER TABLE "${tablename}" SET (autovacuum_enabled = off)`);
    const [{ pid }] = (await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
    return new PostgresCpu(admin, db, database, Number(procStat(pid)[1]));
  }

  async measure(work: () => Promise<number>): Promise<Measured> {
    await this.db.query('VACUUM ANALYZE');
    const [pg, cpu, started] = [await this.ticks(), process.cpuUsage(), Date.now()];
    const units = await work();
    const used = process.cpuUsage(cpu);
    const wallMs = Date.now() - started;
    return { units, wallMs, postgresCpuMs: ((await this.ticks()) - pg) * 10, benchCpuMs: (used.user + used.system) / 1000 };
  }

  private async ticks(): Promise<number> {
    const backends = (await this.admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [this.database])).rows;
    return backends.reduce((sum, { pid }) => sum + ownTicks(pid), reapedTicks(this.postmaster));
  }
}

/** The fields of /proc/<pid>/stat after the command name: [state, ppid, ...]. */
const procStat = (pid: number): string[] => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
/** utime + stime; 0 for a backend gone meanwhile, whose ticks the postmaster has reaped. */
function ownTicks(pid: number): number {
  try {
    const f = procStat(pid);
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}
const reapedTicks = (pid: number): number => {
  const f = procStat(pid);
  return Number(f[13]) + Number(f[14]);
};

/** A payload event as the matcher publishes it: rows of 8 columns, updates with their previous values. */
function payloadEventText(n: number, webhookId: string): string {
  const rows: PayloadRow[] = Array.from({ length: ROWS_PER_EVENT }, (_, r) => {
    const id = n * ROWS_PER_EVENT + r;
    const update = r % 2 === 1;
    return {
      type: update ? 'update' : 'add',
      id,
      fields: {
        Name: `name ${id} é`,
        Qty: id % 97,
        Price: id * 1.25,
        Done: id % 2 === 0,
        When: 1764430000000 + id,
        Tags: ['L', 'a'],
        Ref: id % 13,
        manualSort: id,
      },
      previous: update ? { Qty: 1 } : {},
      changedColIds: update ? ['Qty'] : [],
    };
  });
  const docId = `doc${n % DOCS}`;
  const event: PayloadEvent = {
    v: 1,
    eventId: `${docId}:${n}:${webhookId}`,
    webhookId,
    docId,
    tableId: `Table${n % 5}`,
    actionNum: n,
    bundleTime: 1764430000000 + n,
    rows,
  };
  return JSON.stringify(event);
}

async function createWebhooks(db: DataSource): Promise<string[]> {
  const ids = Array.from({ length: WEBHOOKS }, () => randomUUID());
  await db.query(
    `INSERT INTO webhooks (id, doc_id, url, event_types, unsubscribe_key, enabled, active_since)
     SELECT id, 'doc', 'http://example.com/', '{add,update}', 'k', true, 0 FROM unnest($1::uuid[]) id`,
    [ids],
  );
  await db.query('INSERT INTO webhook_delivery (webhook_id) SELECT unnest($1::uuid[])', [ids]);
  return ids;
}

/** Intake, then head reads, then whole deliveries, on the queues intake filled. */
async function delivery(db: DataSource, cpu: PostgresCpu): Promise<Record<string, Measured>> {
  const repo = new DeliveryRepository(db);
  const webhooks = await createWebhooks(db);
  const statements = Array.from({ length: INTAKE_STATEMENTS }, (_, s) =>
    Array.from({ length: EVENTS_PER_STATEMENT }, (_, i) => {
      const n = s * EVENTS_PER_STATEMENT + i;
      return payloadEventText(n, webhooks[n % WEBHOOKS]);
    }),
  );
  const intake = await cpu.measure(async () => {
    for (const texts of statements) await repo.storeEvents(texts.map((json) => receivedEvent(parsePayloadEvent(json)!, json)));
    return INTAKE_STATEMENTS * EVENTS_PER_STATEMENT;
  });
  const heads = await cpu.measure(async () => {
    for (let round = 0; round < HEAD_ROUNDS; round++) await Promise.all(webhooks.map((id) => repo.loadHead(id, BATCH_SIZE)));
    return HEAD_ROUNDS * WEBHOOKS;
  });
  const owner = 'bench';
  const claimed = await repo.claimDue(owner, Date.now(), 3_600_000, [], WEBHOOKS);
  const sending = onAttemptStarted(idleStatus(0), 20, Date.now());
  const deliveries = await cpu.measure(async () => {
    let requests = 0;
    await Promise.all(
      claimed.map(async (webhookId) => {
        for (let head = await repo.loadHead(webhookId, BATCH_SIZE); head?.batch; head = await repo.loadHead(webhookId, BATCH_SIZE)) {
          const ref = { webhookId, generation: head.state.generation, owner, status: sending };
          await repo.startAttempt({ ...ref, batchId: randomUUID(), batchEnd: head.batch.end });
          await repo.recordSuccess({ ...ref, batchSize: head.batch.rows.length, head: headAfter(head.batch) });
          requests++;
        }
      }),
    );
    return requests;
  });
  return { intake, heads, deliveries };
}

/** Chunks of row changes over documents of 5 tables of 6 columns, each read then saved as the matcher does. */
async function documentState(db: DataSource, cpu: PostgresCpu): Promise<Record<string, Measured>> {
  const repo = new DocStateRepository(db);
  const schema: DocSchema = {
    nextRef: 36,
    tables: Array.from({ length: 5 }, (_, t) => ({
      ref: `t${t}`,
      id: `Table${t}`,
      columns: ['manualSort', 'Name', 'B', 'C', 'T', 'Ready'].map((id, c) => ({ ref: `c${t * 6 + c}`, id, type: 'Numeric', isFormula: false, formula: '' })),
    })),
  };
  const lastActionNum = new Map<string, number>();
  let seed = 1;
  const random = (n: number): number => Math.floor(((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * n);
  const chunk = (k: number): DocChanges[] => {
    const byDoc = new Map<string, DocChanges['rows']>();
    for (let i = 0; i < CHUNK_ROW_CHANGES; i++) {
      const [docId, tableRef, rowId] = [`doc${random(DOCS)}`, `t${random(5)}`, 1 + random(ROWS_PER_TABLE)];
      if (!byDoc.has(docId)) byDoc.set(docId, new Map());
      const values = { c0: rowId, c1: `name ${rowId} é ${k}`, c2: (rowId % 97) + k, c3: rowId * 1.25, c4: 1764430000000 + rowId, c5: k % 2 === 0 };
      byDoc.get(docId)!.set(`${tableRef}\u0000${rowId}`, { tableRef, rowId, values });
    }
    return [...byDoc].map(([docId, rows]) => {
      const previousActionNum = lastActionNum.get(docId) ?? 0;
      lastActionNum.set(docId, previousActionNum + 1);
      return { docId, previousActionNum, lastActionNum: previousActionNum + 1, schema, schemaChanged: previousActionNum === 0, clearedTables: [], rows };
    });
  };
  for (let k = 0; k < 20; k++) await repo.save(chunk(0));
  const readAndSave = await cpu.measure(async () => {
    for (let k = 1; k <= CHUNKS; k++) {
      const changes = chunk(k);
      const wanted = new Map(
        changes.map((c) => {
          const tables = new Map<string, number[]>();
          for (const { tableRef, rowId } of c.rows.values()) tables.set(tableRef, [...(tables.get(tableRef) ?? []), rowId]);
          return [c.docId, tables];
        }),
      );
      await repo.loadRows(wanted, new Map(changes.map((c) => [c.docId, c.previousActionNum])));
      await repo.save(changes);
    }
    return CHUNKS * CHUNK_ROW_CHANGES;
  });
  return { readAndSave };
}

const WORKLOADS = {
  delivery: { run: delivery, units: { intake: 'payload event', heads: 'head read of 100 rows', deliveries: 'request of 100 rows' } },
  documentState: { run: documentState, units: { readAndSave: 'row change' } },
};

async function main(): Promise<void> {
  const runsFlag = process.argv.indexOf('--runs');
  const runs = runsFlag < 0 ? 3 : Number(process.argv[runsFlag + 1]);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  const stack = await ensureStack();
  const id = runId();
  const results: Record<string, Measured[]> = {};
  for (let r = 0; r < runs; r++) {
    for (const [name, { run }] of Object.entries(WORKLOADS)) {
      const database = `bench_${id}_statements`;
      await onServer(stack.serverUrl, `CREATE DATABASE "${database}"`);
      const admin = new Client({ connectionString: stack.serverUrl });
      await admin.connect();
      const db = await openDatabase(withDatabase(stack.serverUrl, database), 4);
      try {
        // every connection of the pool open before the measures, which count only the backends then present
        await Promise.all(Array.from({ length: 4 }, () => db.query('SELECT pg_sleep(0.05)')));
        process.stderr.write(`[statements] run ${r + 1} of ${runs}: ${name}\n`);
        for (const [workload, measured] of Object.entries(await run(db, await PostgresCpu.of(admin, db, database)))) {
          (results[workload] ??= []).push(measured);
        }
      } finally {
        await db.destroy();
        await admin.end();
        await onServer(stack.serverUrl, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      }
    }
  }
  const units: Record<string, string> = Object.assign({}, ...Object.values(WORKLOADS).map((w) => w.units));
  const range = (values: number[]): string => `${fmt(Math.min(...values), 1)}-${fmt(Math.max(...values), 1)}`;
  const lines = ['| statement work | per | Postgres CPU, µs | bench process CPU, µs | wall time, s |', '|---|---|---|---|---|'];
  for (const [workload, measured] of Object.entries(results)) {
    const per = (key: 'postgresCpuMs' | 'benchCpuMs'): string => range(measured.map((m) => (m[key] * 1000) / m.units));
    lines.push(`| ${workload} | ${units[workload]} | ${per('postgresCpuMs')} | ${per('benchCpuMs')} | ${range(measured.map((m) => m.wallMs / 1000))} |`);
  }
  process.stdout.write(`\nStatements, ${new Date().toISOString()}: ${runs} runs each, ranges over the runs\n\n${lines.join('\n')}\n`);
  const dir = path.join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `statements-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ runs, results }, null, 1));
  process.stdout.write(`\nsaved ${path.relative(ROOT, file)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

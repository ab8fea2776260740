/**
 * `npm run chaos [-- --short] [-- --seed N] [-- --keep]`: the whole engine on the local stack under faults, checked
 * against an independent model of SPEC sections 2-6. Prints a report; exits 1 when a guarantee broke.
 *
 * Faults: kill -9 of matchers and dispatchers (restarted), one instance of each app killed for good, a broker
 * restart (when the stack owns the broker), a Postgres restart (when the stack owns an embedded one), a webhook
 * disabled then enabled, a queue cleared while its receiver hangs; receivers that fail, throttle, hang or close
 * their port; malformed messages and abusive API requests throughout.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, Producer } from 'kafkajs';
import { abuseRound, AbuseContext, ApiStats, apiCall, ApiTarget, malformedMessage, messageIdentity, newApiStats, oddValidMessage, RawMessage } from './bad-input';
import { check, CheckResult, Fault, LossWindow } from './checker';
import {
  AppInstance,
  AppName,
  ChaosDatabase,
  ChaosTopics,
  createDatabase,
  createKafka,
  createTopics,
  log,
  restartStackProcess,
  runId,
  sleep,
  stackUp,
  StackInfo,
  topicSize,
  waitFor,
} from './infra';
import { DocModel, HOOK_KINDS, ModelHook } from './model';
import { prng } from '../libs/testing/prng';
import { PROFILES, Profile, Receiver } from './receivers';

interface Sizes {
  docs: number;
  /** Seconds of generation, faults included. */
  generateSeconds: number;
  bundlesPerSecond: number;
  malformed: number;
  oddValid: number;
  /** Longest wait for the backlog once everything is healed. */
  drainSeconds: number;
  /** Fault cycles (each: kill -9 of each app's instances, restarts, a broker restart on odd cycles). */
  cycles: number;
}

const SIZES: Record<'short' | 'full', Sizes> = {
  short: { docs: 4, generateSeconds: 80, bundlesPerSecond: 12, malformed: 2500, oddValid: 20, drainSeconds: 60, cycles: 1 },
  full: { docs: 8, generateSeconds: 300, bundlesPerSecond: 20, malformed: 8000, oddValid: 60, drainSeconds: 180, cycles: 4 },
};

const ADMIN_KEY = `chaos-admin-${Date.now().toString(36)}`;
const TOPIC_PARTITIONS = 4;

interface Options {
  short: boolean;
  seed: number;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { short: false, seed: Date.now() % 1_000_000, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--short') options.short = true;
    else if (arg === '--keep') options.keep = true;
    else if (arg === '--seed') options.seed = Number(argv[++i]);
    else throw new Error(`unknown argument ${arg} (use --short, --seed N, --keep)`);
  }
  if (!Number.isInteger(options.seed)) throw new Error('--seed needs an integer');
  return options;
}

/** Everything one run holds, so the phases below stay small. */
class ChaosRun {
  readonly sizes: Sizes;
  readonly random: () => number;
  readonly id = runId();
  readonly logDir = path.join(os.tmpdir(), `chaos-${this.id}`);
  stack!: StackInfo;
  db!: ChaosDatabase;
  kafka!: Kafka;
  topics!: ChaosTopics;
  producer!: Producer;
  readonly receivers = new Map<Profile, Receiver>();
  readonly apps: AppInstance[] = [];
  readonly docs: DocModel[] = [];
  readonly hooks: ModelHook[] = [];
  readonly windows: LossWindow[] = [];
  readonly faults: Fault[] = [];
  readonly notes: string[] = [];
  readonly api: ApiStats = newApiStats();
  readonly malformedSent = new Set<string>();
  readonly oddValidSent = new Set<string>();
  bundlesPublished = 0;
  /** Longest stretches without a bundle published (the publisher blocked), as [from, ms]. */
  readonly publishGaps: Array<[number, number]> = [];
  duplicatesPublished = 0;
  private generating = true;
  private generateUntil = 0;
  private faultsDone = false;
  private abuse!: AbuseContext;

  constructor(readonly options: Options) {
    this.sizes = SIZES[options.short ? 'short' : 'full'];
    this.random = prng(options.seed);
    fs.mkdirSync(this.logDir, { recursive: true });
  }

  instance(name: AppName, slot: number): AppInstance {
    return this.apps.find((a) => a.name === name && a.slot === slot)!;
  }

  readonly target: ApiTarget = {
    adminKey: ADMIN_KEY,
    baseUrl: () => this.apps.find((a) => a.name === 'config-api' && a.isRunning() && a.url)?.url ?? 'http://127.0.0.1:1',
  };

  // ---- set-up ----------------------------------------------------------------------------------------------

  async setUp(): Promise<void> {
    this.stack = await stackUp();
    this.db = await createDatabase(this.stack.databaseUrl, this.id);
    this.kafka = createKafka(this.stack.brokers, `chaos-${this.id}`);
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      this.topics = await createTopics(admin, this.id, TOPIC_PARTITIONS);
    } finally {
      await admin.disconnect();
    }
    this.producer = this.kafka.producer({ allowAutoTopicCreation: false });
    await this.producer.connect();
    for (const profile of PROFILES) {
      const receiver = new Receiver(profile, this.random);
      await receiver.open();
      this.receivers.set(profile, receiver);
    }
    const env: Record<string, string> = {
      DATABASE_URL: this.db.url,
      KAFKA_BROKERS: this.stack.brokers.join(','),
      ACTIONS_TOPIC: this.topics.actions,
      EVENTS_TOPIC: this.topics.events,
      MATCHER_GROUP_ID: `chaos_${this.id}_matcher`,
      DISPATCHER_GROUP_ID: `chaos_${this.id}_dispatcher`,
      TOPIC_PARTITIONS: String(TOPIC_PARTITIONS),
      HOST: '127.0.0.1',
      ADMIN_API_KEY: ADMIN_KEY,
      ALLOWED_WEBHOOK_DOMAINS: [...this.receivers.values()].map((r) => `localhost:${r.portNumber}`).join(','),
      TRIGGER_WAIT_DELAY: '100',
      WEBHOOK_TIMEOUT_MS: '2000',
      WEBHOOK_BATCH_SIZE: '20',
      LOG_LEVEL: 'warn',
    };
    for (const name of ['config-api', 'matcher', 'dispatcher'] as AppName[]) {
      for (const slot of [1, 2]) this.apps.push(new AppInstance(name, slot, env, this.logDir));
    }
    // one instance applies the migrations first; the others then start side by side
    await this.instance('config-api', 1).start();
    await Promise.all(this.apps.filter((a) => !a.isRunning()).map((a) => a.start()));
    log(`apps up; logs in ${this.logDir}`);

    for (let i = 0; i < this.sizes.docs; i++) this.docs.push(new DocModel(`doc-${i}`, this.random));
    const junk = new DocModel('api-junk', this.random);
    for (const doc of [...this.docs, junk]) await this.publish(doc.docId, JSON.stringify(doc.creationBundle()));
    await this.createHooks();
    await this.prepareAbuse(junk);
  }

  private async createHooks(): Promise<void> {
    let n = 0;
    for (const [d, doc] of this.docs.entries()) {
      for (const kind of HOOK_KINDS) {
        const name = `d${d}-${kind}`;
        const profile = PROFILES[n++ % PROFILES.length];
        const url = this.receivers.get(profile)!.urlFor(name);
        const res = await waitFor(
          `webhook ${name} to be accepted (the matcher must have applied the table)`,
          async () => {
            const r = await apiCall(this.target, this.api, 'POST', `/api/docs/${doc.docId}/webhooks`, JSON.stringify({ webhooks: [{ fields: doc.hookFields(kind, url, name) }] }));
            if (r && r.status !== 200 && r.status !== 404) throw new Error(`POST webhooks -> ${r.status} ${JSON.stringify(r.json)}`);
            return r?.status === 200 ? r : null;
          },
          30_000,
          200,
        );
        const hook: ModelHook = { name, docId: doc.docId, kind, id: (res.json as { webhooks: Array<{ id: string }> }).webhooks[0].id, expected: [] };
        doc.hooks.push(hook);
        this.hooks.push(hook);
      }
    }
    log(`${this.hooks.length} webhooks on ${this.docs.length} documents`);
  }

  private async prepareAbuse(junk: DocModel): Promise<void> {
    const healthy = this.receivers.get('healthy')!;
    const created = await waitFor(
      'the sacrificial webhook',
      async () => {
        const r = await apiCall(this.target, this.api, 'POST', `/api/docs/${junk.docId}/webhooks`, JSON.stringify({ webhooks: [{ fields: junk.hookFields('plain', healthy.urlFor('junk'), 'junk') }] }));
        return r?.status === 200 ? (r.json as { webhooks: Array<{ id: string }> }).webhooks[0].id : null;
      },
      30_000,
      200,
    );
    const key = await apiCall(this.target, this.api, 'POST', '/api/keys', JSON.stringify({ docIds: [junk.docId] }));
    if (key?.status !== 200) throw new Error(`could not create a document key: ${JSON.stringify(key)}`);
    this.abuse = {
      target: this.target,
      stats: this.api,
      junkDoc: junk.docId,
      junkTable: junk.table.name,
      junkHookId: created,
      junkDocKey: (key.json as { key: string }).key,
      foreign: this.docs.map((doc) => ({ docId: doc.docId, hookId: doc.hooks[0].id! })),
      allowedUrl: healthy.urlFor('never'),
    };
  }

  // ---- publishing ------------------------------------------------------------------------------------------

  /** Appends messages, retrying through broker outages (a retried append may land twice: that is allowed). */
  async publishMany(messages: RawMessage[]): Promise<void> {
    for (;;) {
      try {
        await this.producer.send({ topic: this.topics.actions, acks: -1, messages });
        return;
      } catch (err) {
        log(`publish failed (${(err as Error).message}); retrying`);
        await sleep(500);
      }
    }
  }

  publish(key: string, value: string): Promise<void> {
    return this.publishMany([{ key, value }]);
  }

  /** Generates bundles until `generateUntil`, which the fault schedule may push back. */
  private async generate(): Promise<void> {
    const interval = 1000 / this.sizes.bundlesPerSecond;
    let next = Date.now();
    let i = 0;
    while (!this.faultsDone || Date.now() < this.generateUntil) {
      const doc = this.docs[i++ % this.docs.length];
      if (this.random() < 0.02 && doc.published.length > 2) {
        // a publisher's duplicate: an old bundle again, which must be skipped
        const old = doc.published[Math.floor(this.random() * (doc.published.length - 1))];
        await this.publish(doc.docId, JSON.stringify(old));
        this.duplicatesPublished++;
      }
      const bundle = doc.nextBundle();
      const sentAt = Date.now();
      doc.commit(sentAt);
      await this.publish(doc.docId, JSON.stringify(bundle));
      this.bundlesPublished++;
      const took = Date.now() - sentAt;
      if (took > 1000) this.publishGaps.push([sentAt, took]);
      next += interval;
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      else next = Date.now();
    }
  }

  private async injectBadInput(until: number): Promise<void> {
    const docIds = this.docs.map((d) => d.docId);
    const total = this.sizes.malformed;
    const rounds = 20;
    let sent = 0;
    let odd = 0;
    for (let round = 0; round < rounds && this.generating; round++) {
      const count = Math.ceil((total * (round + 1)) / rounds) - sent;
      const batch: RawMessage[] = [];
      for (let k = 0; k < count; k++) {
        const m = malformedMessage(sent++, docIds);
        this.malformedSent.add(messageIdentity(m.key, m.value));
        batch.push(m);
      }
      const oddCount = Math.ceil((this.sizes.oddValid * (round + 1)) / rounds) - odd;
      for (let k = 0; k < oddCount; k++) {
        const m = oddValidMessage(odd++);
        this.oddValidSent.add(messageIdentity(m.key, m.value));
        batch.push(m);
      }
      // small chunks: a few huge messages must not exceed the broker's request size
      for (let start = 0; start < batch.length; start += 50) await this.publishMany(batch.slice(start, start + 50));
      await sleep(Math.max(0, (until - Date.now()) / (rounds - round) - 50));
    }
  }

  private async abuseApi(until: number): Promise<void> {
    let round = 0;
    while (Date.now() < until) {
      await abuseRound(this.abuse, round++);
      await sleep(1500);
    }
  }

  /** The `closing` receiver's port closes for 4 s every 10 s. */
  private async closePorts(until: number): Promise<void> {
    const receiver = this.receivers.get('closing')!;
    while (Date.now() < until - 5000) {
      await sleep(6000);
      await receiver.close();
      receiver.openWindowsClosed++;
      await sleep(4000);
      await receiver.open();
    }
  }

  private async supervise(): Promise<void> {
    while (this.generating) {
      for (const app of this.apps) await app.reviveIfCrashed().catch((err) => log(`could not restart ${app.label}: ${err}`));
      await sleep(1000);
    }
  }

  // ---- faults ----------------------------------------------------------------------------------------------

  /** Background restarts, per instance: an instance is never killed again before it is back. */
  private readonly restarts = new Map<AppInstance, Promise<void>>();

  /**
   * kill -9 now; the restart runs in the background (a restarted consumer may take long to be healthy: its group
   * must rebalance), so the schedule keeps its pace. The fault ends when every instance answers /health again.
   */
  private async killAndRestart(apps: AppInstance[], pauseMs = 1500): Promise<void> {
    await Promise.all(apps.map((a) => this.restarts.get(a)));
    const name = `kill -9 ${apps.map((a) => a.label).join(' + ')}`;
    log(name);
    await Promise.all(apps.map((a) => a.kill()));
    const killedAt = Date.now();
    const restart = (async () => {
      await sleep(pauseMs);
      await Promise.all(apps.map((a) => a.start(120_000)));
      const endedAt = Date.now();
      this.faults.push({ name: `${name}, restarted (healthy ${((endedAt - killedAt) / 1000).toFixed(1)} s after the kill)`, endedAt });
    })().catch((err) => this.note(`${name}: the restart failed: ${err}`));
    for (const a of apps) this.restarts.set(a, restart);
  }

  private async allRestarted(): Promise<void> {
    await Promise.all(this.restarts.values());
  }

  /** A call that must succeed: retried while the API is unreachable or failing (a 5xx is counted all the same). */
  private async mustCall(method: string, route: string, body?: string): Promise<void> {
    await waitFor(
      `${method} ${route}`,
      async () => {
        const res = await apiCall(this.target, this.api, method, route, body);
        if (res && res.status < 500 && res.status !== 200) throw new Error(`${method} ${route} -> ${res.status} ${JSON.stringify(res.json)}`);
        return res?.status === 200;
      },
      30_000,
      300,
    );
  }

  private async disableAndEnable(hook: ModelHook, disabledMs: number): Promise<void> {
    log(`disabling ${hook.name} for ${disabledMs} ms`);
    const route = `/api/docs/${hook.docId}/webhooks/${hook.id}`;
    const from = Date.now();
    await this.mustCall('PATCH', route, '{"enabled": false}');
    const disabledAt = Date.now();
    await sleep(disabledMs);
    const enabling = Date.now();
    await this.mustCall('PATCH', route, '{"enabled": true}');
    const to = Date.now();
    this.windows.push({ hook: hook.name, what: 'disabled, then enabled', from, to, silent: { from: disabledAt, to: enabling } });
    this.faults.push({ name: `${hook.name} disabled then enabled`, endedAt: to });
  }

  private async clearWhileHanging(hook: ModelHook, hangMs: number): Promise<void> {
    const receiver = [...this.receivers.values()].find((r) => this.hookUrlProfile(hook) === r.profile)!;
    log(`${hook.name}: receiver hangs for ${hangMs} ms, then its queue is cleared`);
    receiver.forcedHang.add(hook.name);
    await sleep(hangMs);
    const from = Date.now();
    await this.mustCall('DELETE', `/api/docs/${hook.docId}/webhooks/queue/${hook.id}`);
    const to = Date.now();
    receiver.forcedHang.delete(hook.name);
    this.windows.push({ hook: hook.name, what: 'queue cleared', from, to });
    this.faults.push({ name: `${hook.name} queue cleared`, endedAt: to });
  }

  private hookUrlProfile(hook: ModelHook): Profile {
    return PROFILES[this.hooks.indexOf(hook) % PROFILES.length];
  }

  private async restartBroker(): Promise<void> {
    if (!this.stack.ownsKafka) {
      this.note('broker restart skipped: the Kafka broker was not started by this stack (no live .stack/kafka.pid)');
      return;
    }
    log('broker restart: SIGTERM to the Kafka pid, then up() again');
    const { upAt, downAt } = await restartStackProcess('kafka', 'SIGTERM');
    this.faults.push({ name: `broker restart (down ${((upAt - downAt) / 1000).toFixed(1)} s)`, endedAt: upAt });
  }

  private async restartPostgres(): Promise<void> {
    if (!this.stack.ownsPostgres || !this.stack.databaseUrl.includes(':5433')) {
      this.note('Postgres restart skipped: the stack uses the machine\'s own Postgres server, not an embedded one it owns');
      return;
    }
    log('Postgres restart: SIGINT to the embedded Postgres, then up() again');
    const { upAt, downAt } = await restartStackProcess('postgres', 'SIGINT');
    this.faults.push({ name: `Postgres restart (down ${((upAt - downAt) / 1000).toFixed(1)} s)`, endedAt: upAt });
  }

  private note(text: string): void {
    if (!this.notes.includes(text)) this.notes.push(text);
    log(text);
  }

  /** The fault schedule, spread over the generation phase. */
  private async faultSchedule(start: number, until: number): Promise<void> {
    const cycleMs = (until - start - 15_000) / this.sizes.cycles;
    const at = async (cycle: number, fraction: number): Promise<void> => {
      const wait = start + 5000 + cycle * cycleMs + fraction * cycleMs - Date.now();
      if (wait > 0) await sleep(wait);
    };
    const m1 = this.instance('matcher', 1);
    const m2 = this.instance('matcher', 2);
    const d1 = this.instance('dispatcher', 1);
    const d2 = this.instance('dispatcher', 2);
    for (let cycle = 0; cycle < this.sizes.cycles; cycle++) {
      await at(cycle, 0);
      await this.killAndRestart([m1]);
      await at(cycle, 0.1);
      await this.killAndRestart([d1]);
      if (cycle === 0) {
        await at(cycle, 0.18);
        // the disabled and the cleared webhook run side by side
        await Promise.all([this.disableAndEnable(this.hooks[0], 5000), this.clearWhileHanging(this.hooks[1 % this.hooks.length], 5000)]);
      }
      await at(cycle, 0.35);
      await this.killAndRestart([m2]);
      await at(cycle, 0.45);
      await this.killAndRestart([d2]);
      await at(cycle, 0.55);
      if (cycle % 2 === 0) await this.restartBroker();
      else await this.restartPostgres();
      await at(cycle, 0.75);
      await this.killAndRestart([m1, d1], 500);
    }
    if (this.sizes.cycles > 1) await this.restartPostgres();
    else this.note('Postgres restart: only attempted in the full run (and only with an embedded Postgres)');
    // two instances of each app, one killed for good: the survivors take over its partitions and leases
    await at(this.sizes.cycles - 1, 0.9);
    await this.allRestarted();
    log('kill -9 config-api#2, matcher#2 and dispatcher#2 for good');
    await Promise.all(['config-api', 'matcher', 'dispatcher'].map((n) => this.instance(n as AppName, 2).kill()));
    this.faults.push({ name: 'kill -9 config-api#2 + matcher#2 + dispatcher#2 for good', endedAt: Date.now() });
    await this.allRestarted();
  }

  // ---- phases ----------------------------------------------------------------------------------------------

  async chaos(): Promise<void> {
    const start = Date.now();
    const until = start + this.sizes.generateSeconds * 1000;
    log(`generating for ${this.sizes.generateSeconds} s with faults`);
    const supervisor = this.supervise();
    this.generateUntil = until;
    const faults = this.faultSchedule(start, until).then(() => {
      // bundles keep coming after the last fault, so the recovery from each fault can be measured
      this.generateUntil = Math.max(this.generateUntil, Date.now() + 10_000);
      this.faultsDone = true;
    });
    const background = Promise.all([this.injectBadInput(until), this.abuseApi(until), this.closePorts(until), faults]);
    await this.generate();
    await background;
    this.generating = false;
    await supervisor;
    // every crashed instance comes back, except the ones killed for good
    for (const app of this.apps) await app.reviveIfCrashed().catch(() => undefined);
    log(`generation over: ${this.bundlesPublished} bundles, ${this.malformedSent.size} malformed messages`);
  }

  /** Heals every receiver and waits until every expected row arrived, or nothing moves for a while. */
  async drain(): Promise<void> {
    for (const receiver of this.receivers.values()) {
      receiver.healed = true;
      receiver.forcedHang.clear();
      await receiver.open();
    }
    const deadline = Date.now() + this.sizes.drainSeconds * 1000;
    const delivered = (): number => [...this.receivers.values()].reduce((s, r) => s + r.deliveries.length, 0);
    let last = delivered();
    let lastMove = Date.now();
    for (;;) {
      const result = this.check();
      const missing = result.totals.lost;
      if (missing === 0) break;
      if (delivered() !== last) {
        last = delivered();
        lastMove = Date.now();
      }
      if (Date.now() > deadline || Date.now() - lastMove > 30_000) {
        log(`drain ends with ${missing} rows missing`);
        break;
      }
      await sleep(1000);
    }
    await sleep(3000); // late duplicates
  }

  check(): CheckResult {
    const deliveries = [...this.receivers.values()].flatMap((r) => r.deliveries);
    for (const hook of this.hooks) for (const row of hook.expected) delete row.optional;
    return check(this.hooks, deliveries, this.windows, this.faults);
  }

  /** Reads the DLQ: which malformed messages arrived there, and anything else that should not have. */
  async readDlq(): Promise<{ total: number; distinctMalformed: number; duplicates: number; foreign: string[]; validDeadLettered: number }> {
    const admin = this.kafka.admin();
    await admin.connect();
    const consumer = this.kafka.consumer({ groupId: `chaos_${this.id}_dlq_reader`, maxWaitTimeInMs: 200 });
    const seen = new Map<string, number>();
    const foreign: string[] = [];
    let total = 0;
    try {
      await waitFor('the DLQ to hold every malformed message', async () => (await topicSize(admin, this.topics.actionsDlq)) >= this.malformedSent.size, 60_000, 1000).catch(
        (err) => log(String(err)),
      );
      const ends = await admin.fetchTopicOffsets(this.topics.actionsDlq);
      const next = new Map<number, number>();
      await consumer.connect();
      await consumer.subscribe({ topic: this.topics.actionsDlq, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          total++;
          const id = messageIdentity(message.key?.toString() ?? null, message.value?.toString() ?? null);
          seen.set(id, (seen.get(id) ?? 0) + 1);
          if (!this.malformedSent.has(id)) foreign.push(`${message.key?.toString()}: ${message.value?.toString().slice(0, 150)}`);
          next.set(partition, Number(message.offset) + 1);
        },
      });
      await waitFor('the DLQ to be read', () => ends.every((e) => (next.get(e.partition) ?? 0) >= Number(e.high)), 60_000, 200);
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
    const distinctMalformed = [...seen.keys()].filter((id) => this.malformedSent.has(id)).length;
    const duplicates = [...seen.values()].reduce((s, n) => s + n - 1, 0);
    const validDeadLettered = [...seen.keys()].filter((id) => this.oddValidSent.has(id)).length;
    return { total, distinctMalformed, duplicates, foreign, validDeadLettered };
  }

  async tearDown(keep: boolean): Promise<void> {
    await Promise.all(this.apps.map((a) => a.stop().catch(() => undefined)));
    this.apps.forEach((a) => a.closeLog());
    await Promise.all([...this.receivers.values()].map((r) => r.close()));
    await this.producer?.disconnect().catch(() => undefined);
    if (keep) {
      log(`kept database ${this.db.name} and topics ${this.topics.all.join(', ')} for investigation`);
      return;
    }
    const admin = this.kafka.admin();
    await admin.connect().catch(() => undefined);
    await admin.deleteTopics({ topics: this.topics.all }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await this.db.drop().catch((err) => log(`could not drop ${this.db.name}: ${err}`));
  }
}

// ---- report ----------------------------------------------------------------------------------------------------

interface Verdict {
  name: string;
  ok: boolean;
  detail: string;
}

function report(run: ChaosRun, result: CheckResult, dlq: Awaited<ReturnType<ChaosRun['readDlq']>>, rss: Array<[string, number | null]>, seconds: number): Verdict[] {
  const t = result.totals;
  const out: string[] = [];
  const line = (s = ''): void => {
    out.push(s);
  };
  const examples = (items: string[], n = 3): string => (items.length ? ` e.g. ${items.slice(0, n).join('; ')}` : '');
  const hooksWith = (f: (h: CheckResult['hooks'][number]) => number): string =>
    result.hooks.filter((h) => f(h) > 0).map((h) => `${h.name} (${h.id}): ${f(h)}`).slice(0, 5).join(', ');

  line(`==== chaos report (${run.options.short ? 'short' : 'full'} run, seed ${run.options.seed}, ${seconds.toFixed(0)} s) ====`);
  line(`bundles published: ${run.bundlesPublished} on ${run.docs.length} documents (+${run.duplicatesPublished} re-sent duplicates), ${run.hooks.length} webhooks`);
  const gaps = run.publishGaps.map(([from, ms]) => `${new Date(from).toISOString().slice(11, 19)} ${(ms / 1000).toFixed(1)} s`);
  line(`publisher blocked > 1 s: ${gaps.length ? gaps.join(', ') : 'never'}`);
  line(`rows expected: ${t.expected} (${t.required} required, ${t.optional} optional: cleared or disabled, ${t.optionalDelivered} of them delivered anyway)`);
  line(`rows delivered: ${t.delivered}`);
  line(`rows LOST: ${t.lost}${t.lost ? ` — ${hooksWith((h) => h.lost.length)}` : ''}`);
  for (const h of result.hooks.filter((h) => h.lost.length)) line(`   ${h.name}:${examples(h.lost, 4)}`);
  line(`duplicate deliveries: ${t.duplicates}${t.duplicates ? ` — ${hooksWith((h) => h.duplicates)}` : ''}`);
  if (t.duplicates) line(`   e.g. ${result.hooks.flatMap((h) => h.duplicateExamples.slice(0, 1).map((e) => `${h.name} ${e}`)).slice(0, 4).join('; ')}`);
  line(`ORDER violations: ${t.orderViolations}${t.orderViolations ? ` — ${hooksWith((h) => h.orderViolations.length)}` : ''}`);
  for (const h of result.hooks.filter((h) => h.orderViolations.length)) line(`   ${h.name}:${examples(h.orderViolations, 2)}`);
  line(`unexpected rows (fired against SPEC section 3): ${t.unexpected}${t.unexpected ? ` — ${hooksWith((h) => h.unexpected.length)}` : ''}`);
  for (const h of result.hooks.filter((h) => h.unexpected.length)) line(`   ${h.name}:${examples(h.unexpected, 4)}`);
  line(`rows with wrong content: ${t.mismatches}`);
  for (const h of result.hooks.filter((h) => h.mismatches.length)) line(`   ${h.name}:${examples(h.mismatches, 2)}`);
  line(`rows of bundles appended while their webhook was disabled, delivered: ${t.firedWhileDisabled}`);
  for (const h of result.hooks.filter((h) => h.firedWhileDisabled.length)) line(`   ${h.name}:${examples(h.firedWhileDisabled, 3)}`);
  line(`malformed messages sent: ${run.malformedSent.size}; dead-lettered: ${dlq.total} messages, ${dlq.distinctMalformed} distinct malformed (${dlq.duplicates} re-dead-lettered after crashes)`);
  if (dlq.foreign.length) line(`   dead-lettered but valid or unknown: ${dlq.foreign.length}${examples(dlq.foreign, 3)}`);
  line(`odd but valid messages (undeclared tables, huge cells): ${run.oddValidSent.size}, dead-lettered by mistake: ${dlq.validDeadLettered}`);
  const statuses = [...run.api.byStatus.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ');
  line(`API requests: ${run.api.requests} (${statuses}; ${run.api.unanswered} unanswered while an instance was down)`);
  line(`API 5xx answers: ${run.api.serverErrors.length}${examples(run.api.serverErrors, 3)}`);
  line(`API malformed requests accepted (2xx): ${run.api.acceptedMalformed.length}${examples(run.api.acceptedMalformed, 3)}`);
  line(`API auth answers wrong (foreign key must get 403, no/bad key 401): ${run.api.authViolations.length}${examples(run.api.authViolations, 3)}`);
  line('recovery after each fault (until a row published after it is delivered: first webhook / every document):');
  for (const r of result.recoveries) {
    const ms = (v: number | null): string => (v === null ? 'never' : `${(v / 1000).toFixed(1)} s`);
    line(`   ${r.fault}: ${ms(r.firstMs)} / ${ms(r.allDocsMs)}`);
  }
  const crashes = run.apps.filter((a) => a.unexpectedExits.length);
  line(`unexpected app exits: ${crashes.length ? crashes.map((a) => `${a.label} ×${a.unexpectedExits.length} (${a.unexpectedExits.join('; ')})`).join(', ') : 'none'}`);
  line(`memory (RSS) at the end: ${rss.map(([l, mb]) => `${l} ${mb === null ? 'down' : `${mb.toFixed(0)} MiB`}`).join(', ')}`);
  for (const n of run.notes) line(`note: ${n}`);
  line(`receivers: ${[...run.receivers.values()].map((r) => `${r.profile} ${r.requests} requests/${r.failures} failed on purpose`).join(', ')}`);
  line(`app logs: ${run.logDir}`);

  const verdicts: Verdict[] = [
    { name: 'no row lost', ok: t.lost === 0, detail: `${t.lost} lost` },
    { name: 'order kept per webhook', ok: t.orderViolations === 0, detail: `${t.orderViolations} violations` },
    { name: 'every malformed message dead-lettered, nothing else', ok: dlq.distinctMalformed === run.malformedSent.size && dlq.foreign.length === 0, detail: `${dlq.distinctMalformed}/${run.malformedSent.size}, ${dlq.foreign.length} foreign` },
    { name: 'no API 5xx', ok: run.api.serverErrors.length === 0, detail: `${run.api.serverErrors.length} answers` },
    { name: 'no row fired against the rules', ok: t.unexpected === 0, detail: `${t.unexpected} rows` },
    { name: 'a disabled webhook fires nothing', ok: t.firedWhileDisabled === 0, detail: `${t.firedWhileDisabled} rows` },
    { name: 'API auth (401/403) holds', ok: run.api.authViolations.length === 0, detail: `${run.api.authViolations.length} answers` },
  ];
  line();
  for (const v of verdicts) line(`${v.ok ? 'PASS' : 'FAIL'}  ${v.name} (${v.detail})`);
  process.stdout.write(`${out.join('\n')}\n`);
  fs.writeFileSync(path.join(run.logDir, 'report.txt'), `${out.join('\n')}\n`);
  return verdicts;
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const run = new ChaosRun(options);
  log(`run ${run.id}, seed ${options.seed}, ${options.short ? 'short' : 'full'}`);
  let failed = false;
  try {
    await run.setUp();
    await run.chaos();
    await run.drain();
    const result = run.check();
    const dlq = await run.readDlq();
    const rss = run.apps.map((a): [string, number | null] => [a.label, a.rssMiB()]);
    fs.writeFileSync(path.join(run.logDir, 'result.json'), JSON.stringify({ result, dlqForeign: dlq.foreign, api: run.api.serverErrors }, null, 1));
    const verdicts = report(run, result, dlq, rss, (Date.now() - started) / 1000);
    failed = verdicts.some((v) => !v.ok);
    return failed ? 1 : 0;
  } catch (err) {
    log(`the chaos run itself failed: ${(err as Error).stack ?? err}`);
    return 2;
  } finally {
    await run.tearDown(options.keep || failed).catch((err) => log(`tear-down: ${err}`));
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(String(err));
    process.exit(2);
  },
);

/**
 * One scenario: an environment (database, topics), the engine's apps pointed at it, the documents declared, the
 * webhooks created over the REST API, and the measurements made on it.
 */
import { Message } from 'kafkajs';
import { App, AppName } from './apps';
import { BenchEnv, createEnv, Stack } from './infra';
import { Receiver } from './receiver-client';
import { perSecond, sleep, waitFor } from './util';
import { docIds, WebhookSpec, webhookFields, webhookSpecs, Workload } from './workload';

export const ADMIN_API_KEY = 'bench-admin-key';
const WEBHOOKS_PER_CALL = 100;
const POLL_MS = 100;

export interface ScenarioConfig {
  name: string;
  docs: number;
  webhooks: number;
  bundleRows: number;
  partitions: number;
}

export interface CreatedWebhook {
  spec: WebhookSpec;
  id: string;
}

export interface MatcherRun {
  bundles: number;
  rowChanges: number;
  payloadEvents: number;
  ms: number;
  rowChangesPerSec: number;
  payloadEventsPerSec: number;
}

export interface DeliveryRun {
  requests: number;
  rows: number;
  ms: number;
  requestsPerSec: number;
  rowsPerSec: number;
  rowsPerRequest: number;
}

/** Sum and count of a histogram's observations. */
export interface LagTotal {
  sum: number;
  count: number;
}

export class Scenario {
  readonly apps = new Map<AppName, App>();
  webhooks: CreatedWebhook[] = [];
  /** Row bundles published since the declarations. */
  private rowBundles = 0;
  /** Row bundles the previous matcher instance had applied when it stopped: the current one starts after them. */
  private matcherBase = 0;

  private constructor(
    readonly env: BenchEnv,
    readonly workload: Workload,
    private readonly receiver: Receiver,
    private readonly brokers: string[],
  ) {}

  /** Creates the environment, declares the tables through the matcher, creates the webhooks; leaves the API running. */
  static async prepare(
    stack: Stack,
    receiver: Receiver,
    config: ScenarioConfig,
    onCreated: (s: Scenario) => void,
    log: (msg: string) => void,
  ): Promise<Scenario> {
    const started = Date.now();
    const env = await createEnv(stack, config.name, config.partitions);
    const docs = docIds(config.docs);
    const scenario = new Scenario(env, new Workload(docs, config.bundleRows), receiver, stack.brokers);
    onCreated(scenario);
    await Promise.all([scenario.start('config-api'), scenario.start('matcher')]);
    log(`${config.name}: apps up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await env.publish(scenario.workload.declareBundles());
    await waitFor(
      'the matcher to apply the table declarations',
      async () => {
        scenario.assertRunning();
        const { rows } = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM docs WHERE last_action_num >= 1');
        return rows[0].n === docs.length;
      },
      120_000,
      POLL_MS,
    );
    log(`${config.name}: tables declared after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await scenario.addWebhooks(config.webhooks);
    log(`${config.name}: webhooks created after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await scenario.stop('matcher');
    return scenario;
  }

  appEnv(): Record<string, string> {
    const { env, receiver } = this;
    return {
      KAFKA_BROKERS: this.brokers.join(','),
      DATABASE_URL: env.databaseUrl,
      ACTIONS_TOPIC: env.actionsTopic,
      EVENTS_TOPIC: env.eventsTopic,
      MATCHER_GROUP_ID: env.matcherGroupId,
      DISPATCHER_GROUP_ID: env.dispatcherGroupId,
      ADMIN_API_KEY,
      ALLOWED_WEBHOOK_DOMAINS: `localhost:${receiver.port},localhost:${receiver.hangPort}`,
      LOG_LEVEL: 'warn',
    };
  }

  async start(name: AppName): Promise<App> {
    const app = await App.start(name, this.appEnv());
    this.apps.set(name, app);
    return app;
  }

  /** Stops an app; a matcher is stopped only once it applied every bundle published (drained or runMatcher). */
  async stop(name: AppName): Promise<void> {
    if (name === 'matcher') this.matcherBase = this.rowBundles;
    await this.apps.get(name)?.stop();
    this.apps.delete(name);
  }

  app(name: AppName): App {
    const app = this.apps.get(name);
    if (!app) throw new Error(`${name} is not running`);
    return app;
  }

  assertRunning(): void {
    for (const app of this.apps.values()) app.assertRunning();
  }

  async close(): Promise<void> {
    for (const name of [...this.apps.keys()]) await this.stop(name);
    await this.env.close();
  }

  private async api(method: string, route: string, body: unknown): Promise<any> {
    const res = await fetch(`${this.app('config-api').url}${route}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text.slice(0, 500)}`);
    return text ? JSON.parse(text) : null;
  }

  /** Creates webhooks up to `total` (the next ones of webhookSpecs), several per call, a few calls at a time. */
  async addWebhooks(total: number): Promise<void> {
    const specs = webhookSpecs(this.workload.docs, total).slice(this.webhooks.length);
    const calls: WebhookSpec[][] = [];
    const byDoc = new Map<string, WebhookSpec[]>();
    for (const spec of specs) byDoc.set(spec.docId, [...(byDoc.get(spec.docId) ?? []), spec]);
    for (const list of byDoc.values()) {
      for (let i = 0; i < list.length; i += WEBHOOKS_PER_CALL) calls.push(list.slice(i, i + WEBHOOKS_PER_CALL));
    }
    const created: CreatedWebhook[] = [];
    const worker = async (): Promise<void> => {
      for (let call = calls.shift(); call; call = calls.shift()) {
        const body = { webhooks: call.map((spec) => ({ fields: webhookFields(spec, this.receiver.url) })) };
        const { webhooks } = (await this.api('POST', `/api/docs/${call[0].docId}/webhooks`, body)) as { webhooks: Array<{ id: string }> };
        webhooks.forEach(({ id }, i) => created.push({ spec: call[i], id }));
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    // ids come back in the order sent
    this.webhooks = [...this.webhooks, ...created].sort((a, b) => a.spec.index - b.spec.index);
  }

  /**
   * True once the matcher saved the state of every bundle published. It publishes a batch's events before saving and
   * counts them after, so from then on its payload-event counter is final.
   */
  private async matcherSavedAll(): Promise<boolean> {
    const { rows } = await this.env.db.query<{ n: string }>('SELECT coalesce(sum(last_action_num), 0)::text AS n FROM docs');
    return Number(rows[0].n) >= this.workload.actionNumTotal();
  }

  /** Points webhooks at another base URL (PATCH url only). */
  async repoint(webhooks: CreatedWebhook[], baseUrl: string): Promise<void> {
    const queue = [...webhooks];
    const worker = async (): Promise<void> => {
      for (let w = queue.shift(); w; w = queue.shift()) {
        await this.api('PATCH', `/api/docs/${w.spec.docId}/webhooks/${w.id}`, { url: `${baseUrl}/w/${w.spec.index}` });
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
  }

  /** Publishes `rowChanges` worth of bundles as fast as the broker acknowledges them. */
  async publishRows(rowChanges: number): Promise<number> {
    const bundles = Math.ceil(rowChanges / this.workload.bundleRows);
    for (let done = 0; done < bundles; done += 2000) {
      // generated in slices so a large run never holds every bundle in memory
      await this.env.publish(this.workload.bundlesFor(Math.min(2000, bundles - done)));
    }
    this.rowBundles += bundles;
    return bundles;
  }

  /** Publishes at a fixed rate of row changes per second for `seconds`; T is stamped just before each send. */
  async publishAtRate(rowsPerSec: number, seconds: number): Promise<{ bundles: number; ms: number }> {
    const bundlesPerSec = rowsPerSec / this.workload.bundleRows;
    const started = Date.now();
    const end = started + seconds * 1000;
    let sent = 0;
    while (Date.now() < end) {
      const due = Math.floor(((Date.now() - started) / 1000) * bundlesPerSec) - sent;
      if (due > 0) {
        const now = Date.now();
        const messages: Message[] = Array.from({ length: due }, () => this.workload.nextBundle(now));
        await this.env.producer.send({ topic: this.env.actionsTopic, acks: -1, messages });
        sent += due;
        this.rowBundles += due;
      }
      await sleep(5);
    }
    return { bundles: sent, ms: Date.now() - started };
  }

  /**
   * Starts the matcher on bundles already in the topic and times it until it applied them all, from the last poll
   * of its /metrics that saw nothing applied yet (its start-up and group join are not counted; the window is at
   * most one poll longer than the work).
   */
  async runMatcher(timeoutMs: number): Promise<MatcherRun> {
    const matcher = await this.start('matcher');
    const expected = this.rowBundles - this.matcherBase;
    let idle = { at: Date.now(), bundles: 0, rows: 0, events: 0 };
    let last = idle;
    await waitFor(
      `the matcher to apply ${expected} bundles`,
      async () => {
        const saved = await this.matcherSavedAll();
        const m = await matcher.metrics();
        const sample = {
          at: Date.now(),
          bundles: m.get('matcher_bundles_applied_total') ?? 0,
          rows: m.get('matcher_row_changes_total') ?? 0,
          events: m.get('matcher_payload_events_total') ?? 0,
        };
        if (sample.bundles === 0) idle = sample;
        last = sample;
        return sample.bundles >= expected && saved;
      },
      timeoutMs,
      POLL_MS,
    );
    const ms = last.at - idle.at;
    return {
      bundles: last.bundles,
      rowChanges: last.rows,
      payloadEvents: last.events,
      ms,
      rowChangesPerSec: perSecond(last.rows, ms),
      payloadEventsPerSec: perSecond(last.events, ms),
    };
  }

  /**
   * Waits until every published bundle was matched, every payload event stored by the dispatcher, and every healthy
   * queue delivered: by the receiver's row count and the dispatcher's count of rows recorded as delivered, or, when
   * some webhooks hang, by their queues in Postgres.
   */
  async drained(timeoutMs: number, hanging: CreatedWebhook[] = []): Promise<void> {
    const matcher = this.app('matcher');
    const dispatcher = this.app('dispatcher');
    const hangingIds = hanging.map((w) => w.id);
    await waitFor(
      'the engine to deliver every healthy row',
      async () => {
        this.assertRunning();
        if (!(await this.matcherSavedAll())) return false;
        const m = await matcher.metrics();
        const d = await dispatcher.metrics();
        const intake = ['queued', 'duplicate', 'dropped', 'dead_lettered'].reduce((sum, k) => sum + (d.get(`dispatcher_events_${k}_total`) ?? 0), 0);
        if (intake < (m.get('matcher_payload_events_total') ?? 0)) return false;
        if (hangingIds.length === 0) {
          // recorded too, or the lag of the last batches would be observed in the next phase's window
          const queued = d.get('dispatcher_rows_queued_total') ?? 0;
          return (d.get('dispatcher_rows_delivered_total') ?? 0) >= queued && (await this.receiver.stats()).total.rows >= queued;
        }
        const { rows } = await this.env.db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM webhook_queue WHERE webhook_id <> ALL($1::uuid[])',
          [hangingIds],
        );
        return rows[0].n === 0;
      },
      timeoutMs,
      POLL_MS,
    );
  }

  /** Totals of the dispatcher's lag histograms, so a phase can take their means. */
  async lagTotals(): Promise<{ queued: LagTotal; delivered: LagTotal }> {
    const m = await this.app('dispatcher').metrics();
    const total = (name: string): LagTotal => ({ sum: m.get(`${name}_sum`) ?? 0, count: m.get(`${name}_count`) ?? 0 });
    return { queued: total('dispatcher_intake_lag_seconds'), delivered: total('dispatcher_end_to_end_lag_seconds') };
  }

  /** The receiver's counts for the current phase, as a delivery rate from the first request to the last. */
  async deliveryRun(fromMs?: number): Promise<DeliveryRun> {
    const { phase } = await this.receiver.stats();
    const ms = phase.lastAt - (fromMs ?? phase.firstAt);
    return {
      requests: phase.requests,
      rows: phase.rows,
      ms,
      requestsPerSec: perSecond(phase.requests, ms),
      rowsPerSec: perSecond(phase.rows, ms),
      rowsPerRequest: phase.requests > 0 ? phase.rows / phase.requests : NaN,
    };
  }
}

/**
 * `npm run bench [-- --quick]`: the engine's throughput, latency, isolation, growth and memory on the local stack,
 * each beside the raw limit or target it is judged against. See docs/BENCHMARKS.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { peakRss } from './apps';
import { ensureStack, Stack, sweep } from './infra';
import { BenchOptions, parseOptions } from './options';
import { rawHttp, rawKafka, rawKafkaProduce } from './raw';
import { Receiver } from './receiver-client';
import { BenchResults, eventsAt, GrowthRun, renderTable } from './report';
import { LagTotal, Scenario } from './scenario';
import { runId, summarize } from './util';
import { sampleBody } from './workload';

const log = (msg: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

/** Mean of a histogram's observations between two readings, in ms. */
const meanMs = (before: LagTotal, after: LagTotal): number => ((after.sum - before.sum) / (after.count - before.count)) * 1000;

/** Generous bounds for each wait, so a stuck engine fails the run instead of hanging it. */
const timeoutFor = (rowChanges: number): number => 120_000 + rowChanges * 10;

interface Context {
  opts: BenchOptions;
  stack: Stack;
  receiver: Receiver;
  id: string;
  results: BenchResults;
  /** Scenarios not yet closed, closed on failure or Ctrl-C. */
  open: Set<Scenario>;
}

async function prepare(ctx: Context, tag: string, docs: number, webhooks: number): Promise<Scenario> {
  const { opts, stack, receiver, id, open } = ctx;
  log(`${tag}: ${docs} docs, ${webhooks} webhooks: declaring tables, creating webhooks`);
  return Scenario.prepare(stack, receiver, { name: `bench_${id}_${tag}`, docs, webhooks, bundleRows: opts.bundleRows, partitions: opts.partitions }, (s) =>
    open.add(s),
  log);
}

async function close(ctx: Context, scenario: Scenario): Promise<void> {
  ctx.open.delete(scenario);
  await scenario.close();
}

/** Phases 1 to 5 on the main scenario, in order, each reusing what the previous one left in the topics. */
async function mainScenario(ctx: Context): Promise<void> {
  const { opts, receiver, results } = ctx;
  const s = await prepare(ctx, 'main', opts.docs, opts.webhooks);
  const timeout = timeoutFor(opts.rows);

  log(`preloading ${opts.rows} row changes`);
  const bundles = await s.publishRows(opts.rows);

  log('1. raw Kafka consumer');
  const kafka = await rawKafka(s.env.kafka, s.env.actionsTopic, bundles + opts.docs, `${s.env.name}.raw`, opts.rawSeconds * 1000);
  await s.env.admin.deleteGroups([`${s.env.name}.raw`]).catch(() => undefined);
  log('1. raw HTTP client');
  // as many requests in flight as the dispatcher can have here: one per webhook, up to its concurrency
  const inFlight = Math.min(opts.concurrency, opts.webhooks);
  const http = [];
  for (const rowsPerRequest of [1, 100]) {
    http.push(await rawHttp(receiver.url, sampleBody(rowsPerRequest), rowsPerRequest, inFlight, opts.rawSeconds));
  }
  const rawRowChangesPerSec = kafka.messagesPerSec * opts.bundleRows;
  const raw: NonNullable<BenchResults['raw']> = {
    kafka: { bundlesPerSec: kafka.messagesPerSec, rowChangesPerSec: rawRowChangesPerSec, messages: kafka.messages, ms: kafka.ms },
    http,
  };
  results.raw = raw;

  log('2. matcher alone');
  const matcher = await s.runMatcher(timeout);
  log(`1. raw Kafka producer (the matcher's ${matcher.payloadEvents} payload events)`);
  const produceGroup = `${s.env.name}.raw-produce`;
  const produce = await rawKafkaProduce(s.env.kafka, s.env.eventsTopic, matcher.payloadEvents, produceGroup, opts.rawSeconds * 1000);
  await s.env.admin.deleteGroups([produceGroup]).catch(() => undefined);
  raw.produce = produce;
  results.matcher = {
    ...matcher,
    ratioToRawKafka: matcher.rowChangesPerSec / rawRowChangesPerSec,
    atTarget: eventsAt(matcher, 0.5 * rawRowChangesPerSec, produce),
  };

  log(`3. dispatcher alone (${matcher.payloadEvents} payload events)`);
  await receiver.reset();
  await s.start('dispatcher');
  await s.drained(timeout);
  const dispatcher = await s.deliveryRun();
  // compared with the raw run whose body size is nearest (on a log scale) to the dispatcher's average batch
  const nearest = http.reduce((a, b) =>
    Math.abs(Math.log(b.rowsPerRequest / dispatcher.rowsPerRequest)) < Math.abs(Math.log(a.rowsPerRequest / dispatcher.rowsPerRequest)) ? b : a,
  );
  results.dispatcher = { ...dispatcher, comparedWithRowsPerRequest: nearest.rowsPerRequest, ratioToRawHttp: dispatcher.requestsPerSec / nearest.requestsPerSec };

  log(`4a. end to end, maximum: publishing ${opts.rows} row changes`);
  await receiver.reset();
  const startedAt = Date.now();
  await s.publishRows(opts.rows);
  await s.drained(timeout);
  const max = await s.deliveryRun(startedAt);

  log(`4b. end to end latency at ${opts.rate} row changes/s for ${opts.seconds} s`);
  await receiver.reset(true);
  const lagBefore = await s.lagTotals();
  const steady = await s.publishAtRate(opts.rate, opts.seconds);
  await s.drained(timeout);
  const latency = summarize((await receiver.stats(true)).latencies ?? []);
  const lagAfter = await s.lagTotals();
  results.endToEnd = {
    max: { rowChangesPublished: opts.rows, rowsDelivered: max.rows, ms: max.ms, rowsDeliveredPerSec: max.rowsPerSec },
    latency: { ...latency, rowChangesPerSec: opts.rate, seconds: opts.seconds, publishedRowChangesPerSec: (steady.bundles * opts.bundleRows * 1000) / steady.ms },
    stages: {
      queuedMeanMs: meanMs(lagBefore.queued, lagAfter.queued),
      deliveredMeanMs: meanMs(lagBefore.delivered, lagAfter.delivered),
    },
  };

  // one webhook in each run of `every`, at a position that moves along: every kind and table gets its share (every
  // tenth index alone would always be the same kind on the same table)
  const every = Math.round(1 / opts.hangingShare);
  const hanging = s.webhooks.filter((w) => w.spec.index % every === Math.floor(w.spec.index / every) % every);
  log(`5. isolation: ${hanging.length} webhooks pointed at a receiver that never answers`);
  await s.repoint(hanging, receiver.hangUrl);
  await receiver.reset(true);
  await s.publishAtRate(opts.rate, opts.seconds);
  await s.drained(timeout, hanging);
  const stats = await receiver.stats(true);
  const healthy = summarize(stats.latencies ?? []);
  results.isolation = { hangingWebhooks: hanging.length, healthy, ratioToLatencyP99: healthy.p99 / latency.p99, hangingRequests: stats.hanging.requests };

  await close(ctx, s);
}

/**
 * Phase 6: the matcher alone, timed on fresh bundles with more and more webhooks (added to one scenario between
 * runs, so set-up is paid once), then on a scenario with more documents.
 */
async function growth(ctx: Context): Promise<void> {
  const { opts, results } = ctx;
  const runs: GrowthRun[] = [];
  const counts = [...opts.growthWebhooks].sort((a, b) => a - b);
  const timeout = timeoutFor(opts.growthRows);

  const s = await prepare(ctx, 'growth', opts.docs, counts[0]);
  for (const webhooks of counts) {
    await s.addWebhooks(webhooks);
    await s.publishRows(opts.growthRows);
    const label = `${webhooks} webhooks, ${opts.docs} docs`;
    log(`6. growth: matcher with ${label}`);
    runs.push({ label, docs: opts.docs, webhooks, ...(await s.runMatcher(timeout)) });
    await s.stop('matcher');
  }
  await close(ctx, s);

  const docs = opts.docs * opts.docsFactor;
  const more = await prepare(ctx, 'docs', docs, opts.webhooks);
  await more.publishRows(opts.growthRows);
  const label = `${opts.webhooks} webhooks, ${docs} docs`;
  log(`6. growth: matcher with ${label}`);
  runs.push({ label, docs, webhooks: opts.webhooks, ...(await more.runMatcher(timeout)) });
  await close(ctx, more);

  const byWebhooks = runs.slice(0, counts.length);
  const sameWebhooks = byWebhooks.find((g) => g.webhooks === opts.webhooks);
  const [fewest, most] = [byWebhooks[0], byWebhooks[byWebhooks.length - 1]];
  const produce = results.raw?.produce;
  results.growth = {
    runs,
    ratioLargestToSmallest: byWebhooks.length > 1 ? most.rowChangesPerSec / fewest.rowChangesPerSec : null,
    atTarget: byWebhooks.length > 1 && produce ? eventsAt(most, 0.8 * fewest.rowChangesPerSec, produce) : null,
    moreDocsRatio: sameWebhooks ? runs[runs.length - 1].rowChangesPerSec / sameWebhooks.rowChangesPerSec : null,
  };
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const results: BenchResults = {
    startedAt: new Date().toISOString(),
    options: opts,
    machine: {
      cpus: os.cpus().length,
      availableParallelism: os.availableParallelism(),
      memTotalBytes: os.totalmem(),
      loadAvgAtStart: os.loadavg(),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
    },
  };
  const stack = await ensureStack();
  const receiver = await Receiver.start();
  const ctx: Context = { opts, stack, receiver, id: runId(), results, open: new Set() };
  let cleaning: Promise<void> | null = null;
  const cleanUp = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const s of ctx.open) await s.close().catch((err) => log(`clean-up of ${s.env.name} failed: ${(err as Error).message}`));
      // whatever else carries this run's id (every name starts bench_<id>_)
      await sweep(stack, `bench_${ctx.id}_`).catch((err) => log(`clean-up of bench_${ctx.id}_* failed: ${(err as Error).message}`));
      await receiver.close().catch(() => undefined);
    })());
  // Ctrl-C, or a supervisor's stop (timeout, CI): the apps would otherwise outlive the bench, still consuming
  const signalled = (signal: NodeJS.Signals, code: number): void => {
    process.once(signal, () => {
      log(`${signal}: cleaning up`);
      void cleanUp().finally(() => process.exit(code));
    });
  };
  signalled('SIGINT', 130);
  signalled('SIGTERM', 143);
  signalled('SIGHUP', 129);

  let failed = false;
  try {
    await mainScenario(ctx);
    await growth(ctx);
  } catch (err) {
    failed = true;
    results.error = (err as Error).stack ?? String(err);
    log(`FAILED: ${(err as Error).message}`);
  } finally {
    await cleanUp();
  }
  results.peakRssBytes = { ...peakRss };
  results.finishedAt = new Date().toISOString();

  const dir = path.join(__dirname, '../../bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${results.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(`\n${renderTable(results)}\n\nsaved ${path.relative(process.cwd(), file)}\n`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);

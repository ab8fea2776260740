/** What a run measured (saved as JSON) and the table printed from it, with the targets beside the figures. */
import { AppName } from './apps';
import { BenchOptions } from './options';
import { RawHttpResult, RawProduceResult } from './raw';
import { DeliveryRun, MatcherRun } from './scenario';
import { fmt, LatencySummary, pct } from './util';

export interface GrowthRun extends MatcherRun {
  label: string;
  docs: number;
  webhooks: number;
}

/** The payload events per second a matcher run implies at another rate of row changes, beside the raw producer. */
export interface EventsAtRate {
  rowChangesPerSec: number;
  payloadEventsPerSec: number;
  ratioToRawProduce: number;
}

/** At `rowChangesPerSec`, with as many payload events per row change as `run` had. */
export const eventsAt = (run: MatcherRun, rowChangesPerSec: number, produce: RawProduceResult): EventsAtRate => {
  const payloadEventsPerSec = (rowChangesPerSec * run.payloadEvents) / run.rowChanges;
  return { rowChangesPerSec, payloadEventsPerSec, ratioToRawProduce: payloadEventsPerSec / produce.messagesPerSec };
};

export interface BenchResults {
  startedAt: string;
  finishedAt?: string;
  options: BenchOptions;
  machine: { cpus: number; availableParallelism: number; memTotalBytes: number; loadAvgAtStart: number[]; node: string; platform: string };
  raw?: {
    kafka: { bundlesPerSec: number; rowChangesPerSec: number; messages: number; ms: number };
    http: RawHttpResult[];
    /** Measured after phase 2, on the payload events it published. */
    produce?: RawProduceResult;
  };
  /** atTarget: what the matcher would publish at half the raw Kafka rate. */
  matcher?: MatcherRun & { ratioToRawKafka: number; atTarget: EventsAtRate };
  dispatcher?: DeliveryRun & { comparedWithRowsPerRequest: number; ratioToRawHttp: number };
  endToEnd?: {
    max: { rowChangesPublished: number; rowsDelivered: number; ms: number; rowsDeliveredPerSec: number };
    latency: LatencySummary & { rowChangesPerSec: number; seconds: number; publishedRowChangesPerSec: number };
    /** Means from the dispatcher's lag histograms over 4b: bundle appended → event queued → rows delivered. */
    stages: { queuedMeanMs: number; deliveredMeanMs: number };
  };
  isolation?: { hangingWebhooks: number; healthy: LatencySummary; ratioToLatencyP99: number; hangingRequests: number };
  /** atTarget: what the matcher would publish with the most webhooks at 0.8x the rate with the fewest. */
  growth?: { runs: GrowthRun[]; ratioLargestToSmallest: number | null; atTarget: EventsAtRate | null; moreDocsRatio: number | null };
  peakRssBytes?: Record<AppName, number>;
  error?: string;
}

type Row = [string, string, string, string];

/** The row that says what a target on row changes means for the payload events to publish. */
const atTargetRow = (section: string, t: EventsAtRate): Row => [
  section,
  'payload events/s that target needs',
  `${fmt(t.payloadEventsPerSec)} at ${fmt(t.rowChangesPerSec)} row changes/s = ${fmt(t.ratioToRawProduce, 2)}x the raw Kafka producer`,
  '',
];

const verdict = (ok: boolean | null): string => (ok === null ? '' : ok ? ' (met)' : ' (NOT met)');
const ms = (n: number): string => `${fmt(n)} ms`;
const mb = (bytes: number): string => `${fmt(bytes / 1024 / 1024)} MB`;

export function renderTable(r: BenchResults): string {
  const rows: Row[] = [];
  if (r.raw) {
    rows.push(['1', 'raw Kafka consumer (JSON.parse only)', `${fmt(r.raw.kafka.bundlesPerSec)} bundles/s = ${fmt(r.raw.kafka.rowChangesPerSec)} row changes/s`, '']);
    for (const h of r.raw.http) {
      rows.push(['1', `raw HTTP, ${h.rowsPerRequest}-row bodies, ${h.concurrency} in flight`, `${fmt(h.requestsPerSec)} req/s = ${fmt(h.requestsPerSec * h.rowsPerRequest)} rows/s`, '']);
    }
    const p = r.raw.produce;
    if (p) {
      rows.push([
        '1',
        "raw Kafka producer (phase 2's payload events, the matcher's producer)",
        `${fmt(p.messagesPerSec)} payload events/s (${fmt(p.bytes / 1024 / 1024 / (p.ms / 1000), 1)} MB/s)`,
        '',
      ]);
    }
  }
  if (r.matcher) {
    const m = r.matcher;
    rows.push([
      '2',
      'matcher alone (preloaded bundles)',
      `${fmt(m.rowChangesPerSec)} row changes/s, ${fmt(m.payloadEventsPerSec)} payload events/s = ${pct(m.ratioToRawKafka)} of raw Kafka`,
      `>= 50% of raw Kafka${verdict(m.ratioToRawKafka >= 0.5)}`,
    ]);
    if (m.atTarget) rows.push(atTargetRow('2', m.atTarget));
  }
  if (r.dispatcher) {
    const d = r.dispatcher;
    rows.push([
      '3',
      'dispatcher alone (preloaded events)',
      `${fmt(d.requestsPerSec)} req/s, ${fmt(d.rowsPerSec)} rows/s (${fmt(d.rowsPerRequest, 1)} rows/req) = ${pct(d.ratioToRawHttp)} of raw HTTP at ${d.comparedWithRowsPerRequest} rows/req`,
      `>= 50% of raw HTTP${verdict(d.ratioToRawHttp >= 0.5)}`,
    ]);
  }
  if (r.endToEnd) {
    const { max, latency: l } = r.endToEnd;
    rows.push(['4a', 'end to end, sustained maximum', `${fmt(max.rowsDeliveredPerSec)} rows delivered/s (${fmt(max.rowsDelivered)} rows in ${fmt(max.ms / 1000, 1)} s)`, '']);
    rows.push([
      '4b',
      `end to end latency at ${fmt(l.rowChangesPerSec)} row changes/s, ${l.seconds} s`,
      `p50 ${ms(l.p50)}, p95 ${ms(l.p95)}, p99 ${ms(l.p99)}, max ${ms(l.max)} (${fmt(l.count)} rows)`,
      `p99 <= 250 ms${verdict(l.p99 <= 250)}`,
    ]);
    const { stages } = r.endToEnd;
    rows.push([
      '4b',
      'where the time goes (means)',
      `bundle appended -> queued in Postgres ${ms(stages.queuedMeanMs)} (matcher, intake); -> delivered ${ms(stages.deliveredMeanMs)}`,
      '',
    ]);
  }
  if (r.isolation) {
    const i = r.isolation;
    rows.push([
      '5',
      `isolation: ${i.hangingWebhooks} webhooks hanging, healthy rows`,
      `p50 ${ms(i.healthy.p50)}, p99 ${ms(i.healthy.p99)}, max ${ms(i.healthy.max)} = ${fmt(i.ratioToLatencyP99, 2)}x of 4b p99`,
      `<= 1.2x of 4b${verdict(i.ratioToLatencyP99 <= 1.2)}`,
    ]);
  }
  if (r.growth) {
    for (const g of r.growth.runs) {
      const ofProducer = r.raw?.produce ? ` (${pct(g.payloadEventsPerSec / r.raw.produce.messagesPerSec)} of the raw producer)` : '';
      rows.push(['6', `growth: ${g.label}`, `${fmt(g.rowChangesPerSec)} row changes/s, ${fmt(g.payloadEventsPerSec)} payload events/s${ofProducer}`, '']);
    }
    const { ratioLargestToSmallest: ratio, atTarget, moreDocsRatio } = r.growth;
    rows.push(['6', 'growth: most webhooks vs fewest', ratio === null ? 'n/a' : `${fmt(ratio, 2)}x`, `>= 0.8x${verdict(ratio === null ? null : ratio >= 0.8)}`]);
    if (atTarget) rows.push(atTargetRow('6', atTarget));
    if (moreDocsRatio !== null) rows.push(['6', `growth: ${r.options.docsFactor}x documents vs same webhooks`, `${fmt(moreDocsRatio, 2)}x`, '']);
  }
  if (r.peakRssBytes) {
    for (const [app, bytes] of Object.entries(r.peakRssBytes)) {
      rows.push(['7', `peak RSS (VmHWM), ${app}`, bytes > 0 ? mb(bytes) : 'n/a', `< 300 MB${verdict(bytes > 0 ? bytes < 300 * 1024 * 1024 : null)}`]);
    }
  }

  const header: Row = ['#', 'measure', 'result', 'target'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (row: Row): string => `| ${row.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`;
  const o = r.options;
  const title =
    `Benchmark${o.quick ? ' (--quick)' : ''}, ${r.startedAt}: ${o.docs} docs x 5 tables, ${o.webhooks} webhooks, ` +
    `${fmt(o.rows)} row changes in bundles of ${o.bundleRows}; ${r.machine.availableParallelism} cores, ` +
    `${mb(r.machine.memTotalBytes)} RAM, load ${r.machine.loadAvgAtStart.map((l) => l.toFixed(2)).join(' ')} at start, node ${r.machine.node}`;
  return [title, '', line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line), ...(r.error ? ['', `ERROR: ${r.error}`] : [])].join('\n');
}

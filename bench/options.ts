/** Command-line options of `npm run bench`: the full defaults, the --quick preset, and explicit overrides. */

import { DEFAULT_DISPATCH_CONCURRENCY } from '../libs/config';

export interface BenchOptions {
  quick: boolean;
  /** Documents of the main scenario, each with TABLES_PER_DOC tables. */
  docs: number;
  webhooks: number;
  /** Row changes preloaded for the matcher and dispatcher phases, and published again for the end-to-end maximum. */
  rows: number;
  /** Row changes per bundle. */
  bundleRows: number;
  /** Row changes per second of the fixed-rate runs (latency, isolation). */
  rate: number;
  /** Length of each fixed-rate run. */
  seconds: number;
  /** Share of webhooks pointed at the hanging receiver in the isolation run. */
  hangingShare: number;
  /** Webhook counts of the growth runs. */
  growthWebhooks: number[];
  /** Row changes of each growth run. */
  growthRows: number;
  /** The "more documents" growth run uses docs × docsFactor documents. */
  docsFactor: number;
  /** Length of each raw HTTP run, and the least length of the raw producer run. */
  rawSeconds: number;
  /** The dispatcher's DISPATCH_CONCURRENCY default: the raw HTTP client has as many requests in flight as it can. */
  concurrency: number;
  /** Partitions of the bench's topics: the engine's TOPIC_PARTITIONS default. */
  partitions: number;
}

const FULL: BenchOptions = {
  quick: false,
  docs: 100,
  webhooks: 1000,
  rows: 200_000,
  bundleRows: 10,
  rate: 1000,
  seconds: 60,
  hangingShare: 0.1,
  growthWebhooks: [100, 1000, 10_000],
  growthRows: 100_000,
  docsFactor: 10,
  rawSeconds: 10,
  concurrency: DEFAULT_DISPATCH_CONCURRENCY,
  partitions: 8,
};

/** Small enough for the whole run (build included) to stay under three minutes on two cores. */
const QUICK: Partial<BenchOptions> = {
  quick: true,
  docs: 10,
  webhooks: 100,
  rows: 10_000,
  seconds: 8,
  growthWebhooks: [100, 300, 1000],
  growthRows: 20_000,
  rawSeconds: 3,
};

const USAGE = `usage: npm run bench -- [--quick] [--docs N] [--webhooks N] [--rows N] [--bundle-rows N] [--rate N]
       [--seconds S] [--hanging-share F] [--growth N,N,N] [--growth-rows N] [--docs-factor N] [--raw-seconds S]`;

const NUMERIC: Record<string, keyof BenchOptions> = {
  '--docs': 'docs',
  '--webhooks': 'webhooks',
  '--rows': 'rows',
  '--bundle-rows': 'bundleRows',
  '--rate': 'rate',
  '--seconds': 'seconds',
  '--hanging-share': 'hangingShare',
  '--growth-rows': 'growthRows',
  '--docs-factor': 'docsFactor',
  '--raw-seconds': 'rawSeconds',
};

export function parseOptions(argv: string[]): BenchOptions {
  const opts: BenchOptions = { ...FULL, ...(argv.includes('--quick') ? QUICK : {}) };
  const record = opts as unknown as Record<string, unknown>;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--quick') continue;
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
    if (flag === '--growth') {
      opts.growthWebhooks = value.split(',').map((v) => positive(flag, v));
    } else if (NUMERIC[flag]) {
      record[NUMERIC[flag]] = flag === '--hanging-share' ? share(flag, value) : positive(flag, value);
    } else {
      throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  return opts;
}

function positive(flag: string, raw: string): number {
  const n = Number(raw);
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`${flag} must be a positive number (got "${raw}")`);
  return n;
}

function share(flag: string, raw: string): number {
  const n = Number(raw);
  if (!(n > 0 && n < 1)) throw new Error(`${flag} must be between 0 and 1 (got "${raw}")`);
  return n;
}

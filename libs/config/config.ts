import { invalidAllowedDomainEntries } from '../delivery/url-policy';

/**
 * The engine's configuration (SPEC section 8), read once at start-up from the environment by one pure function.
 * `process.env` is read nowhere else. Every bad variable is reported by name; secrets are never echoed.
 */
export type AppName = 'config-api' | 'matcher' | 'dispatcher';

/** Webhooks one dispatcher delivers to at once, unless DISPATCH_CONCURRENCY says otherwise (the bench's raw HTTP too). */
export const DEFAULT_DISPATCH_CONCURRENCY = 1000;

export interface EngineConfig {
  app: AppName;
  kafkaBrokers: string[];
  databaseUrl: string;
  actionsTopic: string;
  eventsTopic: string;
  port: number;
  /** Address the HTTP server binds: loopback unless told otherwise (containers set 0.0.0.0). */
  host: string;
  adminApiKey: string | null;
  allowedWebhookDomains: string;
  proxyForUntrustedUrls: string | null;
  triggerWaitDelayMs: number;
  triggerMaxAttempts: number;
  webhookBatchSize: number;
  webhookTimeoutMs: number;
  /**
   * How many webhooks one dispatcher instance delivers to at once. High by default: a request waiting on a slow
   * receiver holds a socket, not a database connection, and must not keep healthy webhooks waiting.
   */
  dispatchConcurrency: number;
  /** Consumer group ids; tests give each run its own. */
  matcherGroupId: string;
  dispatcherGroupId: string;
  /** Partitions of the topics this engine creates when they are missing. */
  topicPartitions: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/webhook_engine';
const DEFAULT_PORTS: Record<AppName, number> = { 'config-api': 8080, matcher: 8081, dispatcher: 8082 };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

type Env = Record<string, string | undefined>;

export function loadConfig(app: AppName, env: Env): EngineConfig {
  const problems: string[] = [];
  const text = (name: string, fallback: string): string => {
    const value = env[name]?.trim();
    return value ? value : fallback;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    // Plain decimal digits only: Number() would also take 0x3e8, 1e3 or 0b11.
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  };
  const url = (name: string, value: string | null, protocols: string[]): string | null => {
    if (value === null) return null;
    try {
      const parsed = new URL(value);
      if (protocols.includes(parsed.protocol)) return value;
    } catch {
      // reported below
    }
    problems.push(`${name} must be a ${protocols.join(' or ')} URL`);
    return null;
  };

  const brokers = text('KAFKA_BROKERS', '127.0.0.1:9092').split(',').map((b) => b.trim()).filter(Boolean);
  for (const broker of brokers) {
    // An out-of-range port would not fail here but make kafkajs retry for minutes before the app ever listens.
    const port = Number(/^[^\s:]+:(\d{1,5})$/.exec(broker)?.[1] ?? 0);
    if (port < 1 || port > 65535) {
      problems.push(`KAFKA_BROKERS entries must be host:port with a port from 1 to 65535 (got "${broker}")`);
    }
  }
  const databaseUrl = url('DATABASE_URL', text('DATABASE_URL', DEFAULT_DATABASE_URL), ['postgres:', 'postgresql:']) ?? '';
  // An empty variable must not hide its aliases; `direct` means no proxy, as in Grist's ProxyAgent.
  const proxyNames = ['PROXY_FOR_UNTRUSTED_URLS', 'GRIST_PROXY_FOR_UNTRUSTED_URLS', 'GRIST_HTTPS_PROXY'];
  const proxyName = proxyNames.find((name) => env[name]?.trim());
  const proxyValue = proxyName ? text(proxyName, '') : '';
  const proxy = proxyName && proxyValue !== 'direct' ? url(proxyName, proxyValue, ['http:', 'https:']) : null;
  const topicName = (name: string, fallback: string): string => {
    const value = text(name, fallback);
    if (!/^[A-Za-z0-9._-]{1,200}$/.test(value)) problems.push(`${name} must be a valid Kafka topic name`);
    return value;
  };
  // Dropped silently, a bad entry would leave the app running and refusing every URL with 403.
  for (const entry of invalidAllowedDomainEntries(env.ALLOWED_WEBHOOK_DOMAINS)) {
    problems.push(
      `ALLOWED_WEBHOOK_DOMAINS entries must be domain names, optionally with :port (got "${entry}"; ` +
        'write e.g. "example.com", which also allows its subdomains, or the whole value "*")',
    );
  }
  const logLevel = text('LOG_LEVEL', 'info');
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) problems.push('LOG_LEVEL must be debug, info, warn or error');

  const config: EngineConfig = {
    app,
    kafkaBrokers: brokers,
    databaseUrl,
    actionsTopic: topicName('ACTIONS_TOPIC', 'doc-actions'),
    eventsTopic: topicName('EVENTS_TOPIC', 'webhook-events'),
    port: integer('PORT', DEFAULT_PORTS[app], 0, 65535),
    host: text('HOST', '127.0.0.1'),
    adminApiKey: env.ADMIN_API_KEY?.trim() || null,
    allowedWebhookDomains: env.ALLOWED_WEBHOOK_DOMAINS ?? '',
    proxyForUntrustedUrls: proxy,
    triggerWaitDelayMs: integer('TRIGGER_WAIT_DELAY', 1000, 1, 3_600_000),
    triggerMaxAttempts: integer('TRIGGER_MAX_ATTEMPTS', 20, 1, 1_000_000),
    webhookBatchSize: integer('WEBHOOK_BATCH_SIZE', 100, 1, 10_000),
    webhookTimeoutMs: integer('WEBHOOK_TIMEOUT_MS', 30000, 1, 3_600_000),
    dispatchConcurrency: integer('DISPATCH_CONCURRENCY', DEFAULT_DISPATCH_CONCURRENCY, 1, 100_000),
    matcherGroupId: text('MATCHER_GROUP_ID', 'webhook-matcher'),
    dispatcherGroupId: text('DISPATCHER_GROUP_ID', 'webhook-dispatcher'),
    topicPartitions: integer('TOPIC_PARTITIONS', 8, 1, 1000),
    logLevel: logLevel as EngineConfig['logLevel'],
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

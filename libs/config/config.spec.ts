import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  it('applies the defaults of SPEC section 8', () => {
    const config = loadConfig('dispatcher', {});
    expect(config).toMatchObject({
      kafkaBrokers: ['127.0.0.1:9092'],
      actionsTopic: 'doc-actions',
      eventsTopic: 'webhook-events',
      port: 8082,
      adminApiKey: null,
      allowedWebhookDomains: '',
      proxyForUntrustedUrls: null,
      triggerWaitDelayMs: 1000,
      triggerMaxAttempts: 20,
      webhookBatchSize: 100,
      webhookTimeoutMs: 30000,
    });
    expect(loadConfig('config-api', {}).port).toBe(8080);
    expect(loadConfig('matcher', {}).port).toBe(8081);
  });

  it.each([
    ['PORT', 'abc', 'PORT must be an integer'],
    ['WEBHOOK_BATCH_SIZE', '0', 'WEBHOOK_BATCH_SIZE must be an integer'],
    ['TRIGGER_WAIT_DELAY', '1.5', 'TRIGGER_WAIT_DELAY must be an integer'],
    ['TRIGGER_WAIT_DELAY', '1e3', 'TRIGGER_WAIT_DELAY must be an integer'],
    ['TRIGGER_WAIT_DELAY', '0x3e8', 'TRIGGER_WAIT_DELAY must be an integer'],
    ['TRIGGER_WAIT_DELAY', 'Infinity', 'TRIGGER_WAIT_DELAY must be an integer'],
    ['WEBHOOK_BATCH_SIZE', '0b11', 'WEBHOOK_BATCH_SIZE must be an integer'],
    ['WEBHOOK_BATCH_SIZE', '1.0', 'WEBHOOK_BATCH_SIZE must be an integer'],
    ['WEBHOOK_BATCH_SIZE', '+5', 'WEBHOOK_BATCH_SIZE must be an integer'],
    ['TRIGGER_MAX_ATTEMPTS', '0o7', 'TRIGGER_MAX_ATTEMPTS must be an integer'],
    ['WEBHOOK_TIMEOUT_MS', '1_000', 'WEBHOOK_TIMEOUT_MS must be an integer'],
    ['DISPATCH_CONCURRENCY', '1e2', 'DISPATCH_CONCURRENCY must be an integer'],
    ['TOPIC_PARTITIONS', '0x8', 'TOPIC_PARTITIONS must be an integer'],
    ['PORT', '99999999999999999999', 'PORT must be an integer'],
    ['KAFKA_BROKERS', 'nohost', 'KAFKA_BROKERS entries must be host:port'],
    ['KAFKA_BROKERS', '127.0.0.1:99999', 'KAFKA_BROKERS entries must be host:port with a port from 1 to 65535 (got "127.0.0.1:99999")'],
    ['KAFKA_BROKERS', 'kafka:65536', 'KAFKA_BROKERS entries must be host:port'],
    ['KAFKA_BROKERS', 'kafka:0', 'KAFKA_BROKERS entries must be host:port'],
    ['KAFKA_BROKERS', 'kafka:9092,kafka:123456', 'KAFKA_BROKERS entries must be host:port'],
    ['KAFKA_BROKERS', 'kafka:', 'KAFKA_BROKERS entries must be host:port'],
    ['DATABASE_URL', 'mysql://x', 'DATABASE_URL must be a postgres: or postgresql: URL'],
    ['PROXY_FOR_UNTRUSTED_URLS', 'not a url', 'PROXY_FOR_UNTRUSTED_URLS must be a http: or https: URL'],
    ['ACTIONS_TOPIC', 'bad topic', 'ACTIONS_TOPIC must be a valid Kafka topic name'],
    ['ALLOWED_WEBHOOK_DOMAINS', '*.example.com', 'ALLOWED_WEBHOOK_DOMAINS entries must be domain names, optionally with :port (got "*.example.com"; write e.g. "example.com", which also allows its subdomains'],
    ['ALLOWED_WEBHOOK_DOMAINS', 'https://hooks.example.com', '(got "https://hooks.example.com"'],
    ['ALLOWED_WEBHOOK_DOMAINS', 'example.com, example.com/path', 'ALLOWED_WEBHOOK_DOMAINS entries must be domain names, optionally with :port (got "example.com/path"'],
    ['ALLOWED_WEBHOOK_DOMAINS', '*,example.com', 'ALLOWED_WEBHOOK_DOMAINS entries must be domain names, optionally with :port (got "*"'],
  ])('rejects %s=%j, naming it', (name, value, message) => {
    expect(() => loadConfig('matcher', { [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig('matcher', { [name]: value })).toThrow(message);
  });

  it.each([
    ['PORT', ' 9000 ', 'port', 9000],
    ['TRIGGER_WAIT_DELAY', '0250', 'triggerWaitDelayMs', 250],
    ['TRIGGER_MAX_ATTEMPTS', '3', 'triggerMaxAttempts', 3],
    ['WEBHOOK_BATCH_SIZE', '10000', 'webhookBatchSize', 10000],
    ['WEBHOOK_TIMEOUT_MS', '5000', 'webhookTimeoutMs', 5000],
    ['DISPATCH_CONCURRENCY', '16', 'dispatchConcurrency', 16],
    ['TOPIC_PARTITIONS', '2', 'topicPartitions', 2],
    ['KAFKA_BROKERS', 'a:1, b:65535', 'kafkaBrokers', ['a:1', 'b:65535']],
  ])('reads %s=%j', (name, value, key, expected) => {
    expect(loadConfig('matcher', { [name]: value })).toMatchObject({ [key]: expected });
  });

  it.each(['', ' ', '*', ' * ', 'example.com, api.test:8443', 'bücher.example', '[::1]:8080, localhost'])(
    'accepts ALLOWED_WEBHOOK_DOMAINS=%j, keeping it as written',
    (value) => {
      expect(loadConfig('config-api', { ALLOWED_WEBHOOK_DOMAINS: value }).allowedWebhookDomains).toBe(value);
    },
  );

  it('reports every bad variable at once and never echoes the database URL', () => {
    try {
      loadConfig('matcher', { PORT: '-1', WEBHOOK_TIMEOUT_MS: 'x', DATABASE_URL: 'secret-password' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as ConfigError).problems).toHaveLength(3);
      expect((err as Error).message).not.toContain('secret-password');
    }
  });

  it.each([
    ['GRIST_HTTPS_PROXY alone', { GRIST_HTTPS_PROXY: 'http://proxy:3128' }, 'http://proxy:3128'],
    ['GRIST_PROXY_FOR_UNTRUSTED_URLS alone', { GRIST_PROXY_FOR_UNTRUSTED_URLS: 'http://p:1' }, 'http://p:1'],
    ['all three: the first wins', { PROXY_FOR_UNTRUSTED_URLS: 'http://a:1', GRIST_PROXY_FOR_UNTRUSTED_URLS: 'http://b:1', GRIST_HTTPS_PROXY: 'http://c:1' }, 'http://a:1'],
    ['both aliases: GRIST_PROXY_FOR_UNTRUSTED_URLS wins', { GRIST_PROXY_FOR_UNTRUSTED_URLS: 'http://b:1', GRIST_HTTPS_PROXY: 'http://c:1' }, 'http://b:1'],
    ['an empty one does not hide an alias', { PROXY_FOR_UNTRUSTED_URLS: '', GRIST_PROXY_FOR_UNTRUSTED_URLS: 'http://p:1' }, 'http://p:1'],
    ['a blank one does not hide an alias', { PROXY_FOR_UNTRUSTED_URLS: ' ', GRIST_PROXY_FOR_UNTRUSTED_URLS: '', GRIST_HTTPS_PROXY: 'http://c:1' }, 'http://c:1'],
    ['direct means no proxy', { GRIST_PROXY_FOR_UNTRUSTED_URLS: 'direct' }, null],
    ['direct first wins over a later alias', { PROXY_FOR_UNTRUSTED_URLS: ' direct ', GRIST_HTTPS_PROXY: 'http://c:1' }, null],
  ])('proxy variable and its Grist aliases: %s', (_case, env, expected) => {
    expect(loadConfig('dispatcher', env).proxyForUntrustedUrls).toBe(expected);
  });

  it.each([
    ['GRIST_PROXY_FOR_UNTRUSTED_URLS', { GRIST_PROXY_FOR_UNTRUSTED_URLS: 'not a url' }],
    ['GRIST_HTTPS_PROXY', { GRIST_HTTPS_PROXY: 'ftp://proxy' }],
    ['GRIST_HTTPS_PROXY', { PROXY_FOR_UNTRUSTED_URLS: '', GRIST_HTTPS_PROXY: 'not a url' }],
  ])('names %s, the proxy variable actually read, when it is bad', (name, env) => {
    expect(() => loadConfig('dispatcher', env)).toThrow(`${name} must be a http: or https: URL`);
  });
});

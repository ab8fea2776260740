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
    ['KAFKA_BROKERS', 'nohost', 'KAFKA_BROKERS entries must be host:port'],
    ['DATABASE_URL', 'mysql://x', 'DATABASE_URL must be a postgres: or postgresql: URL'],
    ['PROXY_FOR_UNTRUSTED_URLS', 'not a url', 'PROXY_FOR_UNTRUSTED_URLS must be a http: or https: URL'],
    ['ACTIONS_TOPIC', 'bad topic', 'ACTIONS_TOPIC must be a valid Kafka topic name'],
  ])('rejects a bad %s, naming it', (name, value, message) => {
    expect(() => loadConfig('matcher', { [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig('matcher', { [name]: value })).toThrow(message);
  });

  it('reports every bad variable at once and never echoes the database URL', () => {
    try {
      loadConfig('matcher', { PORT: '-1', WEBHOOK_TIMEOUT_MS: 'x', DATABASE_URL: 'secret-password' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as ConfigError).problems).toHaveLength(3);
      expect((err as Error).message).not.toContain('secret-password');
    }
  });

  it('takes the Grist aliases of the proxy variable', () => {
    expect(loadConfig('dispatcher', { GRIST_HTTPS_PROXY: 'http://proxy:3128' }).proxyForUntrustedUrls).toBe('http://proxy:3128');
    expect(loadConfig('dispatcher', { GRIST_PROXY_FOR_UNTRUSTED_URLS: 'http://p:1' }).proxyForUntrustedUrls).toBe('http://p:1');
  });
});

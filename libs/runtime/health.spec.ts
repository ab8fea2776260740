import { HttpException } from '@nestjs/common';
import { MetricsRegistry } from '../observability';
import { HEALTH_CHECK_TIMEOUT_MS, HealthCheck, HealthController } from './health';

const never = (): Promise<boolean> => new Promise<boolean>(() => undefined);

describe('GET /health', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const answer = async (checks: HealthCheck[]): Promise<{ status: number; body: unknown }> => {
    const pending = new HealthController(checks, new MetricsRegistry()).health().then(
      (body) => ({ status: 200, body }),
      (err: HttpException) => ({ status: err.getStatus(), body: err.getResponse() }),
    );
    await jest.advanceTimersByTimeAsync(HEALTH_CHECK_TIMEOUT_MS);
    return pending;
  };

  it.each<[string, HealthCheck[], number, Record<string, boolean>]>([
    ['every dependency answers', [{ name: 'postgres', check: async () => true }, { name: 'kafka', check: async () => true }], 200, { postgres: true, kafka: true }],
    ['one check fails', [{ name: 'postgres', check: async () => Promise.reject(new Error('down')) }, { name: 'kafka', check: async () => true }], 503, { postgres: false, kafka: true }],
    ['one check never answers', [{ name: 'postgres', check: never }, { name: 'kafka', check: async () => true }], 503, { postgres: false, kafka: true }],
  ])('%s', async (_name, checks, status, results) => {
    expect(await answer(checks)).toEqual({ status, body: { status: status === 200 ? 'ok' : 'unavailable', checks: results } });
  });
});

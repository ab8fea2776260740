import { Controller, Get, Header, HttpException, Inject } from '@nestjs/common';
import { MetricsRegistry } from '../observability';

export const HEALTH_CHECKS = Symbol('HEALTH_CHECKS');
/** A named dependency check: resolves true when the dependency answers. */
export interface HealthCheck {
  name: string;
  check(): Promise<boolean>;
}

@Controller()
export class HealthController {
  constructor(
    @Inject(HEALTH_CHECKS) private readonly checks: HealthCheck[],
    private readonly metrics: MetricsRegistry,
  ) {}

  @Get('health')
  async health(): Promise<Record<string, unknown>> {
    const results = await Promise.all(
      this.checks.map(async (c) => [c.name, await c.check().catch(() => false)] as const),
    );
    const body = { status: results.every(([, ok]) => ok) ? 'ok' : 'unavailable', checks: Object.fromEntries(results) };
    if (body.status !== 'ok') throw new HttpException(body, 503);
    return body;
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4')
  metricsText(): string {
    return this.metrics.render();
  }
}

import { Controller, Get, Header, HttpException, Inject } from '@nestjs/common';
import { MetricsRegistry } from '../observability';

export const HEALTH_CHECKS = Symbol('HEALTH_CHECKS');
/** A dependency that does not answer within this is down: a probe must get an answer, not hang with it. */
export const HEALTH_CHECK_TIMEOUT_MS = 2_000;
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
    const results = await Promise.all(this.checks.map(async (c) => [c.name, await withinTimeout(c.check())] as const));
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

/** The check's answer, or false when it fails or takes longer than HEALTH_CHECK_TIMEOUT_MS. */
async function withinTimeout(check: Promise<boolean>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), HEALTH_CHECK_TIMEOUT_MS)));
  try {
    return await Promise.race([check.catch(() => false), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

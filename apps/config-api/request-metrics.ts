import { NextFunction, Request, Response } from 'express';
import { MetricsRegistry } from '../../libs/observability';

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Express middleware counting every answered request by method and status code, and timing it, so an operator can
 * see the API's traffic, its errors (5xx) and its latency. Labels stay few: methods and codes are bounded sets.
 */
export function requestMetrics(registry: MetricsRegistry): (req: Request, res: Response, next: NextFunction) => void {
  const requests = registry.counter('config_api_requests_total', 'Requests answered, by method and status code.', []);
  const duration = registry.histogram('config_api_request_duration_seconds', 'From a request received to its answer sent.', DURATION_BUCKETS);
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      requests.inc({ method: req.method, code: String(res.statusCode) });
      duration.observe(Number(process.hrtime.bigint() - start) / 1e9);
    });
    next();
  };
}

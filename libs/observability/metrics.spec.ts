import { MetricsRegistry } from './metrics';

describe('MetricsRegistry', () => {
  it('renders counters, gauges and histograms in the Prometheus text format', () => {
    const registry = new MetricsRegistry();
    const dlq = registry.counter('bundles_dead_lettered_total', 'Bundles sent to the DLQ.');
    dlq.inc({ reason: 'invalid "json"' });
    dlq.inc({ reason: 'invalid "json"' }, 2);
    registry.gauge('queue_depth', 'Rows waiting.', (g) => g.set(7, { webhookId: 'w1' }));
    const lag = registry.histogram('lag_seconds', 'Lag.', [0.1, 1]);
    lag.observe(0.5);
    const text = registry.render();
    expect(text).toContain('# TYPE bundles_dead_lettered_total counter');
    expect(text).toContain('bundles_dead_lettered_total{reason="invalid \\"json\\""} 3');
    expect(text).toContain('queue_depth{webhookId="w1"} 7');
    expect(text).toContain('lag_seconds_bucket{le="0.1"} 0');
    expect(text).toContain('lag_seconds_bucket{le="1"} 1');
    expect(text).toContain('lag_seconds_bucket{le="+Inf"} 1');
    expect(text).toContain('lag_seconds_count 1');
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
  });

  it('renders counters and histograms at 0 before their first sample, so rate() and increase() count it', () => {
    const registry = new MetricsRegistry();
    registry.counter('gaps_total', 'Gaps.');
    registry.counter('attempts_total', 'Attempts.', [{ outcome: 'success' }, { outcome: 'failure' }]);
    registry.histogram('lag_seconds', 'Lag.', [1]);
    const text = registry.render();
    expect(text).toContain('\ngaps_total 0\n');
    expect(text).toContain('\nattempts_total{outcome="success"} 0\nattempts_total{outcome="failure"} 0\n');
    expect(text).not.toContain('\nattempts_total 0');
    expect(text).toContain('\nlag_seconds_bucket{le="1"} 0\nlag_seconds_bucket{le="+Inf"} 0\nlag_seconds_sum 0\nlag_seconds_count 0\n');
  });
});

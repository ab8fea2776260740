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
});

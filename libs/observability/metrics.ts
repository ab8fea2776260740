/**
 * A small Prometheus registry (text exposition format 0.0.4): counters, gauges and histograms with labels.
 * Domain code increments these; only the /metrics endpoint renders them.
 */
type Labels = Record<string, string>;

const labelKey = (labels: Labels): string =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
const series = (name: string, key: string): string => (key ? `${name}{${key}}` : name);

abstract class Metric {
  constructor(readonly name: string, readonly help: string, readonly type: string) {}
  abstract lines(): string[];
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.lines()].join('\n');
  }
}

/**
 * Counters and histograms show their `initial` series (by default the unlabelled one) at 0 before the first sample:
 * a series that appears at N hides those N from rate() and increase().
 */
export class Counter extends Metric {
  private readonly values = new Map<string, number>();
  constructor(name: string, help: string, initial: Labels[]) {
    super(name, help, 'counter');
    for (const labels of initial) this.values.set(labelKey(labels), 0);
  }
  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  lines(): string[] {
    return [...this.values].map(([key, value]) => `${series(this.name, key)} ${value}`);
  }
}

export class Gauge extends Metric {
  private readonly values = new Map<string, number>();
  constructor(name: string, help: string, private readonly collect?: (gauge: Gauge) => void) {
    super(name, help, 'gauge');
  }
  set(value: number, labels: Labels = {}): void {
    this.values.set(labelKey(labels), value);
  }
  reset(): void {
    this.values.clear();
  }
  lines(): string[] {
    this.collect?.(this);
    return [...this.values].map(([key, value]) => `${series(this.name, key)} ${value}`);
  }
}

export class Histogram extends Metric {
  private readonly data = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, private readonly buckets: number[], initial: Labels[]) {
    super(name, help, 'histogram');
    for (const labels of initial) this.entry(labelKey(labels));
  }
  private entry(key: string): { counts: number[]; sum: number; count: number } {
    let entry = this.data.get(key);
    if (!entry) this.data.set(key, (entry = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    return entry;
  }
  observe(value: number, labels: Labels = {}): void {
    const entry = this.entry(labelKey(labels));
    this.buckets.forEach((le, i) => {
      if (value <= le) entry.counts[i] += 1;
    });
    entry.sum += value;
    entry.count += 1;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const [key, entry] of this.data) {
      const sep = key ? `${key},` : '';
      this.buckets.forEach((le, i) => out.push(`${this.name}_bucket{${sep}le="${le}"} ${entry.counts[i]}`));
      out.push(`${this.name}_bucket{${sep}le="+Inf"} ${entry.count}`);
      out.push(`${series(`${this.name}_sum`, key)} ${entry.sum}`);
      out.push(`${series(`${this.name}_count`, key)} ${entry.count}`);
    }
    return out;
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];
  private add<M extends Metric>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }
  counter(name: string, help: string, initial: Labels[] = [{}]): Counter {
    return this.add(new Counter(name, help, initial));
  }
  gauge(name: string, help: string, collect?: (gauge: Gauge) => void): Gauge {
    return this.add(new Gauge(name, help, collect));
  }
  histogram(name: string, help: string, buckets: number[], initial: Labels[] = [{}]): Histogram {
    return this.add(new Histogram(name, help, buckets, initial));
  }
  render(): string {
    const mem = process.memoryUsage();
    const gauge = (name: string, help: string, value: number): string => `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name} ${value}`;
    const process_ = [
      gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', mem.rss),
      gauge('nodejs_heap_used_bytes', 'V8 heap used in bytes.', mem.heapUsed),
      gauge('nodejs_heap_total_bytes', 'V8 heap reserved in bytes.', mem.heapTotal),
      gauge('nodejs_external_memory_bytes', 'Memory of C++ objects bound to JavaScript objects (Buffers included), in bytes.', mem.external),
    ];
    return [...this.metrics.map((m) => m.render()), ...process_].join('\n') + '\n';
  }
}

/**
 * A small in-memory metrics registry rendered in the Prometheus text exposition format 0.0.4:
 * counters, gauges and histograms with fixed buckets, with labels. Cheap on the hot path: a
 * labelled metric's child (one combination of label values) is resolved once, by `labels(...)`,
 * and kept by the caller; `inc`/`observe` on it then only add numbers (no allocation, no lookup).
 *
 * Adding a metric is one line at module scope (see docs/metrics.md):
 *   const queued = metrics.counter("fraiseql_observer_job_queued_total", "Jobs queued.", ["queue"]);
 *   queued.labels("builtin").inc();
 */
import { type MetricFamily, renderFamilies, type Sample } from "./exposition.ts";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Label values joined into one map key; a value cannot hold it unnoticed (see `keyOf`). */
const SEPARATOR = "\u0000";

/** FraiseQL's action-duration buckets, in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [0.001, 0.01, 0.1, 1, 5, 10, 30, 60];

/** One combination of a counter's label values. */
export interface CounterChild {
  /** Adds `n` (default 1); a negative or non-finite `n` is ignored (counters only go up). */
  inc(n?: number): void;
  readonly value: number;
}

/** One combination of a gauge's label values. */
export interface GaugeChild {
  set(value: number): void;
  inc(n?: number): void;
  dec(n?: number): void;
  readonly value: number;
}

/** One combination of a histogram's label values. */
export interface HistogramChild {
  /** Counts `value` in the first bucket whose upper bound is ≥ it, and in `_sum`/`_count`. */
  observe(value: number): void;
}

class CounterValue implements CounterChild {
  value = 0;
  inc(n = 1): void {
    if (n >= 0 && n !== Number.POSITIVE_INFINITY) this.value += n;
  }
}

class GaugeValue implements GaugeChild {
  value = 0;
  set(value: number): void {
    this.value = value;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

class HistogramValue implements HistogramChild {
  /** Per bucket, not cumulative (made cumulative when rendered); the last is +Inf. */
  readonly counts: Float64Array;
  readonly bounds: readonly number[];
  sum = 0;
  count = 0;
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(value: number): void {
    if (Number.isNaN(value)) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

/** What every metric kind shares: its name, help, label names and children by label values. */
abstract class Metric<Child, L extends string> {
  readonly #children = new Map<string, { values: readonly string[]; child: Child }>();
  #unlabelled: Child | null = null;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  constructor(name: string, help: string, labelNames: readonly L[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  /**
   * The child for these label values, in `labelNames` order: created at the first call, the same
   * object afterwards. Resolve it once (at module scope, or cached per value) and keep it.
   */
  labels(...values: string[]): Child {
    return this.resolve(values);
  }

  /** Forgets the child of these label values (its series leaves the exposition). */
  remove(...values: string[]): void {
    this.#children.delete(values.join(SEPARATOR));
  }

  protected resolve(values: readonly string[]): Child {
    if (values.length !== this.labelNames.length) {
      throw new Error(
        `${this.name}: expected ${this.labelNames.length} label value(s) (${this.labelNames.join(", ")}), got ${values.length}`,
      );
    }
    const key = values.join(SEPARATOR);
    let entry = this.#children.get(key);
    if (!entry) {
      entry = { values: [...values], child: this.create() };
      this.#children.set(key, entry);
    }
    return entry.child;
  }

  /** The child of a metric without labels. */
  protected get only(): Child {
    if (this.#unlabelled !== null) return this.#unlabelled;
    if (this.labelNames.length > 0) {
      throw new Error(`${this.name} has labels (${this.labelNames.join(", ")}): use labels(...)`);
    }
    this.#unlabelled = this.resolve([]);
    return this.#unlabelled;
  }

  protected abstract create(): Child;

  /** Every child; a metric without labels always has its one (0 until it moves). */
  protected entries(): Iterable<{ values: readonly string[]; child: Child }> {
    if (this.labelNames.length === 0) void this.only;
    return this.#children.values();
  }

  protected labelsOf(values: readonly string[]): Record<string, string> {
    const labels: Record<string, string> = {};
    this.labelNames.forEach((name, i) => {
      labels[name] = values[i] as string;
    });
    return labels;
  }

  abstract family(): MetricFamily;
}

/** A value that only goes up (resets when the process starts). Names end in `_total`. */
export class Counter<L extends string = never> extends Metric<CounterChild, L> {
  protected create(): CounterChild {
    return new CounterValue();
  }
  /** Adds `n` (default 1) to the metric without labels. */
  inc(n = 1): void {
    this.only.inc(n);
  }
  get value(): number {
    return this.only.value;
  }
  family(): MetricFamily {
    const samples: Sample[] = [];
    for (const { values, child } of this.entries()) {
      samples.push({ name: this.name, labels: this.labelsOf(values), value: child.value });
    }
    return { name: this.name, help: this.help, type: "counter", samples };
  }
}

/** A value set by the process (for a value read at scrape, see `Scrape` sources in scrape.ts). */
export class Gauge<L extends string = never> extends Metric<GaugeChild, L> {
  protected create(): GaugeChild {
    return new GaugeValue();
  }
  set(value: number): void {
    this.only.set(value);
  }
  inc(n = 1): void {
    this.only.inc(n);
  }
  dec(n = 1): void {
    this.only.dec(n);
  }
  get value(): number {
    return this.only.value;
  }
  family(): MetricFamily {
    const samples: Sample[] = [];
    for (const { values, child } of this.entries()) {
      samples.push({ name: this.name, labels: this.labelsOf(values), value: child.value });
    }
    return { name: this.name, help: this.help, type: "gauge", samples };
  }
}

/** Observations counted in fixed buckets, with their sum and count. Names end in a unit. */
export class Histogram<L extends string = never> extends Metric<HistogramChild, L> {
  readonly buckets: readonly number[];
  /** `buckets`: upper bounds, finite and strictly increasing (+Inf is always added). */
  constructor(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]) {
    super(name, help, labelNames);
    const bounds = buckets.filter((b) => b !== Number.POSITIVE_INFINITY);
    bounds.forEach((bound, i) => {
      if (!Number.isFinite(bound) || (i > 0 && bound <= (bounds[i - 1] as number))) {
        throw new Error(`${name}: buckets must be finite and strictly increasing`);
      }
    });
    if (labelNames.includes("le" as L)) throw new Error(`${name}: "le" is reserved for buckets`);
    this.buckets = bounds;
  }
  protected create(): HistogramChild {
    return new HistogramValue(this.buckets);
  }
  observe(value: number): void {
    this.only.observe(value);
  }
  family(): MetricFamily {
    const samples: Sample[] = [];
    for (const { values, child } of this.entries()) {
      const value = child as HistogramValue;
      const labels = this.labelsOf(values);
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += value.counts[i] as number;
        const le = i < this.buckets.length ? (this.buckets[i] as number) : Number.POSITIVE_INFINITY;
        samples.push({ name: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative });
      }
      samples.push({ name: `${this.name}_sum`, labels, value: value.sum });
      samples.push({ name: `${this.name}_count`, labels, value: value.count });
    }
    return { name: this.name, help: this.help, type: "histogram", samples };
  }
}

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

/** Metrics by name, rendered together. */
export class MetricsRegistry {
  readonly #metrics = new Map<string, AnyMetric>();

  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) {
    return this.#add(new Counter<L>(this.#check(name, labelNames), help, labelNames));
  }

  gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) {
    return this.#add(new Gauge<L>(this.#check(name, labelNames), help, labelNames));
  }

  histogram<L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    buckets: readonly number[] = DEFAULT_BUCKETS,
  ) {
    return this.#add(new Histogram<L>(this.#check(name, labelNames), help, labelNames, buckets));
  }

  /** Every metric's current values, in registration order. */
  families(): MetricFamily[] {
    return [...this.#metrics.values()].map((metric) => metric.family());
  }

  /** The registry alone in the exposition format (the API adds its scrape-time gauges). */
  render(): string {
    return renderFamilies(this.families());
  }

  #check(name: string, labelNames: readonly string[]): string {
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    if (this.#metrics.has(name)) throw new Error(`metric ${name} is already registered`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__")) {
        throw new Error(`${name}: invalid label name ${JSON.stringify(label)}`);
      }
    }
    if (new Set(labelNames).size !== labelNames.length) {
      throw new Error(`${name}: label names must be distinct`);
    }
    return name;
  }

  #add<M extends AnyMetric>(metric: M): M {
    this.#metrics.set(metric.name, metric);
    return metric;
  }
}

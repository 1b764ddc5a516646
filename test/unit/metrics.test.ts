/**
 * The metrics registry (src/metrics/registry.ts) and its exposition (exposition.ts), read back
 * by the strict parser the end-to-end scrape uses (test/support/prometheus.ts); the outcome
 * hook's counting (observers.ts); W3C trace ids and traceparents (trace.ts).
 */
import { describe, expect, it } from "vitest";
import type { ExecutionOutcome } from "../../src/executor/outcome.ts";
import { escapeLabelValue, formatValue, renderFamilies } from "../../src/metrics/exposition.ts";
import { errorTypeOf, metrics, recordAttempt } from "../../src/metrics/observers.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { gaugeSource, renderScrape } from "../../src/metrics/scrape.ts";
import { newSpanId, tracedFetch, traceparentFor, w3cTraceId } from "../../src/metrics/trace.ts";
import { parseExposition, sampleValue } from "../support/prometheus.ts";

describe("MetricsRegistry", () => {
  it("renders counters, gauges and histograms that the strict parser reads back", () => {
    const registry = new MetricsRegistry();
    const plain = registry.counter("t_plain_total", "A counter\\ with a\nline feed.");
    const labelled = registry.counter("t_requests_total", "Requests.", ["route", "code"]);
    const gauge = registry.gauge("t_level", "A level.");
    const histogram = registry.histogram("t_seconds", "Durations.", ["kind"], [0.1, 1, 5]);
    plain.inc();
    plain.inc(2);
    plain.inc(-5);
    const ok = labelled.labels('a "quoted"\\path\nx', "200");
    ok.inc();
    ok.inc();
    expect(labelled.labels('a "quoted"\\path\nx', "200")).toBe(ok);
    gauge.set(7);
    gauge.dec(2);
    const fast = histogram.labels("fast");
    for (const value of [0.05, 0.1, 0.5, 2, 100]) fast.observe(value);

    const text = registry.render();
    const parsed = parseExposition(text);
    expect(parsed.get("t_plain_total")).toMatchObject({
      type: "counter",
      help: "A counter\\ with a\nline feed.",
    });
    expect(text).toContain("# HELP t_plain_total A counter\\\\ with a\\nline feed.\n");
    expect(sampleValue(parsed, "t_plain_total")).toBe(3);
    expect(
      sampleValue(parsed, "t_requests_total", { route: 'a "quoted"\\path\nx', code: "200" }),
    ).toBe(2);
    expect(text).toContain('t_requests_total{route="a \\"quoted\\"\\\\path\\nx",code="200"} 2\n');
    expect(sampleValue(parsed, "t_level")).toBe(5);
    const buckets = ["0.1", "1", "5", "+Inf"].map((le) =>
      sampleValue(parsed, "t_seconds_bucket", { kind: "fast", le }),
    );
    expect(buckets).toEqual([2, 3, 4, 5]);
    expect(sampleValue(parsed, "t_seconds_count", { kind: "fast" })).toBe(5);
    expect(sampleValue(parsed, "t_seconds_sum", { kind: "fast" })).toBeCloseTo(102.65);
  });

  it("shows a metric without labels at 0 before it moves, and a labelled one with no series", () => {
    const registry = new MetricsRegistry();
    registry.counter("t_idle_total", "Idle.");
    registry.counter("t_by_kind_total", "By kind.", ["kind"]);
    expect(registry.render()).toBe(
      "# HELP t_idle_total Idle.\n# TYPE t_idle_total counter\nt_idle_total 0\n" +
        "# HELP t_by_kind_total By kind.\n# TYPE t_by_kind_total counter\n",
    );
  });

  it("refuses invalid or duplicate names, wrong label counts and bad buckets", () => {
    const registry = new MetricsRegistry();
    registry.counter("t_once_total", "Once.");
    expect(() => registry.counter("t_once_total", "Again.")).toThrow("already registered");
    expect(() => registry.counter("9bad", "Bad.")).toThrow("invalid metric name");
    expect(() => registry.gauge("t_g", "G.", ["__reserved"])).toThrow("invalid label name");
    expect(() => registry.gauge("t_g2", "G.", ["a", "a"])).toThrow("distinct");
    expect(() => registry.histogram("t_h", "H.", [], [1, 1])).toThrow("strictly increasing");
    expect(() => registry.histogram("t_h2", "H.", ["le"], [1])).toThrow("reserved");
    const labelled = registry.counter("t_l_total", "L.", ["a", "b"]);
    expect(() => labelled.labels("only-one")).toThrow("expected 2 label value(s)");
    expect(() => labelled.inc()).toThrow("has labels");
  });

  it("formats values and escapes label values as the format says", () => {
    expect(formatValue(Number.POSITIVE_INFINITY)).toBe("+Inf");
    expect(formatValue(Number.NEGATIVE_INFINITY)).toBe("-Inf");
    expect(formatValue(Number.NaN)).toBe("NaN");
    expect(formatValue(0.001)).toBe("0.001");
    expect(escapeLabelValue('\\"\n')).toBe('\\\\\\"\\n');
  });
});

describe("the strict parser", () => {
  const valid = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n";
  it("accepts what the registry writes and refuses what the format forbids", () => {
    expect(sampleValue(parseExposition(valid), "a_total")).toBe(1);
    const broken = [
      valid.slice(0, -1), // no final line feed
      valid.replace("# HELP a_total A.\n", ""), // TYPE without HELP
      `${valid}a_total 2\n`, // series twice
      `${valid}\n`, // blank line
      valid.replace("a_total 1", "a_total one"), // invalid value
      valid.replace("a_total 1", "b_total 1"), // outside its family
      valid.replace("a_total 1", 'a_total{x="\\q"} 1'), // bad escape
      valid.replace("a_total 1", "a_total -1"), // negative counter
      `${valid}# a comment\n`,
      "# HELP h A.\n# TYPE h histogram\n" +
        'h_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', // not cumulative
      "# HELP h A.\n# TYPE h histogram\n" +
        'h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n', // +Inf ≠ count
      '# HELP h A.\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', // no +Inf
    ];
    for (const text of broken) expect(() => parseExposition(text), text).toThrow();
  });
});

describe("the outcome hook", () => {
  const outcome = (fields: Partial<ExecutionOutcome>): ExecutionOutcome => ({
    deliveryId: "d",
    attempt: 1,
    maxAttempts: 3,
    status: "success",
    disposition: "done",
    nextAttempt: null,
    nextAttemptAt: null,
    startedAt: 0,
    durationMs: 250,
    httpStatus: 204,
    errorCode: null,
    errorMessage: null,
    message: null,
    responseExcerpt: null,
    ...fields,
  });
  const read = (name: string, labels: Record<string, string> = {}) =>
    sampleValue(parseExposition(metrics.render()), name, labels) ?? 0;

  it("counts successes with their duration, retries, and final failures by FraiseQL's type", () => {
    const type = { action_type: "t_unit_action" };
    recordAttempt("t_unit_action", outcome({}), null);
    recordAttempt(
      "t_unit_action",
      outcome({ status: "failed", disposition: "retry", errorCode: "HTTP_ERROR" }),
      "transient",
    );
    recordAttempt(
      "t_unit_action",
      outcome({ status: "timeout", disposition: "dead_letter", errorCode: "TIMEOUT" }),
      "transient",
    );
    recordAttempt(
      "t_unit_action",
      outcome({ status: "failed", disposition: "dead_letter", errorCode: "HTTP_ERROR" }),
      "permanent",
    );
    recordAttempt(
      "t_unit_action",
      outcome({ status: "cancelled", disposition: "retry", errorCode: "CANCELLED" }),
      "cancelled",
    );
    expect(read("fraiseql_observer_action_executed_total", type)).toBe(1);
    expect(read("fraiseql_observer_action_duration_seconds_count", type)).toBe(1);
    expect(read("fraiseql_observer_action_duration_seconds_sum", type)).toBe(0.25);
    expect(read("fraiseql_observer_action_duration_seconds_bucket", { ...type, le: "0.1" })).toBe(
      0,
    );
    expect(read("fraiseql_observer_action_duration_seconds_bucket", { ...type, le: "1" })).toBe(1);
    expect(read("fraiseql_observer_action_retries_scheduled_total", type)).toBe(1);
    expect(
      read("fraiseql_observer_action_errors_total", { ...type, error_type: "execution_failed" }),
    ).toBe(1);
    expect(
      read("fraiseql_observer_action_errors_total", { ...type, error_type: "permanently_failed" }),
    ).toBe(1);
    for (const [status, count] of [
      ["success", 1],
      ["failed", 2],
      ["timeout", 1],
      ["cancelled", 1],
    ] as const) {
      expect(read("fraiseql_observer_action_attempts_total", { ...type, status })).toBe(count);
    }
  });

  it("maps error codes to FraiseQL's error types", () => {
    expect(errorTypeOf("INVALID_ACTION_CONFIG", "permanent")).toBe("invalid_config");
    expect(errorTypeOf("SECRET_NOT_ALLOWED", "permanent")).toBe("invalid_config");
    expect(errorTypeOf("HTTP_ERROR", "permanent")).toBe("permanently_failed");
    expect(errorTypeOf("NETWORK_ERROR", "transient")).toBe("execution_failed");
    expect(errorTypeOf(null, "cancelled")).toBe("other_error");
  });

  it("adds the host's scrape-time gauges after the registry", async () => {
    let subscribers: number | null = 3;
    const source = gaugeSource("t_subscribers", "Open sockets.", () => subscribers);
    const registry = new MetricsRegistry();
    registry.counter("t_first_total", "First.");
    const text = await renderScrape([source], registry);
    expect(sampleValue(parseExposition(text), "t_subscribers")).toBe(3);
    expect(text.indexOf("t_first_total")).toBeLessThan(text.indexOf("t_subscribers"));
    subscribers = null;
    const without = parseExposition(await renderScrape([source], registry));
    expect(without.get("t_subscribers")?.samples).toEqual([]);
  });

  it("renders families without samples with their HELP and TYPE", () => {
    expect(renderFamilies([{ name: "x", help: "X.", type: "gauge", samples: [] }])).toBe(
      "# HELP x X.\n# TYPE x gauge\n",
    );
  });
});

describe("traces", () => {
  const id = "4bf92f3577b34da6a3ce929d0e0e4736";
  it("uses 32-hex ids, UUIDs and traceparents, and nothing else", () => {
    expect(w3cTraceId(id)).toBe(id);
    expect(w3cTraceId(id.toUpperCase())).toBe(id);
    expect(w3cTraceId("4bf92f35-77b3-4da6-a3ce-929d0e0e4736")).toBe(id);
    expect(w3cTraceId(`00-${id}-00f067aa0ba902b7-01`)).toBe(id);
    // A later version is read by its first four fields (W3C: "higher version" parsing).
    expect(w3cTraceId(`01-${id}-00f067aa0ba902b7-01-more`)).toBe(id);
    for (const unusable of [
      null,
      undefined,
      "",
      "0".repeat(32),
      "req-42",
      `${id}0`,
      "x".repeat(32),
      // Traceparents W3C says to ignore: version ff, an all-zero parent id, version 00 with more.
      `ff-${id}-00f067aa0ba902b7-01`,
      `00-${id}-${"0".repeat(16)}-01`,
      `00-${id}-00f067aa0ba902b7-01-extra`,
    ]) {
      expect(w3cTraceId(unusable)).toBeNull();
      expect(traceparentFor(unusable)).toBeNull();
    }
  });

  it("makes a new sampled span per attempt", () => {
    const first = traceparentFor(id);
    const second = traceparentFor(id);
    expect(first).toMatch(new RegExp(`^00-${id}-[0-9a-f]{16}-01$`));
    expect(second).not.toBe(first);
    expect(newSpanId()).not.toBe("0".repeat(16));
  });

  it("adds traceparent to every request that sets none, keeping the others' headers", async () => {
    const seen: Headers[] = [];
    const base = (async (_input: RequestInfo | URL, init?: RequestInit) => {
      seen.push(new Headers(init?.headers));
      return new Response(null, { status: 204 });
    }) as typeof fetch;
    const traced = tracedFetch(base, `00-${id}-00f067aa0ba902b7-01`);
    await traced("http://example.test/", { headers: { "x-one": "1" } });
    await traced("http://example.test/", { headers: { traceparent: "mine" } });
    await traced(new Request("http://example.test/", { headers: { "x-two": "2" } }));
    expect(seen[0]?.get("traceparent")).toBe(`00-${id}-00f067aa0ba902b7-01`);
    expect(seen[0]?.get("x-one")).toBe("1");
    expect(seen[1]?.get("traceparent")).toBe("mine");
    expect(seen[2]?.get("x-two")).toBe("2");
    expect(seen[2]?.get("traceparent")).toBe(`00-${id}-00f067aa0ba902b7-01`);
  });
});

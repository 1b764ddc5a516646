/**
 * Sources' gauges, read at scrape from this process's supervisor (docs/metrics.md): whether each
 * source it reads is connected, and how far behind it is. Changes written and errors are counters
 * of the supervisor's (src/sources/supervisor.ts).
 */
import type { LocalSourceStatus } from "../sources/supervisor.ts";
import type { MetricFamily } from "./exposition.ts";
import type { ScrapeSource } from "./scrape.ts";

/** The gauges of the sources `status()` lists. */
export function sourcesSource(status: () => readonly LocalSourceStatus[]): ScrapeSource {
  return {
    families(): MetricFamily[] {
      const sources = status();
      const connected = "fraiseql_observer_source_connected";
      const lag = "fraiseql_observer_source_lag_seconds";
      return [
        {
          name: connected,
          help: "1 when this process's reader of the source is connected to it, else 0.",
          type: "gauge",
          samples: sources.map((s) => ({
            name: connected,
            labels: { source: s.name },
            value: s.connected ? 1 : 0,
          })),
        },
        {
          name: lag,
          help: "How long before it was written to the change log the source committed its last transaction read (seconds).",
          type: "gauge",
          samples: sources
            .filter((s) => s.lag_ms !== null)
            .map((s) => ({ name: lag, labels: { source: s.name }, value: (s.lag_ms ?? 0) / 1000 })),
        },
      ];
    },
  };
}

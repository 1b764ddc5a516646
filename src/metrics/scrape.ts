/**
 * What one scrape answers: the process's registry (counters, histograms), plus gauges read at
 * scrape time from the database (exact, whichever process or isolate answers) and from the host
 * (its live subscribers).
 */
import type { SqlClient } from "../ports/sql.ts";
import { DATABASE_GAUGES, readDatabaseGauges } from "../store/metrics-gauges.ts";
import { type MetricFamily, renderFamilies } from "./exposition.ts";
import { metrics, startedAt } from "./observers.ts";
import type { MetricsRegistry } from "./registry.ts";

/** Metric families computed when scraped (a host's gauges, the database's). */
export interface ScrapeSource {
  families(): MetricFamily[] | Promise<MetricFamily[]>;
}

/** A gauge without labels whose value is read at every scrape; null: no sample this time. */
export function gaugeSource(name: string, help: string, read: () => number | null): ScrapeSource {
  return {
    families() {
      const value = read();
      return [
        {
          name,
          help,
          type: "gauge",
          samples: value === null ? [] : [{ name, labels: {}, value }],
        },
      ];
    },
  };
}

/** The process's start: no sample until a runtime started here (on Workers: in this isolate). */
export const processSource: ScrapeSource = gaugeSource(
  "fraiseql_observer_start_time_seconds",
  "When the first runtime of this process (on Workers: this isolate) started, in seconds since the epoch.",
  startedAt,
);

export const scrapeErrors = metrics.counter(
  "fraiseql_observer_scrape_errors_total",
  "Scrapes whose gauges could not be read from this source (database, nats: failed or timed out); those gauges were left out.",
  ["source"],
);
const databaseScrapeErrors = scrapeErrors.labels("database");

/** Default bound of the database gauges' statement. */
export const DEFAULT_GAUGE_TIMEOUT_MS = 2_000;

/**
 * The database gauges of `listenerId` (backlog, lag, due deliveries, dead letters), read in one
 * statement bounded by `timeoutMs` (the server's statement timeout, and here, for a pool that
 * has no connection free). On failure they are left out of the scrape, and the failure counted.
 */
export function databaseSource(
  sql: SqlClient,
  listenerId: string,
  timeoutMs = DEFAULT_GAUGE_TIMEOUT_MS,
  onError?: (error: unknown) => void,
): ScrapeSource {
  return {
    async families() {
      let values: Map<string, number>;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        values = await Promise.race([
          readDatabaseGauges(sql, listenerId, timeoutMs),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`database gauges not read within ${timeoutMs} ms`)),
              timeoutMs + 500,
            );
          }),
        ]);
      } catch (error) {
        databaseScrapeErrors.inc();
        onError?.(error);
        values = new Map();
      } finally {
        clearTimeout(timer);
      }
      return DATABASE_GAUGES.map((gauge) => {
        const value = values.get(gauge.name);
        return {
          name: gauge.name,
          help: gauge.help,
          type: "gauge",
          samples: value === undefined ? [] : [{ name: gauge.name, labels: {}, value }],
        };
      });
    },
  };
}

/** The scrape's text: `registry` (default the process's) then every source, in order. */
export async function renderScrape(
  sources: readonly ScrapeSource[],
  registry: MetricsRegistry = metrics,
): Promise<string> {
  const extra = await Promise.all(sources.map((source) => source.families()));
  return renderFamilies([...registry.families(), ...extra.flat()]);
}

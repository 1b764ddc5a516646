/**
 * Endpoint health in the metrics (docs/metrics.md): each failing destination's circuit, read from
 * the database at scrape (shared by every server, so any one answers the same), and this process's
 * deliveries kept back by a circuit or a rate limit. The `destination` label is `<type>:<origin>`:
 * never a path, a query or credentials.
 */
import type { SqlExecutor } from "../ports/sql.ts";
import { listDestinations } from "../store/destination-views.ts";
import type { MetricFamily } from "./exposition.ts";
import { metrics } from "./observers.ts";
import { type ScrapeSource, scrapeErrors } from "./scrape.ts";

/** Destinations a scrape reports at most (open and disabled ones first). */
const MAX_DESTINATIONS = 1_000;

export const deliveriesDeferred = metrics.counter(
  "fraiseql_observer_deliveries_deferred_total",
  "Deliveries put back without an attempt: their destination's circuit was open or disabled (circuit), or their action's rate limit had no token (rate_limit).",
  ["reason"],
);

const STATE = "fraiseql_observer_circuit_state";
const FAILURES = "fraiseql_observer_destination_consecutive_failures";

/** The circuits of the destinations that have failed, as gauges read at scrape. */
export function destinationSource(sql: SqlExecutor): ScrapeSource {
  const errors = scrapeErrors.labels("destinations");
  return {
    async families(): Promise<MetricFamily[]> {
      let rows: Awaited<ReturnType<typeof listDestinations>>["rows"] = [];
      try {
        rows = (await listDestinations(sql, MAX_DESTINATIONS, 0)).rows;
      } catch {
        errors.inc();
      }
      return [
        {
          name: STATE,
          help: "A destination's circuit, shared by every server: 0 closed, 1 open (deliveries wait, one probe at a time), 2 disabled (held until reset). Destinations that never failed are absent (closed).",
          type: "gauge",
          samples: rows.map((row) => ({
            name: STATE,
            labels: { destination: row.destination },
            value: row.disabled_at !== null ? 2 : row.state === "open" ? 1 : 0,
          })),
        },
        {
          name: FAILURES,
          help: "Transient failures in a row of a destination (reset by any success).",
          type: "gauge",
          samples: rows.map((row) => ({
            name: FAILURES,
            labels: { destination: row.destination },
            value: row.consecutive_failures,
          })),
        },
      ];
    },
  };
}

/**
 * NATS mode's gauges, read at scrape from the runtime's transport (docs/metrics.md): the
 * connection, the stream, the durable consumer's lag (what JetStream reports for it, shared by
 * every worker) and whether this process's bridge holds the publishing lease. Published changes
 * are a counter of the bridge's (src/transport/bridge.ts); undecodable messages a database gauge
 * (src/store/metrics-gauges.ts).
 */
import type { TransportHealth } from "../ports/transport.ts";
import type { RuntimeTransportOptions } from "../runtime/types.ts";
import type { MetricFamily } from "./exposition.ts";
import { type ScrapeSource, scrapeErrors } from "./scrape.ts";

/** Bound of one scrape's JetStream questions. */
const NATS_SCRAPE_TIMEOUT_MS = 2_000;

const natsScrapeErrors = scrapeErrors.labels("nats");

function gauge(name: string, help: string, value: number | undefined): MetricFamily {
  return {
    name,
    help,
    type: "gauge",
    samples: value === undefined ? [] : [{ name, labels: {}, value }],
  };
}

/** The gauges of `transport` (a NATS-mode runtime's options); see the file comment. */
export function natsSource(transport: RuntimeTransportOptions): ScrapeSource {
  return {
    async families() {
      let health: Omit<TransportHealth, "role" | "transport" | "bridge"> | null = null;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        health = await Promise.race([
          transport.health(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error("NATS did not answer")),
              NATS_SCRAPE_TIMEOUT_MS,
            );
          }),
        ]);
      } catch {
        health = null;
      } finally {
        clearTimeout(timer);
      }
      // NATS unreachable, JetStream not answering, or not within the bound: the figures cannot
      // be read, which is what an operator alerting on scrape errors wants counted.
      if (health === null || !health.healthy) natsScrapeErrors.inc();
      const bridge = transport.bridge?.status();
      return [
        gauge(
          "fraiseql_observer_nats_connected",
          "1 when this process is connected to NATS and JetStream answers, else 0.",
          health === null ? 0 : health.healthy ? 1 : 0,
        ),
        gauge(
          "fraiseql_observer_nats_stream_messages",
          "Messages in the stream (OBSERVERS_NATS_STREAM), as JetStream reports it.",
          health?.stream?.messages,
        ),
        gauge(
          "fraiseql_observer_nats_consumer_pending",
          "Messages of the stream the durable consumer has not delivered yet (num_pending): the workers' backlog.",
          health?.consumer?.num_pending,
        ),
        gauge(
          "fraiseql_observer_nats_consumer_ack_pending",
          "Messages delivered to workers and not acknowledged yet (num_ack_pending).",
          health?.consumer?.num_ack_pending,
        ),
        gauge(
          "fraiseql_observer_nats_consumer_redelivered",
          "Messages delivered more than once and not acknowledged yet (num_redelivered).",
          health?.consumer?.num_redelivered,
        ),
        gauge(
          "fraiseql_observer_nats_bridge_leader",
          "1 when this process's bridge holds the publishing lease (publishes), 0 when it waits; no sample without a bridge.",
          bridge === undefined ? undefined : bridge.leader ? 1 : 0,
        ),
      ];
    },
  };
}

/**
 * `status`: the runtime's health and lag, unhealthy destinations, the sources this server reads,
 * how many observers and dead letters.
 */

import { displayUrl } from "./client.ts";
import type { Command } from "./command.ts";
import { EXIT } from "./exit-codes.ts";
import { colour, json, line } from "./output.ts";

interface Health {
  running: boolean;
  observer_count: number;
  last_checkpoint: number | null;
  events_processed: number;
  errors: number;
  lag: { pending_changes: number; due_deliveries: number; oldest_pending_ms: number };
  destinations?: { open: number; disabled: number };
  sources?: {
    name: string;
    kind: string;
    connected: boolean;
    lag_ms: number | null;
    last_error_code: string | null;
    changes: number;
  }[];
}

/** One source as a line: its state, and what to read when it is failing. */
function sourceLine(source: NonNullable<Health["sources"]>[number]): string {
  const lag = source.lag_ms === null ? "" : `, lag ${source.lag_ms} ms`;
  const state = source.last_error_code
    ? colour.red(`failing: ${source.last_error_code}`)
    : source.connected
      ? colour.green("connected")
      : colour.yellow("connecting");
  return `${source.name} (${source.kind}) ${state}, ${source.changes} changes${lag}`;
}

interface Page {
  total_count: number;
}

export const status: Command = {
  name: "status",
  summary: "the runtime's health, lag, destinations, sources, observers and dead letters",
  help: "status",
  async run(context) {
    const client = context.client();
    const health = await client.raw("GET", "/api/observers/runtime/health");
    if (health.status !== 200 && health.status !== 503) {
      throw client.failure("GET", "/api/observers/runtime/health", health);
    }
    const body = health.body as Health | { code?: string; detail?: string };
    const runtime = "running" in body ? body : undefined;
    const observers = await client.call<Page>("GET", "/api/observers", { query: { page_size: 1 } });
    const dlq = await client.call<{ total_items: number; pending: number; retrying: number }>(
      "GET",
      "/api/observers/dlq/stats",
    );
    const report = {
      server: displayUrl(client.base),
      healthy: health.status === 200,
      runtime: runtime ?? null,
      destinations: runtime?.destinations ?? null,
      sources: runtime?.sources ?? null,
      observers: { total: observers.total_count, enabled_loaded: runtime?.observer_count ?? null },
      dead_letters: { total: dlq.total_items, pending: dlq.pending, retrying: dlq.retrying },
    };
    if (context.format === "json") json(report);
    else {
      line(`server:        ${report.server}`);
      line(
        `runtime:       ${report.healthy ? colour.green("running") : colour.red(`not running${runtime ? "" : ` (${(body as { detail?: string }).detail ?? "no health"})`}`)}`,
      );
      if (runtime) {
        line(`checkpoint:    ${runtime.last_checkpoint ?? "none yet"}`);
        line(`processed:     ${runtime.events_processed} changes, ${runtime.errors} errors`);
        line(
          `lag:           ${runtime.lag.pending_changes} pending changes, ${runtime.lag.due_deliveries} due deliveries, oldest ${runtime.lag.oldest_pending_ms} ms`,
        );
        const unhealthy = runtime.destinations;
        if (unhealthy) {
          const held = unhealthy.open + unhealthy.disabled > 0;
          const counts = `${unhealthy.open} open, ${unhealthy.disabled} disabled`;
          line(
            `destinations:  ${held ? colour.yellow(counts) : counts}${held ? " (their deliveries wait: GET /api/observers/destinations names them)" : ""}`,
          );
        }
        for (const [index, source] of (runtime.sources ?? []).entries()) {
          line(`${index === 0 ? "sources:       " : "               "}${sourceLine(source)}`);
        }
      }
      line(
        // The key's observers; the runtime's count is of every tenant's (a tenant key's 1 beside
        // the runtime's 7 read as "7 of 1" otherwise).
        `observers:     ${observers.total_count} (the runtime has ${runtime?.observer_count ?? "?"} enabled and loaded, of every tenant)`,
      );
      line(`dead letters:  ${dlq.total_items} (${dlq.pending} pending, ${dlq.retrying} retrying)`);
    }
    return report.healthy ? EXIT.ok : EXIT.failed;
  },
};

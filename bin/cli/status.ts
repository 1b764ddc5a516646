/** `status`: the runtime's health and lag, how many observers and dead letters. */

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
}

interface Page {
  total_count: number;
}

export const status: Command = {
  name: "status",
  summary: "the runtime's health, lag, observers and dead letters",
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
      }
      line(
        `observers:     ${observers.total_count} (${runtime?.observer_count ?? "?"} enabled and loaded)`,
      );
      line(`dead letters:  ${dlq.total_items} (${dlq.pending} pending, ${dlq.retrying} retrying)`);
    }
    return report.healthy ? EXIT.ok : EXIT.failed;
  },
};

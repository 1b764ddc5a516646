/**
 * `debug-event <event_id>`: why each observer did or did not fire for a change, and its
 * deliveries; for a scheduled event (a tick or a one-off event), the observer it belongs to.
 */
import type { ExplainStep } from "../../src/index.ts";
import { type Command, type CommandContext, stringOption, UsageError } from "./command.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { printStep } from "./offline.ts";
import { colour, json, line } from "./output.ts";

interface Outcome {
  action_index: number | null;
  action_type: string | null;
  status: string;
  attempt_number: number;
  error_code: string | null;
  error_message: string | null;
  /** Absent from servers before batching. */
  batch_id?: string | null;
  /** Absent from servers before it was reported. */
  on_dead_letter?: boolean;
  created_at: string;
}

interface Explanation {
  event: {
    event_id: string;
    entity_type: string;
    entity_id: string | null;
    event_type: string;
    fk_customer_org: string | number | null;
    created_at: string;
  };
  observers: {
    observer_id: string;
    name: string;
    enabled: boolean;
    fired: boolean;
    reason: string;
    detail: string;
    condition?:
      | { success: true; result: boolean | null; root: ExplainStep }
      | { success: false; issues: unknown[] };
    outcomes: Outcome[];
  }[];
}

/** The newest captured change's event id, of one entity type if given (`GET /api/observers/changes`). */
async function latestEventId(context: CommandContext): Promise<string> {
  if (context.args.length > 0)
    throw new UsageError("debug-event takes an event id or --latest, not both");
  const query = new URLSearchParams({ limit: "1" });
  const entityType = stringOption(context.values, "entity-type");
  if (entityType !== undefined) query.set("entity_type", entityType);
  const page = await context
    .client()
    .call<{ data: { event_id: string }[] }>("GET", `/api/observers/changes?${query}`);
  const latest = page.data[0];
  if (latest === undefined)
    throw new CliError(
      EXIT.failed,
      entityType !== undefined
        ? `no captured change of entity type ${entityType} (is its table tracked?)`
        : "no captured change yet (is a table tracked?)",
    );
  return latest.event_id;
}

export const debugEvent: Command = {
  name: "debug-event",
  summary: "why each observer did or did not fire for a change, with its deliveries",
  help: `debug-event <event_id> [--verbose]
debug-event --latest [--entity-type <name>] [--verbose]
  --latest: the most recent captured change (of that entity type)
  --verbose: every step of each condition`,
  options: {
    verbose: { type: "boolean" },
    latest: { type: "boolean" },
    "entity-type": { type: "string" },
  },
  async run(context) {
    const id = context.values.latest ? await latestEventId(context) : context.args[0];
    if (id === undefined)
      throw new UsageError(
        "debug-event needs an event id (tail shows them, webhooks carry them as event_id) or --latest",
      );
    const explanation = await context
      .client()
      .call<Explanation>("GET", `/api/observers/events/${encodeURIComponent(id)}/explain`);
    if (context.format === "json") {
      json(explanation);
      return EXIT.ok;
    }
    const { event } = explanation;
    const tenant = event.fk_customer_org === null ? "" : ` (tenant ${event.fk_customer_org})`;
    const kind = explanation.observers[0]?.reason;
    if (kind === "scheduled" || kind === "one_off") {
      // A scheduled event has no change: it is its observer's own, due at `created_at`.
      line(
        `${colour.bold(`${kind === "scheduled" ? "scheduled tick" : "one-off event"} ${event.event_id}`)}: SCHEDULE at ${event.created_at}${tenant}`,
      );
    } else {
      line(
        `${colour.bold(`change ${event.event_id}`)}: ${event.event_type} ${event.entity_type}${event.entity_id === null ? "" : ` ${event.entity_id}`} at ${event.created_at}${tenant}`,
      );
    }
    if (explanation.observers.length === 0) line("no observers to consider");
    for (const observer of explanation.observers) {
      const mark = observer.fired ? colour.green("fired  ") : colour.dim("skipped");
      line("");
      line(
        `${mark} ${observer.name} (${observer.observer_id})${observer.enabled ? "" : " [disabled]"}`,
      );
      line(`        ${observer.reason}: ${observer.detail}`);
      const condition = observer.condition;
      if (condition?.success && (context.values.verbose || !observer.fired)) {
        printStep(condition.root, "          ");
      }
      for (const outcome of observer.outcomes) {
        const status =
          outcome.status === "success" ? colour.green(outcome.status) : colour.red(outcome.status);
        const error = outcome.error_code
          ? `  ${outcome.error_code}${outcome.error_message ? `: ${outcome.error_message}` : ""}`
          : "";
        const batch = outcome.batch_id ? `  in batch ${outcome.batch_id}` : "";
        // Its index is in the observer's on_dead_letter, not in its actions.
        const kind = outcome.on_dead_letter === true ? "on_dead_letter action" : "action";
        line(
          `        ${kind} ${outcome.action_index ?? "-"} ${outcome.action_type ?? ""} attempt ${outcome.attempt_number}: ${status}${error}${batch}  ${colour.dim(outcome.created_at)}`,
        );
      }
    }
    return EXIT.ok;
  },
};

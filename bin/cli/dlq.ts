/** `dlq list|show|retry|remove|retry-all|stats`: the dead-letter queue. */
import type { DeadLetter, DeadLetterStats } from "../../src/store/dead-letters.ts";
import {
  type Command,
  type CommandContext,
  integerOption,
  stringOption,
  UsageError,
} from "./command.ts";
import { EXIT } from "./exit-codes.ts";
import { observerIdOf } from "./observers-io.ts";
import { colour, json, line, progress, table } from "./output.ts";

function idArg(context: CommandContext, sub: string): string {
  const id = context.args[1];
  if (id === undefined) throw new UsageError(`dlq ${sub} needs a dead letter's id`);
  return id;
}

const path = (id: string) => `/api/observers/dlq/${encodeURIComponent(id)}`;

function describe(letter: DeadLetter): string[] {
  return [
    `id:            ${letter.id}`,
    `observer:      ${letter.observer_name} (${letter.observer_id ?? "deleted"})`,
    `change:        ${letter.event_id} (${letter.event_type} ${letter.entity_type}${letter.entity_id === null ? "" : ` ${letter.entity_id}`})`,
    `action:        ${letter.action_index} ${letter.action_type}`,
    `attempts:      ${letter.attempts}/${letter.max_attempts}, replayed ${letter.retry_count} time(s)`,
    `error:         ${letter.error_code ?? "-"}${letter.error_message ? `: ${letter.error_message}` : ""}${letter.response_status_code === null ? "" : ` (HTTP ${letter.response_status_code})`}`,
    `status:        ${letter.status}`,
    `webhook-id:    ${letter.delivery_id}`,
    `created:       ${letter.created_at}, last attempt ${letter.last_attempt_at}`,
  ];
}

async function list(context: CommandContext): Promise<number> {
  const client = context.client();
  const observer = stringOption(context.values, "observer");
  const page = await client.call<{
    data: DeadLetter[];
    page: number;
    total_pages: number;
    total_count: number;
  }>("GET", "/api/observers/dlq", {
    query: {
      page: integerOption(context.values, "page"),
      page_size: integerOption(context.values, "limit"),
      observer_id: observer === undefined ? undefined : await observerIdOf(client, observer),
    },
  });
  if (context.format === "json") {
    json(page);
    return EXIT.ok;
  }
  if (page.data.length === 0) {
    line("no dead letters");
    return EXIT.ok;
  }
  line(
    table([
      ["ID", "OBSERVER", "ACTION", "ERROR", "STATUS", "CREATED"],
      ...page.data.map((letter) => [
        letter.id,
        letter.observer_name,
        `${letter.action_index} ${letter.action_type}`,
        letter.error_code ?? "-",
        letter.status,
        letter.created_at,
      ]),
    ]),
  );
  line(colour.dim(`page ${page.page}/${page.total_pages}, ${page.total_count} in all`));
  return EXIT.ok;
}

async function retryAll(context: CommandContext): Promise<number> {
  const client = context.client();
  const observer = stringOption(context.values, "observer");
  const filter: Record<string, string> = {};
  if (observer !== undefined) filter.observer_id = await observerIdOf(client, observer);
  for (const [option, field] of [
    ["error-code", "error_code"],
    ["since", "since"],
    ["until", "until"],
  ] as const) {
    const value = stringOption(context.values, option);
    if (value !== undefined) filter[field] = value;
  }
  const result = await client.call<{
    items_retried: number;
    items_failed: number;
    items_already_retrying: number;
    message: string;
  }>("POST", "/api/observers/dlq/retry-all", { body: filter });
  let left: number | null = null;
  if (context.values.wait && result.items_retried > 0)
    left = await waitForReplays(context, result.items_retried);
  if (context.format === "json")
    json({ ...result, ...(left === null ? {} : { still_retrying: left }) });
  else {
    line(
      `re-queued ${result.items_retried}, already retrying ${result.items_already_retrying}, not replayable (observer deleted) ${result.items_failed}`,
    );
    if (left !== null)
      line(left === 0 ? "every replay has finished" : `${left} replay(s) still running`);
  }
  return result.items_failed > 0 ? EXIT.failed : EXIT.ok;
}

/** Polls the stats until nothing is retrying (progress on stderr), or the --timeout passes. */
async function waitForReplays(context: CommandContext, queued: number): Promise<number> {
  const client = context.client();
  const timeoutS = integerOption(context.values, "timeout") ?? 60;
  const bar = progress("replays finished", queued);
  const deadline = Date.now() + timeoutS * 1000;
  let finished = 0;
  for (;;) {
    const stats = await client.call<DeadLetterStats>("GET", "/api/observers/dlq/stats");
    const now = Math.max(0, queued - stats.retrying);
    if (now > finished) {
      bar.tick(now - finished);
      finished = now;
    }
    if (stats.retrying === 0 || Date.now() > deadline) {
      bar.end();
      return stats.retrying;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function stats(context: CommandContext): Promise<number> {
  const result = await context.client().call<DeadLetterStats>("GET", "/api/observers/dlq/stats");
  if (context.format === "json") {
    json(result);
    return EXIT.ok;
  }
  line(`total:     ${result.total_items} (${result.pending} pending, ${result.retrying} retrying)`);
  line(`replays:   ${result.total_retries}`);
  line(`oldest:    ${result.oldest_created_at ?? "-"}`);
  const section = (title: string, entries: [string, number][]) => {
    if (entries.length === 0) return;
    line(`${title}:`);
    for (const [name, count] of entries) line(`  ${String(count).padStart(6)}  ${name}`);
  };
  section(
    "by observer",
    result.by_observer.map((o) => [`${o.observer_name} (${o.observer_id ?? "deleted"})`, o.count]),
  );
  section("by action", Object.entries(result.by_action));
  section("by error", Object.entries(result.by_error_code));
  return EXIT.ok;
}

const SUBCOMMANDS = ["list", "show", "retry", "remove", "retry-all", "stats"];

export const dlq: Command = {
  name: "dlq",
  summary: "the dead-letter queue: list, show, retry, remove, retry-all, stats",
  help: `dlq list [--observer <id|name>] [--page N] [--limit N]
  dlq show <id>
  dlq retry <id>
  dlq remove <id>
  dlq retry-all [--observer <id|name>] [--error-code CODE] [--since ISO] [--until ISO] [--wait [--timeout S]]
  dlq stats`,
  options: {
    observer: { type: "string" },
    page: { type: "string" },
    limit: { type: "string" },
    "error-code": { type: "string" },
    since: { type: "string" },
    until: { type: "string" },
    wait: { type: "boolean" },
    timeout: { type: "string" },
  },
  async run(context) {
    const sub = context.args[0];
    if (sub === undefined)
      throw new UsageError(`dlq needs a subcommand: ${SUBCOMMANDS.join(", ")}`);
    switch (sub) {
      case "list":
        return list(context);
      case "show": {
        const letter = await context.client().call<DeadLetter>("GET", path(idArg(context, sub)));
        if (context.format === "json") json(letter);
        else for (const text of describe(letter)) line(text);
        return EXIT.ok;
      }
      case "retry": {
        const id = idArg(context, sub);
        const queued = await context
          .client()
          .call<{ message: string; id: string }>("POST", `${path(id)}/retry`);
        if (context.format === "json") json(queued);
        else line(`${queued.message}: ${queued.id}`);
        return EXIT.ok;
      }
      case "remove": {
        const id = idArg(context, sub);
        await context.client().call("DELETE", path(id));
        if (context.format === "json") json({ removed: id });
        else line(`removed ${id}`);
        return EXIT.ok;
      }
      case "retry-all":
        return retryAll(context);
      case "stats":
        return stats(context);
      default:
        throw new UsageError(
          `unknown dlq subcommand '${sub}': the subcommands are ${SUBCOMMANDS.join(", ")}`,
        );
    }
  },
};

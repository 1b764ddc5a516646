/** `tail`: the live stream of changes and executions, filtered, until Ctrl-C. */
import type { Command } from "./command.ts";
import { LIVE_HELP, LIVE_OPTIONS, type LiveMessage, liveParams, streamLive } from "./live.ts";
import { colour, line, warn } from "./output.ts";

/** One live message as a line of text. */
export function describeLive(message: LiveMessage): string {
  const at = String(message.created_at ?? "");
  if (message.type === "change") {
    const entity = `${message.entity_type}${message.entity_id === null ? "" : ` ${String(message.entity_id)}`}`;
    return `${colour.dim(at)}  ${colour.bold("change")}     ${String(message.event_type).padEnd(6)} ${entity}  ${colour.dim(String(message.event_id))}`;
  }
  const status = String(message.status);
  const painted =
    status === "success"
      ? colour.green(status)
      : status === "failed" || status === "dead"
        ? colour.red(status)
        : colour.yellow(status);
  const error = message.error_code ? ` ${String(message.error_code)}` : "";
  const duration = message.duration_ms === null ? "" : ` ${String(message.duration_ms)} ms`;
  return `${colour.dim(at)}  ${colour.bold("execution")}  ${String(message.observer_name ?? message.observer_id)} action ${String(message.action_index)} ${String(message.action_type)}: ${painted} attempt ${String(message.attempt)}/${String(message.max_attempts)}${duration}${error}  ${colour.dim(String(message.event_id))}`;
}

export const tail: Command = {
  name: "tail",
  summary: "stream live changes and executions (WebSocket) until Ctrl-C",
  help: `tail [--entity-type <name>] [--event-type <type>] [--observer <id|name>] [--full]
  ${LIVE_HELP}
  --full                 include the row before and after (payload=full)
  --format json          one JSON message per line`,
  options: { ...LIVE_OPTIONS, full: { type: "boolean" } },
  async run(context) {
    const params = await liveParams(context);
    if (context.values.full) params.payload = "full";
    return streamLive(
      context.client(),
      params,
      (message) => {
        line(context.format === "json" ? JSON.stringify(message) : describeLive(message));
      },
      () => warn("ready: streaming (Ctrl-C to stop)"),
    );
  },
};

import * as v from "valibot";
import { LOG_LEVELS } from "../ports/logger.ts";
import { renderTemplate } from "../templates/index.ts";
import { template } from "./fields.ts";
import type { ActionDefinition, ActionRequest } from "./types.ts";

/** The `log` action's config. */
export const logConfigSchema = v.strictObject({
  type: v.literal("log"),
  level: v.optional(
    v.pipe(
      v.string(),
      v.toLowerCase(),
      v.picklist(LOG_LEVELS, `must be one of ${LOG_LEVELS.join(", ")}`),
    ),
    "info",
  ),
  message_template: template("text"),
});
export type LogConfig = v.InferOutput<typeof logConfigSchema>;

async function run(request: ActionRequest<LogConfig>) {
  const { config, event, observer } = request;
  const message = renderTemplate(config.message_template, "text", request);
  request.environment.logger.log(config.level, message, {
    event_id: event.id,
    entity_type: event.entity_type,
    entity_id: event.entity_id,
    event_type: event.event_type,
    observer: { id: observer.id, name: observer.name },
  });
  return { message: `logged at ${config.level}` };
}

/** Writes one line to the runtime's log for each matching event. Never fails. */
export const logAction: ActionDefinition<LogConfig> = {
  type: "log",
  schema: logConfigSchema,
  destination: () => "log",
  run,
};

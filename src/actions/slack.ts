import * as v from "valibot";
import type { ChangeEvent } from "../events/types.ts";
import { expectSuccess, type HttpResponse, sendHttp } from "../net/http.ts";
import { renderTemplate, type TemplateOptions } from "../templates/index.ts";
import { urlDestination } from "./destination.ts";
import { envName, exactlyOne, httpUrl, nonEmptyString, template } from "./fields.ts";
import { requireSecret } from "./secrets.ts";
import { type ActionDefinition, type ActionEnvironment, ActionFailure } from "./types.ts";

/** Slack's error bodies are short codes (`no_service`, `channel_is_archived`); keep a line of it. */
const ERROR_EXCERPT_CHARS = 200;

const slackSchema = v.pipe(
  v.strictObject({
    type: v.literal("slack"),
    webhook_url: v.optional(httpUrl),
    webhook_url_env: v.optional(envName),
    channel: v.nullish(nonEmptyString),
    message_template: v.nullish(template("text")),
    username: v.nullish(nonEmptyString),
    icon_emoji: v.nullish(nonEmptyString),
  }),
  exactlyOne("webhook_url", "webhook_url_env"),
);

/** A validated Slack action. */
export type SlackConfig = v.InferOutput<typeof slackSchema>;

/** Slack reads `&`, `<` and `>` as markup (links, mentions): data must not be able to ping @channel. */
function escapeSlack(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** Values from the event are Slack-escaped; the template's own markup (`<!here>`, links) is kept. */
const SLACK_TEMPLATE: TemplateOptions = { escape: escapeSlack };

/** FraiseQL's default message, e.g. `Event: INSERT on Order (ID: 42)`. */
function defaultMessage(event: ChangeEvent): string {
  const id = event.entity_id === null ? "" : ` (ID: ${escapeSlack(event.entity_id)})`;
  const change = `${event.event_type} on ${escapeSlack(event.entity_type)}${id}`;
  // An on_dead_letter action's event (docs/delivery.md): say what failed, not just the change.
  const failed = event.dead_letter;
  if (failed) {
    const status = failed.http_status === null ? "" : ` (HTTP ${failed.http_status})`;
    return `Dead letter: observer ${escapeSlack(failed.observer.name)}, action ${failed.action_index} (${escapeSlack(failed.action_type)}) failed after ${failed.attempts} attempt(s): ${escapeSlack(failed.error_code ?? "error")}${status}. ${change}`;
  }
  return `Event: ${change}`;
}

/** Puts Slack's own error code (the response body) into the failure's message. */
function withSlackReason(error: unknown, response: HttpResponse): unknown {
  if (!(error instanceof ActionFailure) || error.httpStatus === undefined) return error;
  const reason = (response.body.trim().split("\n")[0] ?? "").slice(0, ERROR_EXCERPT_CHARS);
  return new ActionFailure(
    error.kind,
    error.code,
    reason ? `${error.message}: ${reason}` : error.message,
    {
      httpStatus: error.httpStatus,
      ...(error.retryAfterMs !== undefined && { retryAfterMs: error.retryAfterMs }),
      ...(error.responseExcerpt !== undefined && { responseExcerpt: error.responseExcerpt }),
      cause: error,
    },
  );
}

function payload(config: SlackConfig, text: string): string {
  const body: Record<string, string> = { text };
  if (config.channel) body.channel = config.channel;
  if (config.username) body.username = config.username;
  if (config.icon_emoji) body.icon_emoji = config.icon_emoji;
  return JSON.stringify(body);
}

async function send(
  url: string,
  body: string,
  environment: ActionEnvironment,
  signal: AbortSignal,
): Promise<HttpResponse> {
  return sendHttp(
    {
      url,
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "fraiseql-observers" },
      body,
    },
    environment,
    signal,
  );
}

/**
 * Posts a message to a Slack incoming webhook. Unlike FraiseQL, a 429 is transient and honours
 * `Retry-After` (Slack rate-limits each webhook to about one message a second).
 */
export const slackAction: ActionDefinition<SlackConfig> = {
  type: "slack",
  schema: slackSchema,
  destination: (config, environment) =>
    urlDestination("slack", config.webhook_url, config.webhook_url_env, environment),
  async run(request) {
    const { config, environment } = request;
    // The URL embeds Slack's token, hence a secret.
    const url = requireSecret(
      config.webhook_url,
      config.webhook_url_env,
      request,
      "slack webhook url",
    );
    const text = config.message_template
      ? renderTemplate(config.message_template, "text", request, SLACK_TEMPLATE)
      : defaultMessage(request.event);
    const response = await send(url, payload(config, text), environment, request.signal);
    try {
      return expectSuccess(response, environment);
    } catch (error) {
      throw withSlackReason(error, response);
    }
  },
};

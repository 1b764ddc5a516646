/**
 * `listen --forward-to <url>`, like `stripe listen`: subscribes to the live change stream and
 * POSTs each change to a local URL as a Standard Webhooks request (webhook-id,
 * webhook-timestamp, webhook-signature) signed with a secret printed at start (`--secret`, or a
 * fresh `whsec_...`), printing each forward's status. The local handler verifies it as it would
 * verify the server's webhooks.
 */
import { randomBytes } from "node:crypto";
import { decodeStandardSecret, signStandard } from "../../src/actions/signing.ts";
import { type Command, stringOption, UsageError } from "./command.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { LIVE_HELP, LIVE_OPTIONS, type LiveMessage, liveParams, streamLive } from "./live.ts";
import { colour, line, warn } from "./output.ts";

/** How long a forward may take. */
const FORWARD_TIMEOUT_MS = 10_000;

/** The body forwarded for a change: the live message (with the row images), typed like an event. */
export function forwardedBody(message: LiveMessage): string {
  const { cursor: _cursor, type: _type, ...change } = message;
  return JSON.stringify({
    type: `${String(message.entity_type)}.${String(message.event_type).toLowerCase()}`,
    ...change,
  });
}

export const listen: Command = {
  name: "listen",
  summary: "forward live changes to a local URL as signed Standard Webhooks (like stripe listen)",
  help: `listen --forward-to <url> [--secret whsec_...] [--entity-type <name>] [--event-type <type>] [--observer <id|name>]
  --forward-to <url>     where to POST each change (e.g. http://localhost:3000/webhooks)
  --secret <whsec_...>   the signing secret (default: a new one, printed at start)
  ${LIVE_HELP}`,
  options: { ...LIVE_OPTIONS, "forward-to": { type: "string" }, secret: { type: "string" } },
  async run(context) {
    const target = stringOption(context.values, "forward-to");
    if (target === undefined) throw new UsageError("listen needs --forward-to <url>");
    if (!URL.canParse(target) || !/^https?:$/.test(new URL(target).protocol)) {
      throw new UsageError(`--forward-to: not an http(s) URL: ${JSON.stringify(target)}`);
    }
    const given = stringOption(context.values, "secret");
    if (given !== undefined && !decodeStandardSecret(given)) {
      throw new CliError(
        EXIT.usage,
        "--secret: not a Standard Webhooks secret (whsec_ followed by base64)",
      );
    }
    const secret = given ?? `whsec_${randomBytes(32).toString("base64")}`;
    const params = { ...(await liveParams(context)), payload: "full" };
    return streamLive(
      context.client(),
      params,
      async (message) => {
        if (message.type !== "change") return;
        const body = forwardedBody(message);
        const id = String(message.event_id);
        const timestamp = Math.floor(Date.now() / 1000);
        const headers = {
          "content-type": "application/json",
          "webhook-id": id,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": await signStandard([secret], id, timestamp, body),
        };
        let status: number | string;
        try {
          const response = await fetch(target, {
            method: "POST",
            headers,
            body,
            signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
          });
          await response.arrayBuffer();
          status = response.status;
        } catch (error) {
          const cause = error instanceof Error ? (error.cause ?? error) : error;
          status = `failed: ${cause instanceof Error ? cause.message : String(cause)}`;
        }
        if (context.format === "json") {
          line(
            JSON.stringify({
              event_id: id,
              entity_type: message.entity_type,
              event_type: message.event_type,
              forwarded_to: target,
              status,
            }),
          );
          return;
        }
        const ok = typeof status === "number" && status >= 200 && status < 300;
        line(
          `${colour.dim(String(message.created_at))}  ${String(message.event_type).padEnd(6)} ${String(message.entity_type)} ${message.entity_id === null ? "" : String(message.entity_id)} [${id}] --> POST ${target} [${ok ? colour.green(String(status)) : colour.red(String(status))}]`,
        );
      },
      () => {
        warn(`Your webhook signing secret is ${secret}`);
        warn(`Ready! Forwarding changes to ${target} (Ctrl-C to stop)`);
      },
    );
  },
};

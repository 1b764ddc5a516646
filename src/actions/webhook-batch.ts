import { stringifyJson } from "../json.ts";
import { defaultWebhookBody } from "./payload.ts";
import type { BatchActionRequest } from "./types.ts";

/**
 * The body of a webhook batch: `{"id": <batch id>, "events": [...]}`, each event the default body
 * its delivery would have sent alone (its own `id`, the delivery's webhook-id, to deduplicate on,
 * and its own `attempt`), in the members' order (commit order). Built as text: each event is
 * serialised once, bigints exact.
 */
export function webhookBatchBody(request: BatchActionRequest<unknown>): string {
  const { observer } = request;
  const events = request.members.map((member) =>
    defaultWebhookBody({
      event: member.event,
      observer,
      deliveryId: member.deliveryId,
      attempt: member.attempt,
    }),
  );
  return `{"id":${stringifyJson(request.batchId)},"events":[${events.join(",")}]}`;
}

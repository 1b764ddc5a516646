import type { JsonObject } from "../json.ts";
import { stringifyJson } from "../json.ts";
import type { ActionRequest } from "./types.ts";

/**
 * The default webhook body (DESIGN §6): the whole change with the delivery's id, unlike FraiseQL,
 * which sent only the row and left receivers nothing to deduplicate on. Bigints stay exact.
 */
export function defaultWebhookBody(
  request: Pick<ActionRequest<unknown>, "event" | "observer" | "deliveryId" | "attempt">,
): string {
  const { event, observer } = request;
  const body: JsonObject = {
    id: request.deliveryId,
    event_id: event.id,
    observer: { id: observer.id, name: observer.name },
    entity_type: event.entity_type,
    entity_id: event.entity_id,
    event_type: event.event_type,
    op: event.op,
    before: event.before,
    after: event.after,
    changes: event.changes as JsonObject | null,
    tenant_id: event.tenant_id,
    timestamp: event.timestamp,
    attempt: request.attempt,
  };
  // An on_dead_letter action's event: the failure it reports (docs/delivery.md).
  if (event.dead_letter) body.dead_letter = event.dead_letter;
  return stringifyJson(body);
}

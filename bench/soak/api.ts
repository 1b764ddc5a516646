/** What the soak asks the server over its HTTP API: create the observer, read the health. */
import { fail } from "../support/fail.ts";

/** `GET /api/observers/runtime/health` (see src/runtime/types.ts). */
export interface Health {
  running: boolean;
  observer_count: number;
  last_checkpoint: number | null;
  events_processed: number;
  errors: number;
  lag: { pending_changes: number; due_deliveries: number; oldest_pending_ms: number };
}

/** Creates a webhook observer on every `Order` INSERT through `POST /api/observers`. */
export async function createWebhookObserver(
  serverUrl: string,
  token: string,
  hookUrl: string,
): Promise<string> {
  const response = await fetch(`${serverUrl}/api/observers`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({
      name: "soak-webhook",
      description: "bench/soak.bench.ts: every bench_orders INSERT to the latency receiver",
      entity_type: "Order",
      event_type: "INSERT",
      actions: [{ type: "webhook", url: hookUrl }],
    }),
  });
  const text = await response.text();
  if (response.status !== 201 && response.status !== 200) {
    fail(`POST /api/observers answered ${response.status}: ${text.slice(0, 500)}`);
  }
  return String((JSON.parse(text) as { id?: unknown }).id);
}

/** The runtime's health, or null when the server could not answer (a 503 with no body, an error). */
export async function readHealth(serverUrl: string): Promise<Health | null> {
  try {
    const response = await fetch(`${serverUrl}/api/observers/runtime/health`, {
      signal: AbortSignal.timeout(4_000),
    });
    const body = (await response.json()) as Partial<Health>;
    return body.lag ? (body as Health) : null;
  } catch {
    return null;
  }
}

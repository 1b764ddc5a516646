/**
 * Observer definitions as a client writes them, for the tests of the observer schemas
 * (test/unit/observer-schema.test.ts, test/support/observer-corpus.ts).
 */

/** The smallest valid action. */
export const exampleWebhook = { type: "webhook", url: "https://example.com/hook" };

/** DESIGN section 3's example: every top-level field, and a webhook with every field. */
export function designExample(): Record<string, unknown> & { actions: unknown[] } {
  return {
    name: "order-shipped",
    description: "optional",
    entity_type: "Order",
    event_type: "UPDATE",
    condition_expression: "field_changed_to('status', 'shipped') && total > 100",
    actions: [
      {
        type: "webhook",
        url: "https://example.com/hook",
        headers: { "x-team": "ops" },
        body_template: null,
        signing_secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      },
    ],
    retry_config: {
      max_attempts: 5,
      backoff_strategy: "exponential",
      initial_delay_ms: 500,
      max_delay_ms: 30000,
    },
    enabled: true,
    priority: 100,
    timeout_ms: 30000,
  };
}

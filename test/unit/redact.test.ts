import { describe, expect, it } from "vitest";
import { REDACTED, redactActions, redactedPlaceholders } from "../../src/store/redact.ts";

describe("redactActions", () => {
  it("masks every secret field and every header value, keeping shapes and *_env names", () => {
    const actions = [
      {
        type: "webhook",
        url: "https://example.com/hook",
        headers: { authorization: "Bearer abc", "x-team": "ops" },
        signing_secret: ["whsec_old", "whsec_new"],
        body_template: null,
      },
      { type: "slack", webhook_url: "https://hooks.slack.com/services/T/B/secret" },
      { type: "search", provider: "meilisearch", api_key: "k", api_key_env: "MEILI_KEY" },
      { type: "push", vapid_private_key: "p", service_account: "{...}", auth_token: "t" },
    ];
    expect(redactActions(actions)).toEqual([
      {
        type: "webhook",
        url: "https://example.com/hook",
        headers: { authorization: REDACTED, "x-team": REDACTED },
        signing_secret: [REDACTED, REDACTED],
        body_template: null,
      },
      { type: "slack", webhook_url: REDACTED },
      { type: "search", provider: "meilisearch", api_key: REDACTED, api_key_env: "MEILI_KEY" },
      {
        type: "push",
        vapid_private_key: REDACTED,
        service_account: REDACTED,
        auth_token: REDACTED,
      },
    ]);
    // The input is untouched: the store keeps writing the real values.
    expect(actions[0]?.signing_secret).toEqual(["whsec_old", "whsec_new"]);
  });
});

describe("redactedPlaceholders", () => {
  it("finds the placeholder sent back where a secret belongs", () => {
    expect(
      redactedPlaceholders([
        { type: "webhook", signing_secret: [REDACTED], headers: { a: REDACTED, b: "real" } },
        { type: "sms", auth_token: "real" },
      ]).map((issue) => issue.path),
    ).toEqual(["actions.0.signing_secret", "actions.0.headers.a"]);
    expect(redactedPlaceholders(undefined)).toEqual([]);
  });
});

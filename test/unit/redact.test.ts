import { describe, expect, it } from "vitest";
import { looksLikeToken, redactUrl } from "../../src/actions/secret-fields.ts";
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

describe("URLs and push subscriptions as read keys see them", () => {
  const slack = "https://hooks.slack.com/services/T0001/B0002/aZ3xK9mQ2pL7vR4tW8yN1bC6";
  const discord =
    "https://discord.com/api/webhooks/112233445566778899/Xy9_abcDEF-123ghiJKLmnoPQRstuVWxyz0123456789";

  it("hides user info, query, fragment and token-like path segments, and nothing else", () => {
    expect(redactUrl("https://example.com/hooks/order-created")).toBe(
      "https://example.com/hooks/order-created",
    );
    expect(redactUrl("https://ops:hunter2@example.com:8443/hook?token=abc#frag")).toBe(
      `https://${REDACTED}@example.com:8443/hook?${REDACTED}#${REDACTED}`,
    );
    expect(redactUrl(slack)).toBe(`https://hooks.slack.com/services/T0001/B0002/${REDACTED}`);
    expect(redactUrl(discord)).toBe(
      `https://discord.com/api/webhooks/112233445566778899/${REDACTED}`,
    );
    expect(redactUrl("https://x.example/in/0b9e4f3a-6c1d-4e2b-8f70-91a2b3c4d5e6")).toBe(
      `https://x.example/in/${REDACTED}`,
    );
    expect(looksLikeToken("order-status-changed-events")).toBe(false);
    expect(looksLikeToken("5d41402abc4b2a76b9719d911017c592")).toBe(true);
  });

  it("redacts URLs in every action field and push keys.auth, keeping the rest", () => {
    const [webhook, push] = redactActions([
      { type: "webhook", url: "https://hooks.example.com/in/aZ3xK9mQ2pL7vR4tW8yN1bC6?sig=1" },
      {
        type: "push",
        provider: "web_push",
        subscription: {
          endpoint:
            "https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH",
          keys: { p256dh: "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA", auth: "tBHItJI5svbpez7KI4CCXg" },
        },
      },
    ]);
    expect(webhook).toEqual({
      type: "webhook",
      url: `https://hooks.example.com/in/${REDACTED}?${REDACTED}`,
    });
    expect(push).toEqual({
      type: "push",
      provider: "web_push",
      subscription: {
        endpoint: `https://fcm.googleapis.com/fcm/send/${REDACTED}`,
        keys: { p256dh: "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA", auth: REDACTED },
      },
    });
  });

  it("refuses a redacted URL or keys.auth written back, naming the field", () => {
    const read = redactActions([
      { type: "webhook", url: `${slack}?x=1` },
      { type: "push", subscription: { endpoint: slack, keys: { p256dh: "k", auth: "a" } } },
    ]);
    const issues = redactedPlaceholders(read);
    expect(issues.map((issue) => issue.path)).toEqual([
      "actions.0.url",
      "actions.1.subscription.endpoint",
      "actions.1.subscription.keys.auth",
    ]);
    expect(issues[0]?.message).toContain("send the full URL");
    // Percent-encoded by a client's URL library, it is still the placeholder.
    expect(
      redactedPlaceholders([{ type: "webhook", url: "https://a.example/%5BREDACTED%5D" }]),
    ).toHaveLength(1);
  });
});

import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { slackAction } from "../../src/actions/slack.ts";
import { actionFailure, runAction, testEnvironment } from "../support/actions.ts";
import { insert, update } from "../support/events.ts";
import { useReceiver } from "../support/receiver.ts";

const receiver = useReceiver(() => ({ status: 200, body: "ok" }));

function post(config: Record<string, unknown> = {}, event = insert({ id: 42, status: "new" })) {
  return runAction(
    slackAction,
    { type: "slack", webhook_url: `${receiver.url}/services/T/B/x`, ...config },
    event,
  );
}

function sentPayload(): unknown {
  const request = receiver.requests.at(-1);
  expect(request?.method).toBe("POST");
  expect(request?.headers["content-type"]).toBe("application/json");
  return JSON.parse(request?.text ?? "");
}

describe("slack delivery", () => {
  it("posts FraiseQL's default message", async () => {
    const result = await post();
    expect(result).toMatchObject({ message: "HTTP 200", httpStatus: 200 });
    expect(sentPayload()).toEqual({ text: "Event: INSERT on Order (ID: 42)" });
    expect(receiver.requests[0]?.path).toBe("/services/T/B/x");
  });

  it("escapes Slack markup in the default message's data", async () => {
    await post({}, insert({ id: 1 }, { object_id: "<!channel> & co" }));
    expect(sentPayload()).toEqual({
      text: "Event: INSERT on Order (ID: &lt;!channel&gt; &amp; co)",
    });
  });

  it("says what failed in an on_dead_letter action's default message", async () => {
    const event = {
      ...insert({ id: 42 }),
      dead_letter: {
        dead_letter_id: "9d7c1b1e-4a1f-4a55-9c1e-3f0f1a2b3c4d",
        observer: { id: "5a0e6f1c-0b1a-4c3e-9f00-000000000001", name: "orders <team>" },
        action_index: 0,
        action_type: "webhook",
        delivery_id: "0f3c2b1a-0000-4000-8000-000000000002",
        attempts: 5,
        max_attempts: 5,
        error_code: "HTTP_STATUS",
        error_message: "HTTP 503",
        http_status: 503,
        failed_at: "2026-01-01T00:00:00.000Z",
      },
    };
    await post({}, event);
    expect(sentPayload()).toEqual({
      text: "Dead letter: observer orders &lt;team&gt;, action 0 (webhook) failed after 5 attempt(s): HTTP_STATUS (HTTP 503). INSERT on Order (ID: 42)",
    });
  });

  it("escapes Slack markup in template values but keeps the template's own", async () => {
    await post(
      { message_template: "<!here> {{ note }} <https://example.com/o/{{ id }}|order>" },
      insert({ id: 7, note: "<!channel> <https://evil.example|click> & more" }),
    );
    expect(sentPayload()).toEqual({
      text: "<!here> &lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; more <https://example.com/o/7|order>",
    });
  });

  it("renders message_template and adds channel, username and icon", async () => {
    await post(
      {
        message_template: "Order {{ id }} is {{ status }} (was {{ before.status }})",
        channel: "#ops",
        username: "observer",
        icon_emoji: ":package:",
      },
      update({ id: 42, status: "shipped" }, { id: 42, status: "paid" }),
    );
    expect(sentPayload()).toEqual({
      text: "Order 42 is shipped (was paid)",
      channel: "#ops",
      username: "observer",
      icon_emoji: ":package:",
    });
  });

  it("reads the webhook URL from the environment, failing permanently when unset", async () => {
    const config = { type: "slack", webhook_url_env: "OBSERVERS_SECRET_SLACK_URL" };
    const unset = await actionFailure(runAction(slackAction, config, insert({ id: 1 })));
    expect(unset).toMatchObject({ kind: "permanent", code: "MISSING_SECRET" });
    const environment = testEnvironment({
      env: { OBSERVERS_SECRET_SLACK_URL: `${receiver.url}/env` },
    });
    await runAction(slackAction, config, insert({ id: 1 }), { environment });
    expect(receiver.requests[0]?.path).toBe("/env");
    expect(slackAction.destination(v.parse(slackAction.schema, config), environment)).toBe(
      `slack:${receiver.url}`,
    );
  });
});

describe("slack outcomes", () => {
  it("retries 429 after Slack's Retry-After (FraiseQL gave up)", async () => {
    receiver.reply(() => ({ status: 429, headers: { "retry-after": "30" }, body: "rate_limited" }));
    const error = await actionFailure(post());
    expect(error).toMatchObject({ kind: "transient", httpStatus: 429, retryAfterMs: 30_000 });
  });

  it("gives up on 404 no_service and 410 channel_is_archived, naming Slack's reason", async () => {
    receiver.reply(() => ({ status: 404, body: "no_service" }));
    const missing = await actionFailure(post());
    expect(missing).toMatchObject({ kind: "permanent", httpStatus: 404 });
    expect(missing.message).toContain("no_service");
    receiver.reply(() => ({ status: 410, body: "channel_is_archived" }));
    const archived = await actionFailure(post());
    expect(archived).toMatchObject({ kind: "permanent", httpStatus: 410 });
    expect(archived.message).toContain("channel_is_archived");
  });

  it("retries 5xx", async () => {
    receiver.reply(() => ({ status: 500, body: "internal_error" }));
    expect(await actionFailure(post())).toMatchObject({ kind: "transient", httpStatus: 500 });
  });
});

describe("slack config", () => {
  const messages = (config: object) => {
    const result = v.safeParse(slackAction.schema, { type: "slack", ...config });
    return result.success ? [] : result.issues.map((issue) => issue.message);
  };

  it("accepts FraiseQL's shape, nulls included", () => {
    const url = "https://hooks.slack.com/services/T/B/x";
    expect(messages({ webhook_url: url, channel: null, message_template: null })).toEqual([]);
    expect(messages({ webhook_url_env: "OBSERVERS_SECRET_SLACK_URL", channel: "#ops" })).toEqual(
      [],
    );
  });

  it("rejects a missing or doubled URL, unknown fields and empty values", () => {
    expect(messages({})).toEqual(["give exactly one of webhook_url and webhook_url_env"]);
    expect(messages({ webhook_url: "https://a.example", webhook_url_env: "X" })).toHaveLength(1);
    expect(messages({ webhook_url: "ftp://a.example" })).toHaveLength(1);
    expect(messages({ webhook_url: "https://a.example", text: "hi" })).toHaveLength(1);
    expect(messages({ webhook_url: "https://a.example", channel: "" })).toHaveLength(1);
    expect(messages({ webhook_url: "https://a.example", message_template: "{{ x" })).toHaveLength(
      1,
    );
  });
});

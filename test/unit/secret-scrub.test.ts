/**
 * Redaction by value: the executor scrubs every secret an attempt read from the environment or
 * carries in its config out of the outcome's texts, in the forms receivers echo them (as is,
 * URL-encoded, JSON-escaped, inside base64 such as a Basic header), also when an excerpt cuts a
 * secret short. Real actions against a real receiver that echoes what it got.
 */
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { DEFAULT_ACTION_POLICY } from "../../src/actions/policy.ts";
import { REDACTED } from "../../src/actions/secret-fields.ts";
import { type ActionDefinition, ActionFailure } from "../../src/actions/types.ts";
import { createExecutor, type Delivery } from "../../src/executor/index.ts";
import { createScrubber } from "../../src/executor/scrub.ts";
import { defaultActionRegistry } from "../../src/index.ts";
import type { Logger } from "../../src/ports/logger.ts";
import { testDeliveryObserver, testEnvironment } from "../support/actions.ts";
import { insert } from "../support/events.ts";
import { useReceiver } from "../support/receiver.ts";

const ENV_TOKEN = "tok_9fA3kQ2xZ7mB4nV8cR1sT6wY0uE5hJ";
const LITERAL_TOKEN = "lit_Q8wE4rT6yU2iO0pA9sD7fG5hJ3kL1z";
const TWILIO_TOKEN = "b7e1c9d24f0a63e85b9c17d2a4f06e3c";
const TWILIO_SID = `AC${"a1".repeat(16)}`;
const base64 = (text: string) => Buffer.from(text).toString("base64");

/** Answers 500 with everything the request carried: its headers, path and body. */
const receiver = useReceiver((request) => ({
  status: 500,
  headers: { "content-type": "text/plain" },
  body: `echo ${request.path} ${JSON.stringify(request.headers)} ${request.text}`,
}));

describe("createScrubber", () => {
  it("removes a secret as is, URL-encoded, form-encoded and JSON-escaped", () => {
    const secret = 'p@ss w/"rd"+1';
    const { scrub } = createScrubber([secret]);
    const text = [
      secret,
      encodeURIComponent(secret),
      new URLSearchParams({ k: secret }).toString(),
      JSON.stringify({ k: secret }),
    ].join(" | ");
    const scrubbed = scrub(text);
    expect(scrubbed).not.toContain("ss w");
    expect(scrubbed).not.toContain("ss%20w");
    expect(scrubbed).not.toContain("ss+w");
    expect(scrubbed.split(REDACTED)).toHaveLength(5);
  });

  it("removes base64 runs holding the secret at any offset (Basic credentials)", () => {
    const { scrub } = createScrubber([ENV_TOKEN]);
    for (const user of ["", "a", "ab", "abc", "user-of-any-length"]) {
      const basic = `Basic ${base64(`${user}:${ENV_TOKEN}`)}`;
      expect(scrub(`sent ${basic}, rejected`)).toBe(`sent Basic ${REDACTED}, rejected`);
      const url = base64(`${user}:${ENV_TOKEN}`).replaceAll("+", "-").replaceAll("/", "_");
      expect(scrub(`token=${url}`)).toBe(`token=${REDACTED}`);
    }
  });

  it("removes the start of a secret that a bounded excerpt cut off", () => {
    const { scrub } = createScrubber([ENV_TOKEN]);
    expect(scrub(`key: ${ENV_TOKEN.slice(0, 9)}`)).toBe(`key: ${REDACTED}`);
    expect(scrub(`key: ${ENV_TOKEN.slice(0, 12)}…`)).toBe(`key: ${REDACTED}…`);
    // Shorter than 4 characters, a match says nothing: the text stays as it is.
    expect(scrub(`key: ${ENV_TOKEN.slice(0, 3)}`)).toBe(`key: ${ENV_TOKEN.slice(0, 3)}`);
  });

  it("removes the credential parts of a URL it was given", () => {
    const url = `https://user:${LITERAL_TOKEN}@hooks.example.com/services/${ENV_TOKEN}?sig=abcdef123`;
    const { scrub } = createScrubber([url]);
    const scrubbed = scrub(`${LITERAL_TOKEN} ${ENV_TOKEN} sig=abcdef123 ${url}`);
    expect(scrubbed).not.toContain(LITERAL_TOKEN);
    expect(scrubbed).not.toContain(ENV_TOKEN);
    expect(scrubbed).not.toContain("abcdef123");
  });
});

function delivery(action: unknown, id: string): Delivery {
  return {
    id,
    event: insert({ id: 1, status: "new" }),
    observer: { ...testDeliveryObserver, retry_config: { max_attempts: 1 } },
    action,
    attempt: 1,
  };
}

describe("the executor's outcomes", () => {
  it("carry no secret a receiver echoed, read from the environment or written in the config", async () => {
    const lines: string[] = [];
    const logger: Logger = { log: (...args) => lines.push(JSON.stringify(args)) };
    const executor = createExecutor({
      registry: defaultActionRegistry,
      environment: testEnvironment({
        logger,
        env: {
          OBSERVERS_SECRET_HOOK_URL: `${receiver.url}/hook/${ENV_TOKEN}?key=${ENV_TOKEN}`,
          OBSERVERS_SECRET_TWILIO_TOKEN: TWILIO_TOKEN,
        },
        // The receiver stands in for Twilio: its origin may receive a credential from the environment.
        policy: {
          ...DEFAULT_ACTION_POLICY,
          allowedBaseUrls: new Set([new URL(receiver.url).origin]),
        },
      }),
    });
    const outcomes = await executor.executeAll([
      delivery(
        {
          type: "webhook",
          url_env: "OBSERVERS_SECRET_HOOK_URL",
          headers: { authorization: `Bearer ${LITERAL_TOKEN}`, "x-api-key": LITERAL_TOKEN },
        },
        "d-webhook",
      ),
      delivery(
        {
          type: "sms",
          to: "+14155550100",
          from: "+14155550199",
          message_template: "order {{ after.id }}",
          account_sid: TWILIO_SID,
          auth_token_env: "OBSERVERS_SECRET_TWILIO_TOKEN",
          base_url: receiver.url,
        },
        "d-sms",
      ),
    ]);
    // The receiver did get the secrets, and echoed them: the scrub is what keeps them in.
    const received = JSON.stringify(receiver.requests.map((r) => [r.path, r.headers]));
    expect(received).toContain(ENV_TOKEN);
    expect(received).toContain(LITERAL_TOKEN);
    expect(received).toContain(base64(`${TWILIO_SID}:${TWILIO_TOKEN}`));
    const reported = JSON.stringify(outcomes);
    expect(outcomes.map((o) => o.errorCode)).toEqual(["HTTP_STATUS", "HTTP_STATUS"]);
    expect(outcomes.every((o) => o.responseExcerpt?.includes(REDACTED))).toBe(true);
    for (const secret of [ENV_TOKEN, LITERAL_TOKEN, TWILIO_TOKEN]) {
      expect(reported).not.toContain(secret);
      expect(reported).not.toContain(secret.slice(0, 10));
      expect(lines.join("\n")).not.toContain(secret.slice(0, 10));
    }
    expect(reported).not.toContain(base64(`${TWILIO_SID}:${TWILIO_TOKEN}`).slice(8, 40));
  });

  it("scrubs an action's own error text quoting a value it read, and a cut-off excerpt", async () => {
    const schema = v.object({ type: v.literal("test") });
    const definition: ActionDefinition = {
      type: "log",
      schema,
      // A key built from what it read: a careless action could quote it in an error.
      destination: (_config, environment) =>
        `test:${environment.env.OBSERVERS_SECRET_SHARED_KEY?.length ?? 0}`,
      async run({ environment }) {
        const key = environment.env.OBSERVERS_SECRET_SHARED_KEY ?? "";
        throw new ActionFailure("transient", "UPSTREAM", `upstream refused key ${key}`, {
          responseExcerpt: `${"x".repeat(1000)}${key}`.slice(0, 1010),
        });
      },
    };
    const executor = createExecutor({
      registry: { get: () => definition },
      environment: testEnvironment({ env: { OBSERVERS_SECRET_SHARED_KEY: ENV_TOKEN } }),
    });
    const outcome = await executor.execute(delivery({ type: "test" }, "d-test"));
    expect(outcome.errorMessage).toBe(`upstream refused key ${REDACTED}`);
    expect(outcome.responseExcerpt?.endsWith(REDACTED)).toBe(true);
    expect(JSON.stringify(outcome)).not.toContain(ENV_TOKEN.slice(0, 6));
  });
});

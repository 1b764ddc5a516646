import * as v from "valibot";
import { expectSuccess, sendHttp } from "../net/http.ts";
import { renderTemplate, type TemplateMode, templateIssues } from "../templates/index.ts";
import { batchIdOf, batchSchema } from "./batch.ts";
import { urlDestination } from "./destination.ts";
import { atMostOne, envName, exactlyOne, headers, httpUrl, secret } from "./fields.ts";
import { defaultWebhookBody } from "./payload.ts";
import { requireSecret, resolveSecret, type SecretScope } from "./secrets.ts";
import {
  INVALID_STANDARD_SECRET,
  isStandardSecret,
  SIGNATURE_SCHEMES,
  signFraiseql,
  signStandard,
  splitSecrets,
} from "./signing.ts";
import {
  type ActionDefinition,
  type ActionEnvironment,
  ActionFailure,
  type ActionResult,
  type BatchActionRequest,
} from "./types.ts";
import { webhookBatchBody } from "./webhook-batch.ts";

const METHODS = ["POST", "PUT", "PATCH"] as const;
/**
 * How late an attempt may run and still be stamped with the time it was due: Standard Webhooks
 * receivers refuse timestamps more than 5 minutes off, so a later one is stamped when it is sent.
 */
export const MAX_TIMESTAMP_LAG_MS = 4 * 60_000;
const USER_AGENT = "fraiseql-observers";
/** Set by the action itself: a configured value would forge or break the delivery's identity. */
const RESERVED_HEADERS = new Set([
  "webhook-id",
  "webhook-timestamp",
  "webhook-signature",
  "x-fraiseql-signature-256",
]);

const webhookHeaders = v.pipe(
  headers,
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const seen = new Set<string>();
    for (const name of Object.keys(dataset.value)) {
      const lower = name.toLowerCase();
      if (RESERVED_HEADERS.has(lower)) {
        addIssue({
          message: `header ${name} is set by the webhook action and cannot be overridden`,
        });
      } else if (seen.has(lower)) {
        addIssue({ message: `header ${name} is given twice (names are case-insensitive)` });
      }
      seen.add(lower);
    }
  }),
);

/** One secret, or several that all sign at once while a receiver rotates. */
const signingSecrets = v.union(
  [secret, v.pipe(v.array(secret), v.nonEmpty("must list at least one secret"))],
  "must be a secret or a list of secrets",
);

/** A JSON media type: `application/json` or any `+json` suffix type. */
function isJsonMediaType(value: string): boolean {
  const type = (value.split(";")[0] ?? "").trim().toLowerCase();
  return type === "application/json" || type.endsWith("+json");
}

/** The configured Content-Type, if any. */
function contentType(configured: Readonly<Record<string, string>>): string | undefined {
  for (const [name, value] of Object.entries(configured)) {
    if (name.toLowerCase() === "content-type") return value;
  }
  return undefined;
}

/** A body template is a JSON document unless the user declared a non-JSON Content-Type. */
function bodyMode(configured: Readonly<Record<string, string>>): TemplateMode {
  const type = contentType(configured);
  return type === undefined || isJsonMediaType(type) ? "json" : "text";
}

function asList(value: string | readonly string[] | undefined): readonly string[] {
  return value === undefined ? [] : typeof value === "string" ? [value] : value;
}

const webhookSchema = v.pipe(
  v.strictObject({
    type: v.literal("webhook"),
    url: v.optional(httpUrl),
    url_env: v.optional(envName),
    method: v.optional(
      v.pipe(v.string(), v.toUpperCase(), v.picklist(METHODS, "must be POST, PUT or PATCH")),
      "POST",
    ),
    headers: v.optional(webhookHeaders, {}),
    body_template: v.nullish(
      v.pipe(v.string(), v.nonEmpty("must not be empty (null sends the default body)")),
    ),
    signing_secret: v.optional(signingSecrets),
    signing_secret_env: v.optional(envName),
    signature_scheme: v.optional(
      v.picklist(SIGNATURE_SCHEMES, 'must be "standard", "fraiseql" or "both"'),
      "standard",
    ),
    batch: v.optional(batchSchema),
  }),
  exactlyOne("url", "url_env"),
  atMostOne("signing_secret", "signing_secret_env"),
  v.forward(
    v.rawCheck(({ dataset, addIssue }) => {
      // An empty template already has its own issue.
      if (!dataset.typed || !dataset.value.body_template) return;
      const mode = bodyMode(dataset.value.headers);
      for (const issue of templateIssues(dataset.value.body_template, mode)) {
        addIssue({ message: issue.message });
      }
    }),
    ["body_template"],
  ),
  v.forward(
    v.check(
      (config) => config.batch === undefined || config.body_template == null,
      "cannot be combined with batch: a batch's body is {id, events: [default bodies]}; remove body_template or batch",
    ),
    ["body_template"],
  ),
  v.forward(
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed || dataset.value.signature_scheme === "fraiseql") return;
      // Empty secrets already have their own issue.
      const secrets = asList(dataset.value.signing_secret).filter((s) => s !== "");
      if (!secrets.every(isStandardSecret)) addIssue({ message: INVALID_STANDARD_SECRET });
    }),
    ["signing_secret"],
  ),
);

/** A validated webhook action. */
export type WebhookConfig = v.InferOutput<typeof webhookSchema>;

/** The secrets to sign with: literal, or from the environment (several, space-separated). */
function signingKeys(config: WebhookConfig, scope: SecretScope): readonly string[] {
  if (config.signing_secret !== undefined) return asList(config.signing_secret);
  const value = resolveSecret(undefined, config.signing_secret_env, scope, "signing secret");
  if (value === undefined) return [];
  const secrets = splitSecrets(value);
  if (secrets.length === 0) {
    throw new ActionFailure(
      "permanent",
      "MISSING_SECRET",
      `signing secret: environment variable ${config.signing_secret_env} holds only whitespace`,
    );
  }
  // Literal secrets were checked at validation; one read from the environment is checked here.
  if (config.signature_scheme !== "fraiseql" && !secrets.every(isStandardSecret)) {
    throw new ActionFailure(
      "permanent",
      "INVALID_SECRET",
      `signing secret: environment variable ${config.signing_secret_env} ${INVALID_STANDARD_SECRET}`,
    );
  }
  return secrets;
}

/**
 * The `webhook-timestamp`, in ms: when the attempt was due (a delayed delivery says when it was
 * meant to run), unless it runs more than `MAX_TIMESTAMP_LAG_MS` after that, or had no due time.
 */
export function webhookTime(scheduledAt: number | undefined, now: number): number {
  if (scheduledAt === undefined || now - scheduledAt > MAX_TIMESTAMP_LAG_MS) return now;
  return scheduledAt;
}

/** What one request of the action needs besides its config: the secrets' scope and its I/O. */
interface SendScope {
  tenant: string | null;
  environment: ActionEnvironment;
  signal: AbortSignal;
}

/**
 * Sends one request: the configured headers, then the Standard Webhooks ones (`id` is the
 * receiver's idempotency key, identical on every retry) and the signatures of `body`.
 */
async function send(
  config: WebhookConfig,
  scope: SendScope,
  id: string,
  timestampMs: number,
  body: string,
): Promise<ActionResult> {
  const { environment } = scope;
  const url = requireSecret(config.url, config.url_env, scope, "webhook url");
  const secrets = signingKeys(config, scope);
  const timestamp = Math.floor(timestampMs / 1000);
  const sent: Record<string, string> = { "user-agent": USER_AGENT };
  for (const [name, value] of Object.entries(config.headers)) sent[name.toLowerCase()] = value;
  sent["content-type"] ??= "application/json";
  sent["webhook-id"] = id;
  sent["webhook-timestamp"] = String(timestamp);
  if (secrets.length > 0 && config.signature_scheme !== "fraiseql") {
    sent["webhook-signature"] = await signStandard(secrets, id, timestamp, body);
  }
  if (secrets.length > 0 && config.signature_scheme !== "standard") {
    sent["x-fraiseql-signature-256"] = await signFraiseql(secrets, timestamp, body);
  }
  const response = await sendHttp(
    { url, method: config.method, headers: sent, body },
    environment,
    scope.signal,
  );
  return expectSuccess(response, environment);
}

/**
 * A batch (docs/actions.md, "Webhook batches"): `{"id": <batch id>, "events": [<default bodies>]}`, the
 * batch id as `webhook-id`, stamped with the time it is sent.
 */
function sendBatch(request: BatchActionRequest<WebhookConfig>): Promise<ActionResult> {
  const body = webhookBatchBody(request);
  return send(request.config, request, request.batchId, request.environment.clock.now(), body);
}

/** POSTs (or PUTs/PATCHes) the change to a URL, signed per Standard Webhooks. */
export const webhookAction: ActionDefinition<WebhookConfig> = {
  type: "webhook",
  schema: webhookSchema,
  destination: (config, environment) =>
    urlDestination("webhook", config.url, config.url_env, environment),
  async run(request) {
    const { config, environment } = request;
    if (config.batch !== undefined) {
      // Run alone (a test send, a batch of one): still the batch shape the receiver expects.
      const { event, deliveryId, attempt, maxAttempts } = request;
      return sendBatch({
        ...request,
        batchId: await batchIdOf([deliveryId]),
        members: [{ event, deliveryId, attempt, maxAttempts }],
      });
    }
    const body =
      typeof config.body_template === "string"
        ? renderTemplate(config.body_template, bodyMode(config.headers), request)
        : defaultWebhookBody(request);
    const at = webhookTime(request.scheduledAt, environment.clock.now());
    return send(config, request, request.deliveryId, at, body);
  },
  runBatch: sendBatch,
};

import * as v from "valibot";
import { sendHttp } from "../net/http.ts";
import type { EmailMessage } from "../ports/email.ts";
import { renderTemplate, type TemplateContext } from "../templates/index.ts";
import {
  formatMailbox,
  type Mailbox,
  mailboxField,
  mailboxListField,
  parseMailbox,
  parseMailboxList,
} from "./email-address.ts";
import { HTML_TEMPLATE } from "./email-html.ts";
import {
  DEFAULT_EMAIL_BASE_URLS,
  expectProviderSuccess,
  HTTP_EMAIL_PROVIDERS,
  providerRequest,
} from "./email-providers.ts";
import { templateRecipients } from "./email-recipients.ts";
import { envName, exactlyOne, httpUrl, nonEmptyString, secret, template } from "./fields.ts";
import {
  type PolicyIssue,
  senderIssue,
  type TenantPolicyScope,
  tenantSenderAllowed,
} from "./policy.ts";
import { requireSecret, resolveSecret, type SecretScope } from "./secrets.ts";
import {
  type ActionDefinition,
  ActionFailure,
  type ActionRequest,
  type ActionResult,
  requireService,
} from "./types.ts";

/** Where email goes: SMTP (a runtime with TCP sockets) or an HTTP email API. */
export const EMAIL_PROVIDERS = ["smtp", ...HTTP_EMAIL_PROVIDERS] as const;
export type EmailProvider = (typeof EMAIL_PROVIDERS)[number];

const HTTP_ONLY_FIELDS = ["api_key", "api_key_env", "base_url"] as const;

const emailSchema = v.pipe(
  v.strictObject({
    type: v.literal("email"),
    to: v.optional(mailboxListField),
    to_template: v.optional(template("text")),
    cc: v.optional(mailboxListField),
    bcc: v.optional(mailboxListField),
    from: v.optional(mailboxField),
    from_env: v.optional(envName),
    reply_to: v.optional(mailboxField),
    subject: v.optional(v.pipe(nonEmptyString, v.regex(/^[^\r\n]*$/, "must be one line"))),
    subject_template: v.optional(template("text")),
    body_template: template("text"),
    html_template: v.optional(template("text")),
    provider: v.optional(v.picklist(EMAIL_PROVIDERS, `must be one of ${EMAIL_PROVIDERS}`), "smtp"),
    api_key: v.optional(secret),
    api_key_env: v.optional(envName),
    base_url: v.optional(httpUrl),
    message_stream: v.optional(nonEmptyString),
  }),
  v.check(
    (config) => config.to !== undefined || config.to_template !== undefined,
    "give to, to_template or both",
  ),
  exactlyOne("from", "from_env"),
  exactlyOne("subject", "subject_template"),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const config = dataset.value;
    if (config.provider === "smtp") {
      for (const field of HTTP_ONLY_FIELDS) {
        if (config[field] !== undefined) {
          addIssue({
            message: `${field} applies only to HTTP providers (resend, postmark, sendgrid)`,
          });
        }
      }
    } else if ((config.api_key === undefined) === (config.api_key_env === undefined)) {
      addIssue({
        message: `provider ${config.provider} needs exactly one of api_key and api_key_env`,
      });
    }
    if (config.message_stream !== undefined && config.provider !== "postmark") {
      addIssue({ message: "message_stream applies only to provider postmark" });
    }
  }),
);

/** A validated `email` action config (recipient lists normalised to arrays). */
export type EmailConfig = v.InferOutput<typeof emailSchema>;

function invalid(code: string, message: string): ActionFailure {
  return new ActionFailure("permanent", code, message);
}

/** Literal recipients plus those the template renders, each address once. */
function recipients(config: EmailConfig, context: TemplateContext): Mailbox[] {
  const literal = parseMailboxList(config.to ?? []).mailboxes;
  if (config.to_template === undefined) return literal;
  return [...literal, ...templateRecipients(config.to_template, context)];
}

/** Keeps the first mention of each address across to, cc and bcc (SendGrid refuses repeats). */
function unique(lists: Mailbox[][]): string[][] {
  const seen = new Set<string>();
  return lists.map((list) =>
    list
      .filter((mailbox) => {
        const key = mailbox.address.toLowerCase();
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      })
      .map(formatMailbox),
  );
}

function sender(config: EmailConfig, scope: SecretScope): string {
  const text = resolveSecret(config.from, config.from_env, scope, "email from") ?? "";
  const mailbox = parseMailbox(text);
  if (!mailbox) throw invalid("INVALID_SENDER", `from ${JSON.stringify(text)} is not an address`);
  // Checked on the address actually used: `from_env` is only known now.
  if (
    config.provider === "smtp" &&
    scope.tenant !== null &&
    !tenantSenderAllowed(scope.environment.policy, mailbox.address)
  ) {
    const issue = senderIssue(mailbox.address, scope.tenant);
    throw invalid(issue.code, `${issue.path}: ${issue.message}`);
  }
  return formatMailbox(mailbox);
}

/**
 * A tenant's SMTP email goes out through the operator's server: its From must be one the operator
 * lists (`OBSERVERS_TENANT_SENDERS`). HTTP providers authenticate the tenant's own account,
 * which vouches for its senders.
 */
function emailPolicyIssues(config: EmailConfig, scope: TenantPolicyScope): PolicyIssue[] {
  if (config.provider !== "smtp" || config.from === undefined) return [];
  const address = parseMailbox(config.from)?.address ?? config.from;
  return tenantSenderAllowed(scope.policy, address) ? [] : [senderIssue(address, scope.tenant)];
}

/** Renders the message this attempt sends. Throws permanent failures for unusable data. */
export function buildEmailMessage(request: ActionRequest<EmailConfig>): EmailMessage {
  const { config } = request;
  const context: TemplateContext = {
    event: request.event,
    observer: request.observer,
    deliveryId: request.deliveryId,
    attempt: request.attempt,
  };
  const [to = [], cc = [], bcc = []] = unique([
    recipients(config, context),
    parseMailboxList(config.cc ?? []).mailboxes,
    parseMailboxList(config.bcc ?? []).mailboxes,
  ]);
  if (to.length === 0) throw invalid("INVALID_RECIPIENT", "to_template rendered no recipients");
  const subject =
    config.subject ??
    renderTemplate(config.subject_template ?? "", "text", context)
      // A header is one line; a multi-line value from the data must not fold into another header.
      .replace(/\s*[\r\n]+\s*/g, " ")
      .trim();
  return {
    from: sender(config, request),
    to,
    cc,
    bcc,
    replyTo: config.reply_to ?? null,
    subject,
    text: renderTemplate(config.body_template, "text", context),
    html:
      config.html_template === undefined
        ? null
        : renderTemplate(config.html_template, "text", context, HTML_TEMPLATE),
  };
}

async function sendSmtp(request: ActionRequest<EmailConfig>): Promise<ActionResult> {
  const transport = requireService(
    request.environment.email,
    "SMTP needs a runtime with TCP sockets; use an HTTP provider on Workers",
  );
  const receipt = await transport.send(buildEmailMessage(request), request.signal);
  const firstLine = receipt.response.split(/\r?\n/, 1)[0]?.trim();
  return { message: firstLine ? firstLine : "queued" };
}

/** `email`: sends a rendered email over SMTP or through Resend, Postmark or SendGrid. */
export const emailAction: ActionDefinition<EmailConfig> = {
  type: "email",
  schema: emailSchema,
  destination(config) {
    if (config.provider === "smtp") return "email:smtp";
    return `email:${new URL(config.base_url ?? DEFAULT_EMAIL_BASE_URLS[config.provider]).origin}`;
  },
  defaultBaseUrl: (config) =>
    config.provider === "smtp" ? undefined : DEFAULT_EMAIL_BASE_URLS[config.provider],
  policyIssues: emailPolicyIssues,
  async run(request) {
    const { config, environment, signal } = request;
    if (config.provider === "smtp") return sendSmtp(request);
    const label = `email ${config.provider}`;
    const apiKey = requireSecret(config.api_key, config.api_key_env, request, `${label} api_key`);
    const httpRequest = providerRequest(config.provider, {
      baseUrl: config.base_url ?? DEFAULT_EMAIL_BASE_URLS[config.provider],
      apiKey,
      message: buildEmailMessage(request),
      idempotencyKey: request.deliveryId,
      messageStream: config.message_stream,
    });
    const response = await sendHttp(httpRequest, environment, signal);
    return expectProviderSuccess(response, environment, label);
  },
};

import { expectSuccess, type HttpRequest, type HttpResponse } from "../net/http.ts";
import type { EmailMessage } from "../ports/email.ts";
import { type Mailbox, parseMailbox } from "./email-address.ts";
import { type ActionEnvironment, ActionFailure, type ActionResult } from "./types.ts";

/** The email APIs spoken over HTTPS (so they work on Workers, which have no SMTP). */
export const HTTP_EMAIL_PROVIDERS = ["resend", "postmark", "sendgrid"] as const;
export type HttpEmailProvider = (typeof HTTP_EMAIL_PROVIDERS)[number];

/** Each provider's public API origin, used when `base_url` is not given. */
export const DEFAULT_EMAIL_BASE_URLS: Readonly<Record<HttpEmailProvider, string>> = {
  resend: "https://api.resend.com",
  postmark: "https://api.postmarkapp.com",
  sendgrid: "https://api.sendgrid.com",
};

/** What a provider request is built from. */
export interface ProviderRequestOptions {
  baseUrl: string;
  apiKey: string;
  message: EmailMessage;
  /** The delivery id: the same on every retry, so a provider that dedups sends one email. */
  idempotencyKey: string;
  /** Postmark's message stream (e.g. `outbound`, `broadcast`). */
  messageStream?: string | undefined;
}

function endpoint(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, "")}${path}`;
}

/** Drops absent and empty fields: providers reject some empty values (an empty `Cc` string). */
function compact(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(fields).filter(
      ([, value]) =>
        value !== undefined &&
        value !== null &&
        value !== "" &&
        !(Array.isArray(value) && value.length === 0),
    ),
  );
}

function jsonRequest(url: string, headers: Record<string, string>, body: unknown): HttpRequest {
  return {
    url,
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...headers },
    body: JSON.stringify(body),
  };
}

/** Resend: https://resend.com/docs/api-reference/emails/send-email */
function resendRequest({ baseUrl, apiKey, message, idempotencyKey }: ProviderRequestOptions) {
  return jsonRequest(
    endpoint(baseUrl, "/emails"),
    { authorization: `Bearer ${apiKey}`, "idempotency-key": idempotencyKey },
    compact({
      from: message.from,
      to: message.to,
      cc: message.cc,
      bcc: message.bcc,
      reply_to: message.replyTo,
      subject: message.subject,
      text: message.text,
      html: message.html,
    }),
  );
}

/** Postmark: https://postmarkapp.com/developer/api/email-api (no idempotency support). */
function postmarkRequest({ baseUrl, apiKey, message, messageStream }: ProviderRequestOptions) {
  return jsonRequest(
    endpoint(baseUrl, "/email"),
    { "x-postmark-server-token": apiKey },
    compact({
      From: message.from,
      To: message.to.join(", "),
      Cc: message.cc.join(", "),
      Bcc: message.bcc.join(", "),
      ReplyTo: message.replyTo,
      Subject: message.subject,
      TextBody: message.text,
      HtmlBody: message.html,
      MessageStream: messageStream,
    }),
  );
}

/** SendGrid wants `{email, name?}` objects rather than header-form mailboxes. */
function sendgridMailbox(text: string): { email: string; name?: string } {
  const mailbox: Mailbox = parseMailbox(text) ?? { address: text, name: null };
  return mailbox.name === null
    ? { email: mailbox.address }
    : { email: mailbox.address, name: mailbox.name };
}

/** SendGrid v3: https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send */
function sendgridRequest({ baseUrl, apiKey, message }: ProviderRequestOptions) {
  const content = [{ type: "text/plain", value: message.text }];
  if (message.html !== null) content.push({ type: "text/html", value: message.html });
  return jsonRequest(
    endpoint(baseUrl, "/v3/mail/send"),
    { authorization: `Bearer ${apiKey}` },
    compact({
      personalizations: [
        compact({
          to: message.to.map(sendgridMailbox),
          cc: message.cc.map(sendgridMailbox),
          bcc: message.bcc.map(sendgridMailbox),
        }),
      ],
      from: sendgridMailbox(message.from),
      reply_to: message.replyTo === null ? null : sendgridMailbox(message.replyTo),
      subject: message.subject,
      content,
    }),
  );
}

/** The HTTP request that sends `message` through `provider`. */
export function providerRequest(
  provider: HttpEmailProvider,
  options: ProviderRequestOptions,
): HttpRequest {
  switch (provider) {
    case "resend":
      return resendRequest(options);
    case "postmark":
      return postmarkRequest(options);
    case "sendgrid":
      return sendgridRequest(options);
  }
}

/** The provider's own explanation in an error body, if it has the documented shape. */
export function providerErrorDetail(body: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const record = parsed as Record<string, unknown>;
  // Resend {name, message}; Postmark {ErrorCode, Message}; SendGrid {errors: [{message, field}]}.
  if (typeof record.message === "string") return record.message;
  if (typeof record.Message === "string") {
    return record.ErrorCode === undefined
      ? record.Message
      : `${record.Message} (ErrorCode ${String(record.ErrorCode)})`;
  }
  if (Array.isArray(record.errors)) {
    const messages = record.errors
      .map((error: unknown) =>
        typeof error === "object" && error !== null
          ? (error as Record<string, unknown>).message
          : undefined,
      )
      .filter((message): message is string => typeof message === "string");
    if (messages.length > 0) return messages.join("; ");
  }
  return undefined;
}

/**
 * `expectSuccess`, with the provider's explanation appended to a failure's message, so the log
 * and the dead-letter queue say why (e.g. "The 'to' field is invalid") and not just the status.
 */
export function expectProviderSuccess(
  response: HttpResponse,
  environment: ActionEnvironment,
  label: string,
  detail: (body: string) => string | undefined = providerErrorDetail,
): ActionResult {
  try {
    return expectSuccess(response, environment);
  } catch (error) {
    if (!(error instanceof ActionFailure)) throw error;
    const explanation = detail(response.body);
    throw new ActionFailure(
      error.kind,
      error.code,
      `${label}: ${error.message}${explanation === undefined ? "" : `: ${explanation}`}`,
      {
        ...(error.httpStatus === undefined ? {} : { httpStatus: error.httpStatus }),
        ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
        ...(error.responseExcerpt === undefined ? {} : { responseExcerpt: error.responseExcerpt }),
        cause: error,
      },
    );
  }
}

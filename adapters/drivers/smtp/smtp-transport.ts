import { createTransport } from "nodemailer";
import type Mail from "nodemailer/lib/mailer";
import type SMTPPool from "nodemailer/lib/smtp-pool";
import { ActionFailure } from "../../../src/actions/types.ts";
import type { EmailMessage, EmailReceipt, EmailTransport } from "../../../src/ports/email.ts";

/**
 * Nodemailer's SMTP options (https://nodemailer.com/smtp/): `url` (`smtp://user:pass@host:587`,
 * `smtps://...`) and/or `host`, `port`, `secure`, `auth`, `requireTLS`, `tls`, timeouts, pool
 * sizes. Connections are always pooled.
 */
export type SmtpTransportOptions = Omit<SMTPPool.Options, "pool">;

/** An SMTP `EmailTransport` over a pool of connections; `close()` it at shutdown. */
export interface SmtpTransport extends EmailTransport {
  /** Connects and authenticates once, to fail fast on a wrong host or credentials at startup. */
  verify(): Promise<void>;
  /** Closes the pool's connections. */
  close(): void;
}

/**
 * Nodemailer's defaults wait minutes for a dead server (2 min to connect, 10 min idle); an action
 * has its own timeout and retries, so fail sooner and let the retry policy decide.
 */
const DEFAULTS = {
  connectionTimeout: 10_000,
  greetingTimeout: 10_000,
  socketTimeout: 60_000,
  // The message is built from strings only; never let a value make nodemailer read a file or URL.
  disableFileAccess: true,
  disableUrlAccess: true,
} satisfies Partial<SMTPPool.Options>;

/** Errors that are the configuration's fault, not the server's: retrying cannot help. */
const CONFIG_ERRORS = new Set(["ECONFIG", "ENOAUTH", "EREQUIRETLS", "EMAXRECIPIENTS"]);

interface SmtpError {
  code?: unknown;
  responseCode?: unknown;
  response?: unknown;
  message?: unknown;
}

/**
 * Maps a nodemailer failure: a 5xx reply is permanent (`SMTP_REJECTED`); a 4xx reply
 * (greylisting, a full mailbox), a connection error or a timeout is transient (`SMTP_UNAVAILABLE`).
 */
export function smtpFailure(error: unknown): ActionFailure {
  const details = (typeof error === "object" && error !== null ? error : {}) as SmtpError;
  const code = typeof details.code === "string" ? details.code : undefined;
  const responseCode = typeof details.responseCode === "number" ? details.responseCode : undefined;
  const text =
    typeof details.response === "string"
      ? details.response
      : typeof details.message === "string"
        ? details.message
        : String(error);
  const summary = `SMTP ${[code, responseCode].filter((part) => part !== undefined).join(" ")}`;
  const message = `${summary.trim()}: ${text}`;
  if (responseCode !== undefined && responseCode >= 500) {
    return new ActionFailure("permanent", "SMTP_REJECTED", message, { cause: error });
  }
  if (responseCode === undefined && code !== undefined && CONFIG_ERRORS.has(code)) {
    return new ActionFailure("permanent", "SMTP_CONFIG", message, { cause: error });
  }
  return new ActionFailure("transient", "SMTP_UNAVAILABLE", message, { cause: error });
}

function toMail(message: EmailMessage, signal: AbortSignal): Mail.Options {
  // `signal` is nodemailer >= 10's per-send cancellation; @types/nodemailer does not know it yet.
  const mail: Mail.Options & { signal: AbortSignal } = {
    from: message.from,
    to: message.to,
    cc: message.cc,
    bcc: message.bcc,
    subject: message.subject,
    text: message.text,
    signal,
  };
  if (message.replyTo !== null) mail.replyTo = message.replyTo;
  if (message.html !== null) mail.html = message.html;
  return mail;
}

/** Rejects with the signal's reason when it aborts, so a hung send never outlives its timeout. */
function abortion(signal: AbortSignal): { promise: Promise<never>; dispose(): void } {
  let onAbort = () => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  promise.catch(() => {});
  return { promise, dispose: () => signal.removeEventListener("abort", onAbort) };
}

/** Creates an SMTP transport (nodemailer, pooled) for `ActionEnvironment.email`. */
export function createSmtpTransport(options: SmtpTransportOptions): SmtpTransport {
  const poolOptions: SMTPPool.Options = { ...DEFAULTS, ...options, pool: true };
  const transporter = createTransport(poolOptions);
  return {
    async send(message, signal): Promise<EmailReceipt> {
      signal.throwIfAborted();
      const aborted = abortion(signal);
      try {
        const info = await Promise.race([
          transporter.sendMail(toMail(message, signal)),
          aborted.promise,
        ]);
        const rejected = info.rejected.map(String);
        return {
          messageId: info.messageId ?? null,
          // Some recipients refused while others accepted: the message went out, so it is a
          // success (a retry would send duplicates), but the log should say who missed it.
          response:
            rejected.length > 0
              ? `${info.response}; rejected ${rejected.join(", ")}`
              : info.response,
        };
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        throw smtpFailure(error);
      } finally {
        aborted.dispose();
      }
    },
    async verify() {
      try {
        await transporter.verify();
      } catch (error) {
        throw smtpFailure(error);
      }
    },
    close() {
      transporter.close();
    },
  };
}

/** One message, ready to hand to an email transport. */
export interface EmailMessage {
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo: string | null;
  subject: string;
  text: string;
  html: string | null;
}

/** What a transport reports for an accepted message. */
export interface EmailReceipt {
  /** The provider's or server's message id, when it gave one. */
  messageId: string | null;
  /** A short human-readable response (e.g. the SMTP server's reply line). */
  response: string;
}

/**
 * Sends email over SMTP, where the runtime has TCP sockets (`adapters/drivers/smtp`). A transport throws
 * `ActionFailure` (transient for connection errors, timeouts and 4xx replies; permanent for 5xx).
 */
export interface EmailTransport {
  send(message: EmailMessage, signal: AbortSignal): Promise<EmailReceipt>;
}

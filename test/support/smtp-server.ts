/**
 * A real SMTP server for tests: nodemailer's `smtp-server` package, in process, on 127.0.0.1.
 * It speaks the whole SMTP dialogue (EHLO, MAIL, RCPT, DATA, dot-stuffing), so the SMTP adapter's
 * success and failure mapping is tested against a real server, with nothing installed by hand.
 *
 * Some recipients are answered the way real servers do:
 * - `reject@…` gets 550 (permanent: mailbox unavailable);
 * - `busy@…` gets 451 (transient: greylisting, try again later).
 */
import type { AddressInfo } from "node:net";
import { SMTPServer, type SMTPServerAddress } from "smtp-server";

/** A running SMTP server and the messages it accepted. */
export interface SmtpServer {
  host: string;
  port: number;
  /**
   * The raw messages accepted so far (RFC 5322 text), each preceded by `X-MailFrom` and
   * `X-RcptTo` headers giving its envelope, as a Maildir delivery agent records it.
   */
  messages(): Promise<string[]>;
  stop(): Promise<void>;
}

/** An SMTP reply carrying a status code, as smtp-server expects errors to be shaped. */
function reply(code: number, text: string): Error & { responseCode: number } {
  return Object.assign(new Error(text), { responseCode: code });
}

function checkRecipient(address: SMTPServerAddress): Error | null {
  const local = address.address.split("@", 1)[0]?.toLowerCase();
  if (local === "reject") {
    return reply(550, `5.1.1 <${address.address}>: Recipient address rejected: User unknown`);
  }
  if (local === "busy") {
    return reply(451, `4.7.1 <${address.address}>: Greylisted, please try again later`);
  }
  return null;
}

/** Starts an SMTP server on a free port of 127.0.0.1 and waits until it accepts connections. */
export async function startSmtpServer(): Promise<SmtpServer> {
  const accepted: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onRcptTo(address, _session, callback) {
      callback(checkRecipient(address));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", callback);
      stream.on("end", () => {
        const envelope = session.envelope;
        const from = envelope.mailFrom ? envelope.mailFrom.address : "";
        const to = envelope.rcptTo.map((r) => r.address).join(", ");
        accepted.push(
          `X-MailFrom: ${from}\r\nX-RcptTo: ${to}\r\n${Buffer.concat(chunks).toString("utf8")}`,
        );
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.server.address() as AddressInfo;
  return {
    host: "127.0.0.1",
    port,
    async messages() {
      return [...accepted];
    },
    stop() {
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The email action over SMTP, through the nodemailer adapter, against a real SMTP server
 * (nodemailer's smtp-server, in process). Never skipped.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSmtpTransport, type SmtpTransport } from "../../adapters/drivers/smtp/index.ts";
import { emailAction } from "../../src/actions/email.ts";
import { actionFailure, runAction, testEnvironment } from "../support/actions.ts";
import { insert } from "../support/events.ts";
import { freePort, NOTHING_LISTENS } from "../support/ports.ts";
import { type SmtpServer, startSmtpServer } from "../support/smtp-server.ts";

const order = insert({
  id: 7,
  status: "shipped",
  buyer: "buyer@example.com",
  note: "<i>fragile</i>",
});

let server: SmtpServer;
let transport: SmtpTransport;
beforeAll(async () => {
  server = await startSmtpServer();
  transport = createSmtpTransport({ url: `smtp://${server.host}:${server.port}` });
}, 20_000);
afterAll(async () => {
  transport?.close();
  await server?.stop();
});

function config(extra: Record<string, unknown> = {}) {
  return {
    type: "email",
    provider: "smtp",
    from: "Shop <shop@example.com>",
    to_template: "{{ buyer }}",
    cc: "ops@example.com",
    bcc: "audit@example.com",
    reply_to: "support@example.com",
    subject_template: "Order {{ id }} {{ status }}",
    body_template: "Your order {{ id }} has {{ status }}.",
    ...extra,
  };
}

/** One header's value (unfolded) from a raw message. */
function header(raw: string, name: string): string | undefined {
  const head = raw.split(/\r?\n\r?\n/, 1)[0] ?? "";
  const unfolded = head.replace(/\r?\n[ \t]+/g, " ");
  const match = new RegExp(`^${name}:[ \\t]*(.*)$`, "im").exec(unfolded);
  return match?.[1]?.trim();
}

async function messageWithSubject(subject: string): Promise<string> {
  const messages = await server.messages();
  const found = messages.find((raw) => header(raw, "Subject") === subject);
  if (!found) throw new Error(`no delivered message has subject ${subject}`);
  return found;
}

describe("email over SMTP (a real SMTP server)", () => {
  it("delivers a rendered message with from, to, cc, bcc, reply-to, subject and body", async () => {
    const environment = testEnvironment({ email: transport });
    const result = await runAction(emailAction, config(), order, { environment });
    expect(result.message).toMatch(/^250\b/);
    const raw = await messageWithSubject("Order 7 shipped");
    expect(header(raw, "From")).toBe("Shop <shop@example.com>");
    expect(header(raw, "To")).toBe("buyer@example.com");
    expect(header(raw, "Cc")).toBe("ops@example.com");
    expect(header(raw, "Reply-To")).toBe("support@example.com");
    // Bcc is in the envelope, never in the headers.
    expect(header(raw, "Bcc")).toBeUndefined();
    expect(header(raw, "X-RcptTo")).toBe("buyer@example.com, ops@example.com, audit@example.com");
    expect(header(raw, "X-MailFrom")).toBe("shop@example.com");
    expect(raw).toContain("Your order 7 has shipped.");
  });

  it("sends text and HTML alternatives, with row values escaped in the HTML", async () => {
    const environment = testEnvironment({ email: transport });
    await runAction(
      emailAction,
      config({ subject_template: "HTML {{ id }}", html_template: "<p>{{ note }}</p>" }),
      order,
      { environment },
    );
    const raw = await messageWithSubject("HTML 7");
    expect(header(raw, "Content-Type")).toContain("multipart/alternative");
    expect(raw).toContain("<p>&lt;i&gt;fragile&lt;/i&gt;</p>");
  });

  it("refuses a row value that would add recipients, before any SMTP exchange", async () => {
    const environment = testEnvironment({ email: transport });
    const hostile = [
      "buyer@example.com, evil@example.com",
      "buyer@example.com;evil@example.com",
      "team: buyer@example.com, evil@example.com;",
      "buyer@example.com\r\nBcc: evil@example.com",
    ];
    for (const [i, buyer] of hostile.entries()) {
      const failure = await actionFailure(
        runAction(
          emailAction,
          config({ cc: undefined, bcc: undefined, subject_template: `Hostile ${i}` }),
          insert({ id: 7, buyer }),
          { environment },
        ),
      );
      expect(failure).toMatchObject({ kind: "permanent", code: "RECIPIENT_NOT_ONE_ADDRESS" });
      expect(failure.message).toContain("{{ buyer }}");
    }
    // Only now a message that goes through, so that the server has settled what it received.
    await runAction(
      emailAction,
      config({
        to_template: '{{ buyer }}, "{{ name }}" <{{ email }}>, {{ team }}',
        cc: undefined,
        bcc: undefined,
        subject_template: "Listed",
      }),
      insert({
        buyer: "buyer@example.com",
        name: "Doe, Jane",
        email: "jane@example.com",
        team: ["a@example.com", "B <b@example.com>"],
      }),
      { environment },
    );
    const raw = await messageWithSubject("Listed");
    expect(header(raw, "X-RcptTo")).toBe(
      "buyer@example.com, jane@example.com, a@example.com, b@example.com",
    );
    const messages = await server.messages();
    expect(messages.filter((m) => /^Hostile/.test(header(m, "Subject") ?? ""))).toEqual([]);
    expect(messages.some((m) => m.includes("evil@example.com"))).toBe(false);
  });

  it.each([
    ["a 550 for the only recipient", "reject@example.com", "permanent", "SMTP_REJECTED", "550"],
    ["a 451 (greylisting)", "busy@example.com", "transient", "SMTP_UNAVAILABLE", "451"],
  ])("classifies %s as %s %s", async (_case, to, kind, code, reply) => {
    const environment = testEnvironment({ email: transport });
    const failure = await actionFailure(
      runAction(emailAction, config({ to_template: to, cc: undefined, bcc: undefined }), order, {
        environment,
      }),
    );
    expect(failure).toMatchObject({ kind, code });
    expect(failure.message).toContain(reply);
  });

  it("succeeds when some recipients are refused, and says which", async () => {
    const result = await transport.send(
      {
        from: "shop@example.com",
        to: ["buyer@example.com", "reject@example.com"],
        cc: [],
        bcc: [],
        replyTo: null,
        subject: "Partial",
        text: "Hello",
        html: null,
      },
      new AbortController().signal,
    );
    expect(result.response).toContain("rejected reject@example.com");
    expect(header(await messageWithSubject("Partial"), "X-RcptTo")).toBe("buyer@example.com");
  });
});

describe("SMTP failures without a working server", () => {
  it("maps a refused connection to transient SMTP_UNAVAILABLE", async () => {
    const closed = createSmtpTransport({ host: NOTHING_LISTENS, port: await freePort() });
    try {
      const failure = await actionFailure(
        runAction(emailAction, config(), order, {
          environment: testEnvironment({ email: closed }),
        }),
      );
      expect(failure).toMatchObject({ kind: "transient", code: "SMTP_UNAVAILABLE" });
      expect(failure.message).toMatch(/ECONNREFUSED|ECONNECTION|ESOCKET/);
    } finally {
      closed.close();
    }
  });

  describe("a server that accepts connections and never greets", () => {
    let silent: Server;
    let port = 0;
    const sockets: Socket[] = [];
    beforeAll(async () => {
      silent = createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      const address = silent.address();
      port = typeof address === "object" && address ? address.port : 0;
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });

    it("maps a greeting timeout to transient SMTP_UNAVAILABLE", async () => {
      const slow = createSmtpTransport({ host: "127.0.0.1", port, greetingTimeout: 200 });
      try {
        const failure = await actionFailure(
          runAction(emailAction, config(), order, {
            environment: testEnvironment({ email: slow }),
          }),
        );
        expect(failure).toMatchObject({ kind: "transient", code: "SMTP_UNAVAILABLE" });
        expect(failure.message).toContain("ETIMEDOUT");
      } finally {
        slow.close();
      }
    });

    it("rejects with the signal's reason when aborted mid-send", async () => {
      const hung = createSmtpTransport({ host: "127.0.0.1", port });
      const controller = new AbortController();
      const reason = new Error("action timed out");
      setTimeout(() => controller.abort(reason), 100);
      try {
        await expect(
          runAction(emailAction, config(), order, {
            environment: testEnvironment({ email: hung }),
            signal: controller.signal,
          }),
        ).rejects.toBe(reason);
      } finally {
        hung.close();
      }
    });
  });
});

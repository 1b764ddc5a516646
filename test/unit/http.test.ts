import { afterEach, describe, expect, it } from "vitest";
import { ActionFailure } from "../../src/actions/types.ts";
import {
  expectSuccess,
  type HttpResponse,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
  RESPONSE_EXCERPT_BYTES,
  sendHttp,
  truncateUtf8,
  utf8Prefix,
} from "../../src/net/index.ts";
import { systemClock } from "../../src/ports/clock.ts";
import { testEnvironment } from "../support/actions.ts";
import { type Receiver, type ReceiverHandler, startReceiver } from "../support/receiver.ts";

const NOW = Date.UTC(2026, 0, 1, 0, 0, 0); // Thursday
const fixedClock = { ...systemClock, now: () => NOW };
const receivers: Receiver[] = [];

afterEach(async () => {
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
});

async function receiver(handler?: ReceiverHandler): Promise<Receiver> {
  const started = await startReceiver(handler);
  receivers.push(started);
  return started;
}

async function failureOf(promise: Promise<unknown> | (() => unknown)): Promise<ActionFailure> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(ActionFailure);
    return error as ActionFailure;
  }
  throw new Error("expected an ActionFailure");
}

const never = new AbortController().signal;

/** A fetch stub answering each URL from a table, recording what was asked. */
function stubFetch(answers: Record<string, () => Response>) {
  const calls: { url: string; init: RequestInit | undefined }[] = [];
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    calls.push({ url, init });
    const answer = answers[url];
    if (answer === undefined) throw new TypeError(`no stub for ${url}`);
    return answer();
  }) as typeof globalThis.fetch;
  return { calls, fetch };
}

describe("parseRetryAfter", () => {
  it.each([
    ["120", 120_000],
    [" 5 ", 5_000],
    ["0", 0],
    ["99999999999", MAX_RETRY_AFTER_MS],
    ["Thu, 01 Jan 2026 00:00:30 GMT", 30_000],
    ["thu, 01 jan 2026 00:00:30 gmt", 30_000],
    ["Wed, 31 Dec 2025 23:00:00 GMT", 0],
    ["Sat, 03 Jan 2026 00:00:00 GMT", MAX_RETRY_AFTER_MS],
    ["Thursday, 01-Jan-26 00:01:00 GMT", 60_000],
    ["Thu Jan  1 00:02:00 2026", 120_000],
  ])("reads %j", (value, expected) => {
    expect(parseRetryAfter(value, NOW)).toBe(expected);
  });

  it.each([
    null,
    undefined,
    "",
    "-5",
    "1.5",
    "soon",
    "Thu, 31 Feb 2026 00:00:00 GMT",
    "Thu, 01 Jan 2026 25:00:00 GMT",
    "2026-01-01T00:00:30Z",
  ])("ignores %j", (value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined();
  });
});

describe("UTF-8 bounds", () => {
  it("never cuts a character in half", () => {
    const bytes = new TextEncoder().encode("a€😀");
    for (const [max, expected] of [
      [0, ""],
      [1, "a"],
      [3, "a"],
      [4, "a€"],
      [7, "a€"],
      [8, "a€😀"],
    ] as const) {
      expect(new TextDecoder().decode(utf8Prefix(bytes, max))).toBe(expected);
      expect(truncateUtf8("a€😀", max)).toBe(expected);
    }
  });
});

describe("sendHttp", () => {
  it("POSTs by default and reads the answer", async () => {
    const target = await receiver(() => ({ status: 201, headers: { "x-id": "7" }, body: "made" }));
    const response = await sendHttp(
      {
        url: `${target.url}/hook?x=1`,
        headers: { "content-type": "application/json" },
        body: "{}",
      },
      testEnvironment(),
      never,
    );
    expect(response).toMatchObject({ status: 201, body: "made", url: `${target.url}/hook?x=1` });
    expect(response.headers.get("x-id")).toBe("7");
    expect(target.requests[0]).toMatchObject({ method: "POST", path: "/hook?x=1", text: "{}" });
    expect(target.requests[0]?.headers["content-type"]).toBe("application/json");
  });

  it("reads at most maxBodyBytes of a 10 MB body", async () => {
    const target = await receiver(() => ({ status: 200, body: Buffer.alloc(10_000_000, 0x61) }));
    const started = Date.now();
    const response = await sendHttp({ url: target.url }, testEnvironment(), never);
    expect(response.body).toBe("a".repeat(RESPONSE_EXCERPT_BYTES));
    const small = await sendHttp({ url: target.url }, testEnvironment(), never, {
      maxBodyBytes: 10,
    });
    expect(small.body).toBe("a".repeat(10));
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("stops reading an endless body", async () => {
    const chunk = Buffer.alloc(16_384, 0x62);
    const target = await receiver((_request, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {}
        if (!res.destroyed) res.once("drain", pump);
      };
      pump();
      return undefined;
    });
    const response = await sendHttp({ url: target.url }, testEnvironment(), never, {
      maxBodyBytes: 50_000,
    });
    expect(response.body).toBe("b".repeat(50_000));
  });

  it("cuts a multibyte body on a character boundary", async () => {
    const target = await receiver(() => ({ status: 200, body: "€".repeat(1000) }));
    const response = await sendHttp({ url: target.url }, testEnvironment(), never);
    expect(response.body).toBe("€".repeat(341));
  });

  it.each([307, 308])("follows %i with method and body preserved", async (status) => {
    const target = await receiver((request) =>
      request.path === "/start"
        ? { status, headers: { location: "/next?step=2" } }
        : { status: 200, body: "arrived" },
    );
    const response = await sendHttp(
      {
        url: `${target.url}/start`,
        method: "PUT",
        headers: { authorization: "Bearer t" },
        body: "payload",
      },
      testEnvironment(),
      never,
    );
    expect(response).toMatchObject({
      status: 200,
      body: "arrived",
      url: `${target.url}/next?step=2`,
    });
    expect(target.requests.map((r) => [r.method, r.path, r.text])).toEqual([
      ["PUT", "/start", "payload"],
      ["PUT", "/next?step=2", "payload"],
    ]);
    // Same origin: credentials still go along.
    expect(target.requests[1]?.headers.authorization).toBe("Bearer t");
  });

  it("carries only the headers describing the body and client when a redirect changes origin", async () => {
    // Two servers on different ports: different origins.
    const second = await receiver(() => ({ status: 200 }));
    const first = await receiver(() => ({ status: 307, headers: { location: `${second.url}/b` } }));
    const configured = {
      authorization: "Bearer t",
      "proxy-authorization": "Basic cDpx",
      cookie: "s=1",
      "x-api-key": "key-under-any-name",
      "x-signature": "v1,abc",
      "webhook-signature": "v1,def",
      "content-type": "application/json",
      "user-agent": "fraiseql-observers",
    };
    await sendHttp({ url: first.url, headers: configured, body: "{}" }, testEnvironment(), never);
    expect(first.requests[0]?.headers["x-api-key"]).toBe("key-under-any-name");
    expect(second.requests[0]?.text).toBe("{}");
    const headers: Record<string, unknown> = second.requests[0]?.headers ?? {};
    for (const name of Object.keys(configured)) {
      if (name === "content-type" || name === "user-agent") {
        expect(headers[name]).toBe(configured[name]);
      } else expect(headers[name], name).toBeUndefined();
    }
  });

  it.each([301, 302, 303])("refuses a %i redirect", async (status) => {
    const target = await receiver(() => ({
      status,
      headers: { location: "/elsewhere?token=secret" },
    }));
    const failure = await failureOf(sendHttp({ url: target.url }, testEnvironment(), never));
    expect(failure).toMatchObject({
      kind: "permanent",
      code: "REDIRECT_NOT_FOLLOWED",
      httpStatus: status,
    });
    expect(failure.message).toContain(`${target.url}/elsewhere`);
    expect(failure.message).not.toContain("secret");
    expect(target.requests).toHaveLength(1);
  });

  it("refuses a 3xx without a Location", async () => {
    const target = await receiver(() => ({ status: 300 }));
    const failure = await failureOf(sendHttp({ url: target.url }, testEnvironment(), never));
    expect(failure).toMatchObject({ code: "REDIRECT_NOT_FOLLOWED", httpStatus: 300 });
  });

  it("gives up a redirect loop after 5 hops", async () => {
    const target = await receiver(() => ({ status: 308, headers: { location: "/again" } }));
    const failure = await failureOf(sendHttp({ url: target.url }, testEnvironment(), never));
    expect(failure).toMatchObject({ kind: "permanent", code: "REDIRECT_NOT_FOLLOWED" });
    expect(failure.message).toContain("more than 5 redirects");
    expect(target.requests).toHaveLength(6);
  });

  it("checks every hop against the SSRF guard", async () => {
    const { calls, fetch } = stubFetch({
      "https://hooks.example.com/in": () =>
        new Response(null, { status: 307, headers: { location: "http://127.0.0.1:8080/admin" } }),
    });
    const environment = testEnvironment({ fetch, allowPrivateTargets: false });
    const failure = await failureOf(
      sendHttp({ url: "https://hooks.example.com/in" }, environment, never),
    );
    expect(failure).toMatchObject({ kind: "permanent", code: "TARGET_FORBIDDEN" });
    expect(failure.message).toContain("127.0.0.1:8080");
    expect(failure.message).toContain("redirect from hooks.example.com");
    expect(calls.map((call) => call.url)).toEqual(["https://hooks.example.com/in"]);
    expect(calls[0]?.init?.redirect).toBe("manual");
  });

  it("refuses a redirect from https to http", async () => {
    const { fetch } = stubFetch({
      "https://hooks.example.com/in": () =>
        new Response(null, { status: 308, headers: { location: "http://hooks.example.com/in" } }),
    });
    const failure = await failureOf(
      sendHttp({ url: "https://hooks.example.com/in" }, testEnvironment({ fetch }), never),
    );
    expect(failure).toMatchObject({ code: "REDIRECT_NOT_FOLLOWED" });
    expect(failure.message).toContain("plain http");
  });

  it("refuses private targets before sending anything", async () => {
    const { calls, fetch } = stubFetch({});
    const environment = testEnvironment({ fetch, allowPrivateTargets: false });
    for (const url of [
      "http://127.1:9/x?token=secret",
      "http://[::ffff:7f00:1]/",
      "http://localhost./",
    ]) {
      const failure = await failureOf(sendHttp({ url }, environment, never));
      expect(failure).toMatchObject({ kind: "permanent", code: "TARGET_FORBIDDEN" });
      expect(failure.message).toContain("OBSERVERS_ALLOW_PRIVATE_TARGETS");
      expect(failure.message).not.toContain("secret");
    }
    const first = await failureOf(sendHttp({ url: "http://127.1:9/" }, environment, never));
    expect(first.message).toContain("127.0.0.1:9");
    expect(calls).toHaveLength(0);
  });

  it.each([
    ["garbage", "not a url", "not a valid"],
    ["a relative URL", "/relative/path", "not a valid"],
    ["ftp", "ftp://example.com/file", "http or https"],
    ["javascript:", "javascript:alert(1)", "http or https"],
    ["2049 ASCII bytes", `https://example.com/${"a".repeat(2029)}`, "2048 bytes"],
    ["1020 characters but 2060 bytes", `https://example.com/${"é".repeat(1020)}`, "2048 bytes"],
    ["percent-encoding past 2048", `https://example.com/${"{".repeat(1000)}`, "once normalised"],
    ["credentials", "https://user:pass@example.com/", "credentials"],
  ])("refuses a URL: %s", async (_label, url, reason) => {
    const { calls, fetch } = stubFetch({});
    const failure = await failureOf(sendHttp({ url }, testEnvironment({ fetch }), never));
    expect(failure).toMatchObject({ kind: "permanent", code: "INVALID_URL" });
    expect(failure.message).toContain(reason);
    expect(failure.message).not.toContain("pass");
    expect(calls).toHaveLength(0);
  });

  it("accepts a URL of exactly 2048 bytes", async () => {
    const url = `https://example.com/${"a".repeat(2028)}`;
    expect(new TextEncoder().encode(url).byteLength).toBe(2048);
    const { calls, fetch } = stubFetch({ [url]: () => new Response("ok") });
    await expect(sendHttp({ url }, testEnvironment({ fetch }), never)).resolves.toMatchObject({
      status: 200,
    });
    expect(calls).toHaveLength(1);
  });

  it("refuses an invalid method or header without quoting the value", async () => {
    const environment = testEnvironment({ fetch: stubFetch({}).fetch });
    const url = "https://example.com/";
    for (const request of [
      { url, method: "GET", body: "x" },
      { url, method: "TRACE" },
      { url, method: "BAD METHOD" },
      { url, headers: { "x-token": "secret\r\ninjected: 1" } },
      { url, headers: { "bad name": "v" } },
    ]) {
      const failure = await failureOf(sendHttp(request, environment, never));
      expect(failure).toMatchObject({ kind: "permanent", code: "INVALID_REQUEST" });
      expect(failure.message).not.toContain("secret");
    }
  });

  it("reports a refused connection as a transient network error", async () => {
    const closed = await startReceiver();
    await closed.close();
    const failure = await failureOf(sendHttp({ url: `${closed.url}/x` }, testEnvironment(), never));
    expect(failure).toMatchObject({ kind: "transient", code: "NETWORK_ERROR" });
    expect(failure.message).toContain(new URL(closed.url).host);
    expect(failure.message).toContain("ECONNREFUSED");
  });

  it("reports a fetch rejection as a transient network error", async () => {
    const fetch = (async () => {
      throw new TypeError("fetch failed", {
        cause: new Error("getaddrinfo ENOTFOUND nowhere.example"),
      });
    }) as typeof globalThis.fetch;
    const failure = await failureOf(
      sendHttp({ url: "https://nowhere.example/" }, testEnvironment({ fetch }), never),
    );
    expect(failure).toMatchObject({ kind: "transient", code: "NETWORK_ERROR" });
    expect(failure.message).toBe(
      "request to nowhere.example failed: fetch failed: getaddrinfo ENOTFOUND nowhere.example",
    );
  });

  it("keeps only the origin of a URL quoted in a fetch error (Deno quotes it)", async () => {
    const fetch = (async () => {
      throw new TypeError("error sending request for url (https://h.example/x?token=secret)");
    }) as typeof globalThis.fetch;
    const failure = await failureOf(
      sendHttp({ url: "https://h.example/x?token=secret" }, testEnvironment({ fetch }), never),
    );
    expect(failure.message).toBe(
      "request to h.example failed: error sending request for url (https://h.example/…)",
    );
  });

  it("rethrows the abort reason untouched", async () => {
    const target = await receiver(() => new Promise<undefined>(() => {}));
    const controller = new AbortController();
    const reason = new Error("shutdown");
    const sending = sendHttp({ url: target.url }, testEnvironment(), controller.signal);
    await target.waitFor(1);
    controller.abort(reason);
    await expect(sending).rejects.toBe(reason);

    const already = new AbortController();
    already.abort("timeout");
    const { calls, fetch } = stubFetch({});
    await expect(
      sendHttp({ url: target.url }, testEnvironment({ fetch }), already.signal),
    ).rejects.toBe("timeout");
    expect(calls).toHaveLength(0);
  });

  it("rethrows the abort reason while reading the body", async () => {
    const target = await receiver((_request, res) => {
      res.writeHead(200);
      res.write("partial");
      return undefined;
    });
    const controller = new AbortController();
    const reason = new Error("timeout");
    const sending = sendHttp({ url: target.url }, testEnvironment(), controller.signal);
    setTimeout(() => controller.abort(reason), 50);
    await expect(sending).rejects.toBe(reason);
  });
});

describe("expectSuccess", () => {
  const environment = testEnvironment({ clock: fixedClock });
  const respond = (
    status: number,
    headers: Record<string, string> = {},
    body = "",
    url = "https://example.com:8443/hook?token=secret",
  ): HttpResponse => ({ status, headers: new Headers(headers), body, url });

  it("accepts 2xx", () => {
    expect(expectSuccess(respond(200, {}, "ok"), environment)).toEqual({
      message: "HTTP 200",
      httpStatus: 200,
      responseExcerpt: "ok",
    });
    expect(expectSuccess(respond(204), environment)).toEqual({
      message: "HTTP 204",
      httpStatus: 204,
    });
    // abort-message only matters on a failure.
    const aborted = respond(202, { "webhook-delivery": "abort-message" });
    expect(expectSuccess(aborted, environment).httpStatus).toBe(202);
  });

  it.each([
    [400, {}, "permanent", "HTTP 400 Bad Request from example.com:8443", undefined],
    [404, {}, "permanent", "HTTP 404 Not Found from example.com:8443", undefined],
    [302, {}, "permanent", "HTTP 302 from example.com:8443", undefined],
    [408, {}, "transient", "HTTP 408 Request Timeout from example.com:8443", undefined],
    [
      429,
      { "retry-after": "30" },
      "transient",
      "HTTP 429 Too Many Requests from example.com:8443",
      30_000,
    ],
    [429, { "retry-after": "Thu, 01 Jan 2026 00:02:00 GMT" }, "transient", "HTTP 429", 120_000],
    [500, {}, "transient", "HTTP 500 Internal Server Error from example.com:8443", undefined],
    [
      503,
      { "retry-after": "7" },
      "transient",
      "HTTP 503 Service Unavailable from example.com:8443",
      7_000,
    ],
    [599, {}, "transient", "HTTP 599 from example.com:8443", undefined],
    [400, { "retry-after": "30" }, "permanent", "HTTP 400", undefined],
  ] as const)("reads %i %j as %s", (status, headers, kind, message, retryAfterMs) => {
    let failure: unknown;
    try {
      expectSuccess(respond(status, headers, "why"), environment);
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(ActionFailure);
    expect(failure).toMatchObject({ kind, code: "HTTP_STATUS", httpStatus: status, retryAfterMs });
    expect(failure).toMatchObject({ responseExcerpt: "why" });
    expect((failure as ActionFailure).message).toContain(message);
    expect((failure as ActionFailure).message).not.toContain("secret");
  });

  it("honours webhook-delivery: abort-message", async () => {
    for (const status of [410, 503]) {
      const response = respond(status, { "webhook-delivery": "Abort-Message" }, "stop");
      const failure = await failureOf(() => expectSuccess(response, environment));
      expect(failure).toMatchObject({
        kind: "permanent",
        code: "RECEIVER_ABORTED",
        httpStatus: status,
        responseExcerpt: "stop",
      });
    }
  });

  it("bounds the excerpt", async () => {
    const failure = await failureOf(() =>
      expectSuccess(respond(500, {}, "é".repeat(5000)), environment),
    );
    expect(failure.responseExcerpt).toBe("é".repeat(RESPONSE_EXCERPT_BYTES / 2));
  });
});

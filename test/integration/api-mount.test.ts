/**
 * The API as a guest in a host Hono app (`host.route("/", api)` and `host.route("/observers",
 * api)`): the host's routes, not-found and error handlers answer exactly as without the mount
 * (status, headers, body), whether the host registers its routes before or after mounting; the
 * API's own paths authenticate, limit bodies and answer problem documents for their errors and
 * unknown paths; the docs page links only to same-origin relative URLs that resolve, under either
 * mount and with or without a trailing slash, to the assets and the document; and the document's
 * relative server URL leads a client back to the API under the prefix.
 */
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDocsAssets } from "../../scripts/generate-docs-assets.ts";
import { createObserversApi } from "../../src/api/app.ts";
import { DOCS_ASSETS } from "../../src/api/docs-manifest.generated.ts";
import { MAX_BODY_BYTES } from "../../src/api/limits.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { problem } from "../support/api-client.ts";
import { expectConsoleServed } from "../support/console-check.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { expectDocsServed, linksOf } from "../support/docs-check.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-mount-tests-0123";
const ORIGIN = "http://host.test";
const auth = { authorization: `Bearer ${ADMIN}` };

type Api = ReturnType<typeof createObserversApi>;

/** The host's own routes and handlers, on `host`. */
function addHostRoutes(host: Hono): Hono {
  host.get("/", (c) => c.text("host home"));
  host.get("/api/health", (c) => c.json({ ok: true }, 200, { "x-host": "health" }));
  host.post("/api/things", async (c) => c.json({ bytes: (await c.req.text()).length }, 201));
  host.get("/docs", (c) => c.html("<p>the host's own docs</p>"));
  host.get("/api/boom", () => {
    throw new Error("host failure");
  });
  host.notFound((c) => c.text("host: nothing here", 404, { "x-host": "404" }));
  host.onError((error, c) => c.text(`host error: ${error.message}`, 500, { "x-host": "error" }));
  return host;
}

/** A host app with the API mounted at `prefix`, before or after the host's own routes. */
function mounted(api: Api, prefix: string, order: "before" | "after"): Hono {
  const host = new Hono();
  if (order === "before") host.route(prefix, api);
  addHostRoutes(host);
  if (order === "after") host.route(prefix, api);
  return host;
}

/** The host's requests, each answered the same with or without the API. */
const HOST_REQUESTS: [string, RequestInit?][] = [
  ["/"],
  ["/api/health"],
  ["/api/health", { method: "HEAD" }],
  // Over the API's body limit: only the API's own paths refuse it.
  ["/api/things", { method: "POST", body: "x".repeat(MAX_BODY_BYTES * 2) }],
  ["/docs"],
  ["/api/boom"],
  ["/api/nothing-here"],
  ["/api/nothing-here", { headers: auth }],
  ["/openapi.json"],
  ["/observers"],
  // Under the prefix but not the API's: the host's 404, whatever the body's size.
  ["/observers/elsewhere", { method: "POST", body: "x".repeat(MAX_BODY_BYTES * 2) }],
  ["/api/observersx"],
  ["/api/keysx"],
];

async function snapshot(response: Response) {
  return {
    status: response.status,
    headers: [...response.headers.entries()],
    body: await response.text(),
  };
}

let db: TestDatabase;
let api: Api;
let rootedApi: Api;
const failingRuntime = stubRuntime();

beforeAll(async () => {
  db = await createTestDatabase("api_mount");
  failingRuntime.reload = async () => {
    throw new Error("reload failed inside the runtime");
  };
  api = createObserversApi({
    sql: db.client,
    runtime: failingRuntime,
    adminToken: ADMIN,
    logger: silentLogger,
  });
  rootedApi = createObserversApi({
    sql: db.client,
    runtime: stubRuntime(),
    adminToken: ADMIN,
    logger: silentLogger,
    rootDocs: true,
  });
});

afterAll(async () => {
  await db?.drop();
});

describe.each([
  ["/", "before"],
  ["/", "after"],
  ["/observers", "before"],
  ["/observers", "after"],
] as const)("mounted at %s (%s the host's routes)", (prefix, order) => {
  const base = prefix === "/" ? "" : prefix;
  let host: Hono;
  beforeAll(() => {
    host = mounted(api, prefix, order);
  });

  it("leaves every host route, its not-found and its error handler exactly as they were", async () => {
    const bare = addHostRoutes(new Hono());
    for (const [path, init] of HOST_REQUESTS) {
      const expected = await snapshot(await bare.request(`${ORIGIN}${path}`, init));
      const actual = await snapshot(await host.request(`${ORIGIN}${path}`, init));
      expect(actual, `${init?.method ?? "GET"} ${path}`).toEqual(expected);
    }
    // The baseline itself is the host's: its answers, not the API's.
    expect((await bare.request("/api/health")).status).toBe(200);
    expect(await (await bare.request("/api/nothing-here")).text()).toBe("host: nothing here");
    expect(await (await bare.request("/api/boom")).text()).toBe("host error: host failure");
    expect((await bare.request("/api/things", HOST_REQUESTS[3]?.[1])).status).toBe(201);
  });

  it("authenticates its own routes: 401 without a token, 200 with one", async () => {
    const anonymous = await host.request(`${base}/api/observers`);
    expect((await problem(anonymous, 401)).code).toBe("UNAUTHORIZED");
    expect(anonymous.headers.get("www-authenticate")).toBe("Bearer");
    const keys = await host.request(`${base}/api/keys`);
    expect((await problem(keys, 401)).code).toBe("UNAUTHORIZED");
    const listed = await host.request(`${base}/api/observers`, { headers: auth });
    expect(listed.status).toBe(200);
    expect(await listed.json()).toMatchObject({ data: [], total_count: 0 });
    expect((await host.request(`${base}/api/keys`, { headers: auth })).status).toBe(200);
    const health = await host.request(`${base}/api/observers/runtime/health`);
    expect(health.status).toBe(200);
  });

  it("takes the live feed's token from the query (browsers cannot set WebSocket headers), there only", async () => {
    // Past authentication, the live route itself answers: this API was built without `live`.
    const live = await host.request(`${base}/api/observers/ws?token=${ADMIN}`);
    expect((await problem(live, 404)).detail).toBe("this server does not offer live notifications");
    expect((await problem(await host.request(`${base}/api/observers/ws`), 401)).code).toBe(
      "UNAUTHORIZED",
    );
    const elsewhere = await host.request(`${base}/api/observers?token=${ADMIN}`);
    expect((await problem(elsewhere, 401)).code).toBe("UNAUTHORIZED");
  });

  it("lets a read key ask its reading POSTs under the prefix too, and nothing else", async () => {
    const issued = await host.request(`${base}/api/keys`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ name: `reader${base.replaceAll("/", "-")}-${order}`, scope: "read" }),
    });
    expect(issued.status).toBe(201);
    const { token } = (await issued.json()) as { token: string };
    const reader = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const missing = "00000000-0000-4000-8000-000000000000";
    // Allowed, so the observer's absence answers (404), not the key's scope (403).
    const tested = await host.request(`${base}/api/observers/${missing}/test`, {
      method: "POST",
      headers: reader,
      body: JSON.stringify({
        event: { object_type: "Order", modification_type: "INSERT", object_data: {} },
      }),
    });
    expect((await problem(tested, 404)).code).toBe("NOT_FOUND");
    const created = await host.request(`${base}/api/observers`, {
      method: "POST",
      headers: reader,
      body: JSON.stringify({ name: "nope", actions: [{ type: "log" }] }),
    });
    expect(created.status).toBe(403);
  });

  it("answers its own problem documents: unknown paths, bad input, bodies over the limit, failures", async () => {
    for (const path of ["/api/observers/a/b/c", "/api/keys/a/b", "/api/observers/docs/nope.js"]) {
      const unknown = await host.request(`${base}${path}`, { headers: auth });
      expect((await problem(unknown, 404)).code).toBe("NOT_FOUND");
    }
    const invalid = await host.request(`${base}/api/observers`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ name: "" }),
    });
    expect((await problem(invalid, 400)).code).toBe("INVALID_CONFIG");
    const large = await host.request(`${base}/api/observers`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ name: "x".repeat(MAX_BODY_BYTES) }),
    });
    expect((await problem(large, 413)).code).toBe("PAYLOAD_TOO_LARGE");
    // Thrown inside the API's handler: the API's onError, not the host's.
    const failed = await host.request(`${base}/api/observers/runtime/reload`, {
      method: "POST",
      headers: auth,
    });
    const body = await problem(failed, 500);
    expect(body.code).toBe("INTERNAL");
    expect(body.detail).not.toContain("reload failed");
  });

  it("serves the document at api/observers/openapi.json, its server leading back to the API", async () => {
    const documentUrl = `${ORIGIN}${base}/api/observers/openapi.json`;
    const response = await host.request(documentUrl);
    expect(response.status).toBe(200);
    const document = (await response.json()) as {
      servers: { url: string }[];
      paths: Record<string, unknown>;
    };
    expect(document.paths["/api/observers/runtime/health"]).toBeDefined();
    expect(document.servers).toEqual([{ url: "../..", description: expect.any(String) }]);
  });

  for (const slash of ["", "/"]) {
    it(`serves the docs page at api/observers/docs${slash}: relative links that resolve, no external origin`, async () => {
      await expectDocsServed(
        (url) => host.request(url),
        `${ORIGIN}${base}/api/observers/docs${slash}`,
        `${ORIGIN}${base}`,
      );
    });

    it(`serves the console at api/observers/console${slash}: relative links, no inline code`, async () => {
      await expectConsoleServed(
        (url) => host.request(url),
        `${ORIGIN}${base}/api/observers/console${slash}`,
        `${ORIGIN}${base}`,
      );
    });
  }

  it("leaves /console to the host (only a ready server's rootDocs claims it)", async () => {
    expect((await host.request(`${ORIGIN}${base}/console`)).status).toBe(404);
    expect((await host.request(`${ORIGIN}${base}/api/observers/console/nope.js`)).status).toBe(404);
  });
});

describe("in a host that ignores trailing slashes (strict: false)", () => {
  it("serves the docs page at docs/ with links resolved from the URL the browser has", async () => {
    const host = new Hono({ strict: false });
    host.route("/observers", api);
    for (const page of ["docs", "docs/"]) {
      await expectDocsServed(
        (url) => host.request(url),
        `${ORIGIN}/observers/api/observers/${page}`,
        `${ORIGIN}/observers`,
      );
    }
  });
});

describe("standalone with rootDocs (the ready servers)", () => {
  it("also serves /openapi.json and /docs, whose links resolve from the root", async () => {
    const document = await rootedApi.request(`${ORIGIN}/openapi.json`);
    expect(document.status).toBe(200);
    expect(((await document.json()) as { servers: unknown }).servers).toEqual([
      { url: ".", description: expect.any(String) },
    ]);
    for (const pageUrl of [`${ORIGIN}/docs`, `${ORIGIN}/docs/`]) {
      await expectDocsServed((url) => rootedApi.request(url), pageUrl, ORIGIN);
      const links = linksOf(await (await rootedApi.request(pageUrl)).text());
      expect(links.map((link) => new URL(link, pageUrl).pathname).sort()).toEqual(
        [
          "/api/observers/openapi.json",
          `/api/observers/docs/${DOCS_ASSETS.script.file}`,
          `/api/observers/docs/${DOCS_ASSETS.style.file}`,
        ].sort(),
      );
    }
  });

  it("also serves the console at /console and /console/, whose links resolve from the root", async () => {
    for (const pageUrl of [`${ORIGIN}/console`, `${ORIGIN}/console/`]) {
      await expectConsoleServed((url) => rootedApi.request(url), pageUrl, ORIGIN);
    }
  });

  it("serves each asset exactly as swagger-ui-dist's, less its source-map comment", async () => {
    for (const asset of loadDocsAssets().assets) {
      const response = await api.request(`/api/observers/docs/${asset.file}`);
      expect(response.headers.get("content-type")).toBe(asset.type);
      expect((await response.text()) === asset.text, asset.file).toBe(true);
    }
  });

  it("keeps its own problem document for unknown paths anywhere", async () => {
    expect((await problem(await api.request("/nowhere"), 404)).code).toBe("NOT_FOUND");
    expect((await problem(await api.request("/docs"), 404)).code).toBe("NOT_FOUND");
    expect((await problem(await api.request("/api/health"), 404)).code).toBe("NOT_FOUND");
  });
});

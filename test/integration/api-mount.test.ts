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
import { createObserversApi } from "../../src/api/app.ts";
import { DOCS_ASSETS } from "../../src/api/docs-manifest.generated.ts";
import { MAX_BODY_BYTES } from "../../src/api/limits.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import { problem } from "../support/api-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

const ADMIN = "admin-token-for-mount-tests-0123";
const ORIGIN = "http://host.test";
const auth = { authorization: `Bearer ${ADMIN}` };

type Api = ReturnType<typeof createObserversApi>;
type App = { request(input: string, init?: RequestInit): Response | Promise<Response> };

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

/** The relative URLs of a page's `href`, `src` and `data-url` attributes. */
function linksOf(html: string): string[] {
  return [...html.matchAll(/\b(?:href|src|data-url)="([^"]*)"/g)].map((m) => m[1] as string);
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
    // OpenAPI: a relative server URL is relative to where the document was fetched from; an
    // operation's URL is the server's URL (without a trailing slash) followed by its path.
    const server = new URL(document.servers[0]?.url ?? "", documentUrl).href.replace(/\/$/, "");
    expect(server).toBe(`${ORIGIN}${base}`);
    const health = await host.request(`${server}/api/observers/runtime/health`);
    expect(health.status).toBe(200);
  });

  for (const slash of ["", "/"]) {
    it(`serves the docs page at api/observers/docs${slash}, every link relative and resolving`, async () => {
      const pageUrl = `${ORIGIN}${base}/api/observers/docs${slash}`;
      const page = await host.request(pageUrl);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
      const html = await page.text();
      const links = linksOf(html);
      expect(links).toHaveLength(3);
      for (const link of links) {
        expect(link, "relative, same origin").toMatch(/^\.\.?\//);
        const target = new URL(link, pageUrl);
        expect(target.origin).toBe(ORIGIN);
        expect(target.pathname.startsWith(`${base}/api/observers/`)).toBe(true);
      }
      const fetched = await Promise.all(
        links.map(async (link) => host.request(new URL(link, pageUrl).href)),
      );
      const byType = Object.fromEntries(
        fetched.map((r) => [r.headers.get("content-type")?.split(";")[0], r]),
      );
      expect(Object.keys(byType).sort()).toEqual([
        "application/json",
        "text/css",
        "text/javascript",
      ]);
      for (const response of fetched) expect(response.status).toBe(200);
      for (const type of ["text/css", "text/javascript"]) {
        expect(byType[type]?.headers.get("cache-control")).toBe(
          "public, max-age=31536000, immutable",
        );
      }
      expect(await byType["text/javascript"]?.text()).toContain("SwaggerUIBundle");
      expect(await byType["text/css"]?.text()).toContain(".swagger-ui");
    });
  }

  it("forbids every external origin on the docs page and allows its boot script by hash", async () => {
    const page = await host.request(`${base}/api/observers/docs`);
    const policy = page.headers.get("content-security-policy") ?? "";
    const directives = new Map(
      policy.split(";").map((d) => {
        const [name, ...sources] = d.trim().split(/\s+/);
        return [name as string, sources];
      }),
    );
    expect(directives.get("default-src")).toEqual(["'none'"]);
    for (const [name, sources] of directives) {
      for (const source of sources) {
        expect(source, `${name} ${source}`).toMatch(
          /^(?:'self'|'none'|'unsafe-inline'|data:|'sha256-[A-Za-z0-9+/=]+')$/,
        );
      }
    }
    const html = await page.text();
    expect(html).not.toMatch(/https?:|\/\/[a-z]/i);
    const inline = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? "";
    expect(inline).toContain("SwaggerUIBundle(");
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(inline));
    const hash = Buffer.from(digest).toString("base64");
    expect(directives.get("script-src")).toEqual(["'self'", `'sha256-${hash}'`]);
  });
});

describe("standalone with rootDocs (the ready servers)", () => {
  it("also serves /openapi.json and /docs, whose links resolve at the root", async () => {
    const document = await rootedApi.request(`${ORIGIN}/openapi.json`);
    expect(document.status).toBe(200);
    const { servers } = (await document.json()) as { servers: { url: string }[] };
    expect(new URL(servers[0]?.url ?? "", `${ORIGIN}/openapi.json`).href).toBe(`${ORIGIN}/`);
    for (const pageUrl of [`${ORIGIN}/docs`, `${ORIGIN}/docs/`]) {
      const page = await rootedApi.request(pageUrl);
      expect(page.status).toBe(200);
      const links = linksOf(await page.text());
      expect(links.map((link) => new URL(link, pageUrl).pathname).sort()).toEqual(
        [
          "/api/observers/openapi.json",
          `/api/observers/docs/${DOCS_ASSETS.script.file}`,
          `/api/observers/docs/${DOCS_ASSETS.style.file}`,
        ].sort(),
      );
      for (const link of links) {
        expect((await rootedApi.request(new URL(link, pageUrl).href)).status).toBe(200);
      }
    }
  });

  it("keeps its own problem document for unknown paths anywhere", async () => {
    expect((await problem(await api.request("/nowhere"), 404)).code).toBe("NOT_FOUND");
    expect((await problem(await api.request("/docs"), 404)).code).toBe("NOT_FOUND");
    expect((await problem(await api.request("/api/health"), 404)).code).toBe("NOT_FOUND");
  });
});

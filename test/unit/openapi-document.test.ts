/**
 * The OpenAPI 3.1 document of the management API against the app itself: every route the app
 * registers is documented (and nothing else), every operation has its success, auth and body
 * declarations, every `$ref` resolves, every schema compiles (JSON Schema 2020-12), the action
 * schemas generated from the actions' own definitions are there and validate, and the document
 * and its docs page are served without a token.
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { beforeAll, describe, expect, it } from "vitest";
import { actionConfigSchema } from "../../src/actions/config.ts";
import { ACTION_TYPES } from "../../src/actions/types.ts";
import { createObserversApi } from "../../src/api/app.ts";
import { CONSOLE_PATH } from "../../src/api/console.ts";
import { DOCS_PATH, DOCUMENT_PATH } from "../../src/api/docs.ts";
import { openApiDocument } from "../../src/api/openapi.ts";
import { actionSchemaName } from "../../src/api/schemas/action-docs.ts";
import { silentLogger } from "../../src/ports/logger.ts";
import type { SqlClient, SqlExecutor } from "../../src/ports/sql.ts";
import { safeParseConfig } from "../../src/validation.ts";
import { stubRuntime } from "../support/stub-runtime.ts";

type Json = Record<string, unknown>;

interface Operation {
  method: string;
  path: string;
  operation: Json;
}

const ADMIN = "admin-token-for-openapi-tests-0123";
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
/** Answers the app's routes without a token. */
const HEALTH = "GET /api/observers/runtime/health";
const LIVE = "GET /api/observers/ws";

/** No database: queries answer no rows (enough for the requests below). */
const executor: SqlExecutor = { query: async () => [] };
const sql: SqlClient = { ...executor, transaction: (fn) => fn(executor), close: async () => {} };

const runtime = stubRuntime();

let app: ReturnType<typeof createObserversApi>;
let document: Json;
let operations: Operation[];

function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (addFormats as unknown as (ajv: Ajv2020) => void)(ajv);
  return ajv;
}

function escapePointer(segment: string): string {
  return segment.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** The value a local `$ref` (`#/a/b`) points at, or undefined. */
function resolve(ref: string): unknown {
  if (!ref.startsWith("#/")) return undefined;
  let node: unknown = document;
  for (const raw of ref.slice(2).split("/")) {
    const key = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (typeof node !== "object" || node === null || !Object.hasOwn(node, key)) return undefined;
    node = (node as Json)[key];
  }
  return node;
}

/** Every `$ref` in `value`, with where it was found. */
function refsOf(value: unknown, at = "#"): [string, string][] {
  if (Array.isArray(value)) return value.flatMap((item, i) => refsOf(item, `${at}/${i}`));
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([key, item]): [string, string][] =>
    key === "$ref" && typeof item === "string"
      ? [[item, at]]
      : refsOf(item, `${at}/${escapePointer(key)}`),
  );
}

beforeAll(() => {
  app = createObserversApi({ sql, runtime, adminToken: ADMIN, logger: silentLogger });
  document = openApiDocument(app);
  operations = Object.entries(document.paths as Record<string, Json>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, operation]) => ({
        method: method.toUpperCase(),
        path,
        operation: operation as Json,
      })),
  );
});

describe("the OpenAPI document", () => {
  it("is OpenAPI 3.1.0 with a bearer scheme required by default", () => {
    expect(document.openapi).toBe("3.1.0");
    expect(document.security).toEqual([{ bearer: [] }]);
    const components = document.components as { securitySchemes: Json };
    expect(components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    expect(operations.length).toBeGreaterThan(20);
  });

  it("documents every route the app registers, and only those", () => {
    const registered = new Set(
      app.routes
        .filter((route) => route.method !== "ALL")
        .filter((route) => !route.path.startsWith(DOCS_PATH) && route.path !== DOCUMENT_PATH)
        // The console is a page and its assets, not an API operation.
        .filter((route) => !route.path.startsWith(CONSOLE_PATH))
        .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, "{$1}")}`),
    );
    const documented = new Set(operations.map((op) => `${op.method} ${op.path}`));
    expect([...registered].sort()).toEqual([...documented].sort());
    expect(documented.size).toBe(operations.length);
  });

  it("registers literal paths before the parameters that would shadow them", () => {
    // Hono answers with the first matching route: /dlq/stats after /{id}/stats is unreachable.
    const first = new Map<string, number>();
    app.routes.forEach((route, index) => {
      const key = `${route.method} ${route.path}`;
      if (route.method !== "ALL" && !first.has(key)) first.set(key, index);
    });
    const routes = [...first.entries()].map(([key, index]) => {
      const [method = "", path = ""] = key.split(" ");
      return { method, path, segments: path.split("/"), index };
    });
    const shadowed: string[] = [];
    for (const literal of routes) {
      for (const param of routes) {
        if (literal.method !== param.method) continue;
        if (literal.segments.length !== param.segments.length) continue;
        const pairs = literal.segments.map((segment, i) => [segment, param.segments[i] ?? ""]);
        const overlap = pairs.every(
          ([a = "", b = ""]) => a === b || a.startsWith(":") || b.startsWith(":"),
        );
        const moreSpecific =
          pairs.some(([a = "", b = ""]) => !a.startsWith(":") && b.startsWith(":")) &&
          pairs.every(([a = "", b = ""]) => !a.startsWith(":") || b.startsWith(":"));
        if (overlap && moreSpecific && literal.index > param.index) {
          shadowed.push(`${literal.method} ${literal.path} after ${param.path}`);
        }
      }
    }
    expect(shadowed).toEqual([]);
  });

  it("gives every operation a 2xx (101 for the WebSocket), and a problem+json 401 unless it needs no token", () => {
    for (const { method, path, operation } of operations) {
      const where = `${method} ${path}`;
      const responses = operation.responses as Record<string, Json>;
      const success = where === LIVE ? /^101$/ : /^2\d\d$/;
      expect(
        Object.keys(responses).some((status) => success.test(status)),
        where,
      ).toBe(true);
      if (where === HEALTH) {
        expect(operation.security, where).toEqual([]);
        expect(responses["401"], where).toBeUndefined();
        continue;
      }
      expect(operation.security, `${where} overrides the default security`).toBeUndefined();
      const content = responses["401"]?.content as Json | undefined;
      expect(content && Object.keys(content), where).toEqual(["application/problem+json"]);
      expect(content?.["application/problem+json"], where).toEqual({
        schema: { $ref: "#/components/schemas/Problem" },
      });
      // Every problem the operation declares is a problem document.
      for (const [status, response] of Object.entries(responses)) {
        if (!/^[45]/.test(status) || where === HEALTH) continue;
        expect(Object.keys(response.content as Json), `${where} ${status}`).toContain(
          "application/problem+json",
        );
      }
    }
  });

  it("answers 401 without a token wherever it says so, and the health without one", async () => {
    for (const { method, path } of operations) {
      const url = path.replace(/\{\w+\}/g, "3f1c2a5e-8d4b-4f7a-9c21-6b0e5d3a1f42");
      const response = await app.request(url, { method });
      const where = `${method} ${path}`;
      if (where === HEALTH) {
        expect(response.status, where).toBe(200);
        continue;
      }
      expect(response.status, where).toBe(401);
      expect(response.headers.get("content-type"), where).toBe("application/problem+json");
      expect(((await response.json()) as Json).code, where).toBe("UNAUTHORIZED");
    }
  });

  it("declares a JSON request body exactly for the POST and PATCH operations that read one", async () => {
    const writes = operations.filter((op) => op.method === "POST" || op.method === "PATCH");
    expect(writes.length).toBeGreaterThan(5);
    for (const { method, path, operation } of writes) {
      const where = `${method} ${path}`;
      // Whether the route reads a body: a malformed one is refused as such only if it does.
      const url = path.replace(/\{\w+\}/g, "3f1c2a5e-8d4b-4f7a-9c21-6b0e5d3a1f42");
      const response = await app.request(url, {
        method,
        headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
        body: "{not json",
      });
      const readsBody =
        response.status === 400 && ((await response.json()) as Json).code === "MALFORMED_JSON";
      const body = operation.requestBody as Json | undefined;
      expect(body !== undefined, `${where}: reads a body = ${readsBody}`).toBe(readsBody);
      if (!body) continue;
      expect(body.required, where).toBe(true);
      const content = body.content as Record<string, Json>;
      expect(Object.keys(content), where).toEqual(["application/json"]);
      expect(content["application/json"]?.schema, where).toBeTypeOf("object");
    }
  });

  it("resolves every $ref", () => {
    const refs = refsOf(document);
    expect(refs.length).toBeGreaterThan(50);
    const broken = refs.filter(([ref]) => resolve(ref) === undefined);
    expect(broken).toEqual([]);
  });

  it("compiles every schema with ajv (JSON Schema 2020-12)", () => {
    const ajv = newAjv();
    ajv.addSchema(document, "openapi.json");
    const schemas = (document.components as { schemas: Record<string, unknown> }).schemas;
    for (const name of Object.keys(schemas)) {
      const pointer = `openapi.json#/components/schemas/${escapePointer(name)}`;
      expect(() => ajv.getSchema(pointer), name).not.toThrow();
      expect(ajv.getSchema(pointer), name).toBeTypeOf("function");
    }
    // And every schema of every operation (parameters, bodies, responses) in place.
    const inline = refsOf(document.paths).length;
    expect(inline).toBeGreaterThan(0);
    let compiled = 0;
    for (const { method, path, operation } of operations) {
      const base = `openapi.json#/paths/${escapePointer(path)}/${method.toLowerCase()}`;
      const body = (operation.requestBody as { content?: Record<string, unknown> } | undefined)
        ?.content;
      const pointers = [
        ...Object.keys(body ?? {}).map(
          (type) => `${base}/requestBody/content/${escapePointer(type)}/schema`,
        ),
        ...((operation.parameters as unknown[] | undefined) ?? []).map(
          (_, i) => `${base}/parameters/${i}/schema`,
        ),
        ...Object.entries(operation.responses as Record<string, Json>).flatMap(
          ([status, response]) =>
            Object.keys((response.content as Json | undefined) ?? {}).map(
              (type) => `${base}/responses/${status}/content/${escapePointer(type)}/schema`,
            ),
        ),
      ];
      for (const pointer of pointers) {
        expect(ajv.getSchema(pointer), pointer).toBeTypeOf("function");
        compiled++;
      }
    }
    expect(compiled).toBeGreaterThan(operations.length);
  });

  it("has one action schema per action type, generated from the action's definition", () => {
    const schemas = (document.components as { schemas: Record<string, Json> }).schemas;
    for (const type of ACTION_TYPES) {
      expect(schemas[actionSchemaName(type)], type).toBeTypeOf("object");
    }
    expect(schemas.ActionConfig?.oneOf).toEqual(
      ACTION_TYPES.map((type) => ({ $ref: `#/components/schemas/${actionSchemaName(type)}` })),
    );

    const ajv = newAjv();
    ajv.addSchema(document, "openapi.json");
    const validate = ajv.getSchema("openapi.json#/components/schemas/ActionWebhook");
    if (!validate) throw new Error("no ActionWebhook");
    const valid = {
      type: "webhook",
      url: "https://example.com/hook",
      method: "PUT",
      headers: { "x-team": "ops" },
      signing_secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      signature_scheme: "both",
    };
    expect(safeParseConfig(actionConfigSchema, valid).success).toBe(true);
    expect(validate(valid), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...valid, colour: "red" })).toBe(false);
    expect(validate({ ...valid, method: "GET" })).toBe(false);
    expect(validate({ ...valid, headers: { "x-team": 1 } })).toBe(false);
    expect(validate({ ...valid, type: "slack" })).toBe(false);
  });
});

describe("serving the document", () => {
  it("GET /api/observers/openapi.json answers the document, its server relative to it, without a token", async () => {
    const response = await app.request(DOCUMENT_PATH);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("application/json");
    const served = (await response.json()) as Json;
    // Two levels up from api/observers/openapi.json: the API's root, wherever it is mounted.
    expect(served.servers).toEqual([{ url: "../..", description: expect.any(String) }]);
    expect({ ...served, servers: undefined }).toEqual(
      JSON.parse(JSON.stringify({ ...document, servers: undefined })),
    );
  });

  it("GET /api/observers/docs answers an HTML page that loads the document, without a token", async () => {
    const response = await app.request(DOCS_PATH);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    const html = await response.text();
    expect(html).toMatch(/<html/i);
    expect(html).toContain('data-url="../../api/observers/openapi.json"');
  });

  it("leaves /openapi.json and /docs alone unless rootDocs is set", async () => {
    expect((await app.request("/openapi.json")).status).toBe(404);
    expect((await app.request("/docs")).status).toBe(404);
    const rooted = createObserversApi({
      sql,
      runtime,
      adminToken: ADMIN,
      logger: silentLogger,
      rootDocs: true,
    });
    const root = await rooted.request("/openapi.json");
    expect(root.status).toBe(200);
    expect(((await root.json()) as Json).servers).toEqual([
      { url: ".", description: expect.any(String) },
    ]);
    const page = await rooted.request("/docs");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('data-url="./api/observers/openapi.json"');
  });
});

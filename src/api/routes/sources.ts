import { createRoute, type z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { secretRefusal } from "../../actions/policy.ts";
import { ActionPolicyError, NotFoundError } from "../../errors.ts";
import type { SourceKind } from "../../ports/source.ts";
import { parseMysqlUrl } from "../../sources/mysql-url.ts";
import type { LocalSourceStatus } from "../../sources/supervisor.ts";
import { encryptSourceUrl } from "../../sources/url-secret.ts";
import { isUuid } from "../../store/common.ts";
import {
  deleteSource,
  getSource,
  insertSource,
  listSources,
  type SourceRow,
} from "../../store/sources.ts";
import type { ApiEnv } from "../auth.ts";
import { type ApiDependencies, router } from "../context.ts";
import { HttpProblem } from "../problem.ts";
import {
  idParam,
  jsonBody,
  jsonResponse,
  PageQuery,
  pageOf,
  pageRequest,
  problems,
} from "../schemas/common.ts";
import { SourceCreateSchema, SourceSchema } from "../schemas/sources.ts";

const tags = ["Sources"];

/** What the host gives the API when it runs sources (Bun and Deno; not the Worker). */
export interface SourcesApiOptions {
  /** The kinds this host has a reader for. */
  kinds: readonly SourceKind[];
  /** `OBSERVERS_SOURCE_KEY`; null: an inline `url` is refused (use `url_env`). */
  sourceKey: string | null;
  /** Called after a source was created or deleted (the host's supervisor looks at once). */
  onChange?: () => void;
  /** The sources this process reads, for the health. */
  status?: () => readonly LocalSourceStatus[];
}

const ADMIN_ONLY =
  "Sources belong to no tenant: admin scope, key bound to no tenant (403 otherwise).";

const create = createRoute({
  method: "post",
  path: "/",
  tags,
  summary: "Create a source",
  description: `${ADMIN_ONLY} The URL is a secret: \`url\` is stored encrypted (needs OBSERVERS_SOURCE_KEY on the server; 422 SOURCE_KEY_MISSING otherwise) and never returned, or \`url_env\` names a variable under the secret rules (422 SECRET_NOT_ALLOWED; so does a MySQL URL's \`ssl-ca-env\`). A MySQL URL takes the options \`ssl-mode\` and \`ssl-ca-env\` only (400 naming any other). A kind this server has no reader for answers 422 SOURCE_KIND_UNAVAILABLE; a taken name 409. Servers start reading within their poll interval (this one at once). Not available on Cloudflare Workers (501).`,
  request: { body: jsonBody(SourceCreateSchema) },
  responses: {
    201: jsonResponse(SourceSchema, "The source (never its URL)"),
    ...problems({ write: true, extra: [409, 422, 501] }),
  },
});

const list = createRoute({
  method: "get",
  path: "/",
  tags,
  summary: "List sources and their state",
  description: ADMIN_ONLY,
  request: { query: PageQuery },
  responses: {
    200: jsonResponse(pageOf(SourceSchema, "SourcePage"), "A page of sources"),
    ...problems({ extra: [403, 501] }),
  },
});

const SourceIdParam = idParam("id", "The source's id");

const get = createRoute({
  method: "get",
  path: "/{id}",
  tags,
  summary: "A source and its state (connected, position, lag, last error)",
  description: ADMIN_ONLY,
  request: { params: SourceIdParam },
  responses: {
    200: jsonResponse(SourceSchema, "The source"),
    ...problems({ extra: [403, 501] }),
  },
});

const remove = createRoute({
  method: "delete",
  path: "/{id}",
  tags,
  summary: "Delete a source",
  description: `${ADMIN_ONLY} Its reader stops (on every server within its poll interval); the changes it wrote stay in the change log.`,
  request: { params: SourceIdParam },
  responses: { 204: { description: "Deleted" }, ...problems({ write: true, extra: [501] }) },
});

function nullableNumber(text: string | null): number | null {
  return text === null ? null : Number(text);
}

/** A stored source as the API shows it. */
export function sourceView(row: SourceRow, now = Date.now()): z.infer<typeof SourceSchema> {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    url_env: row.url_env,
    start: row.start,
    tables: row.tables.map((t) => ({
      table: t.table,
      entity_type: t.entityType,
      id_column: t.idColumn ?? "id",
      tenant_column: t.tenantColumn ?? null,
      columns: t.columns ? [...t.columns] : null,
    })),
    state: {
      reading:
        row.lease_owner !== null &&
        row.lease_expires_at !== null &&
        Date.parse(row.lease_expires_at) > now,
      connected: row.connected,
      position: row.position,
      lag_ms: nullableNumber(row.lag_ms),
      last_error:
        row.last_error_code === null
          ? null
          : {
              code: row.last_error_code,
              message: row.last_error_message ?? "",
              at: row.last_error_at,
            },
      changes_captured: Number(row.changes_captured),
      transactions_captured: Number(row.transactions_captured),
      last_captured_at: row.last_captured_at,
    },
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

function guard(c: Context<ApiEnv>, options: SourcesApiOptions | undefined): SourcesApiOptions {
  const principal = c.var.principal;
  if (principal.tenant !== null) {
    throw new HttpProblem(
      403,
      "FORBIDDEN",
      "sources belong to no tenant: use an admin key bound to no tenant",
    );
  }
  if (principal.scope !== "admin") {
    throw new HttpProblem(
      403,
      "FORBIDDEN",
      "this key has the read scope: sources (their URLs reach other databases) need an admin key bound to no tenant",
    );
  }
  if (!options) {
    throw new HttpProblem(
      501,
      "SOURCES_UNAVAILABLE",
      "sources do not run on this host: they hold long-lived connections, which Cloudflare Workers do not; manage and run them from a Bun or Deno server on the same database (docs/sources.md)",
    );
  }
  return options;
}

function sourceNotFound(): NotFoundError {
  return new NotFoundError("no such source");
}

/** `/api/sources`: see each route's description. */
export function sourceRoutes(deps: ApiDependencies, options: SourcesApiOptions | undefined) {
  return router()
    .openapi(create, async (c) => {
      const sources = guard(c, options);
      const body = c.req.valid("json");
      if (!sources.kinds.includes(body.kind)) {
        throw new HttpProblem(
          422,
          "SOURCE_KIND_UNAVAILABLE",
          `this server has no reader for sources of kind ${body.kind}`,
        );
      }
      if (body.url_env !== undefined) {
        const refusal = secretRefusal(deps.policy, body.url_env, null);
        if (refusal) {
          throw new ActionPolicyError([
            {
              path: "url_env",
              code: "SECRET_NOT_ALLOWED",
              variable: body.url_env,
              ...refusal,
            },
          ]);
        }
      }
      // The variable a MySQL URL names for its CA certificates obeys the same rules.
      const caEnv =
        body.url !== undefined && body.kind === "mysql" ? parseMysqlUrl(body.url).sslCaEnv : null;
      const caRefusal = caEnv === null ? null : secretRefusal(deps.policy, caEnv, null);
      if (caEnv !== null && caRefusal) {
        throw new ActionPolicyError([
          { path: "url", code: "SECRET_NOT_ALLOWED", variable: caEnv, ...caRefusal },
        ]);
      }
      const id = crypto.randomUUID();
      let urlCiphertext: string | null = null;
      if (body.url !== undefined) {
        if (sources.sourceKey === null) {
          throw new HttpProblem(
            422,
            "SOURCE_KEY_MISSING",
            "url: this server cannot store a URL encrypted because OBSERVERS_SOURCE_KEY is not set; give url_env (an environment variable holding the URL) instead, or set OBSERVERS_SOURCE_KEY on every server",
          );
        }
        urlCiphertext = await encryptSourceUrl(body.url, id, sources.sourceKey);
      }
      const created = await insertSource(deps.sql, {
        id,
        name: body.name,
        kind: body.kind,
        urlCiphertext,
        urlEnv: body.url_env ?? null,
        start: body.start ?? "now",
        tables: body.tables.map((t) => ({
          table: t.table,
          entityType: t.entity_type,
          ...(t.id_column === undefined ? {} : { idColumn: t.id_column }),
          ...(t.tenant_column === undefined ? {} : { tenantColumn: t.tenant_column }),
          ...(t.columns === undefined ? {} : { columns: t.columns }),
        })),
      });
      if (created === null) {
        throw new HttpProblem(
          409,
          "CONFLICT",
          `a source named ${JSON.stringify(body.name)} exists`,
        );
      }
      sources.onChange?.();
      return c.json(sourceView(created), 201);
    })
    .openapi(list, async (c) => {
      guard(c, options);
      const page = await listSources(deps.sql, pageRequest(c.req.valid("query")));
      return c.json({ ...page, data: page.data.map((row) => sourceView(row)) }, 200);
    })
    .openapi(get, async (c) => {
      guard(c, options);
      const { id } = c.req.valid("param");
      const row = isUuid(id) ? await getSource(deps.sql, id) : null;
      if (!row) throw sourceNotFound();
      return c.json(sourceView(row), 200);
    })
    .openapi(remove, async (c) => {
      const sources = guard(c, options);
      const { id } = c.req.valid("param");
      if (!isUuid(id) || !(await deleteSource(deps.sql, id))) throw sourceNotFound();
      sources.onChange?.();
      return c.body(null, 204);
    });
}

import { createRoute, z } from "@hono/zod-openapi";
import {
  deleteApiKey,
  insertApiKey,
  listApiKeys,
  type RevokedApiKey,
} from "../../store/api-keys.ts";
import { tenantOf } from "../auth.ts";
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
  TenantId,
  Timestamp,
} from "../schemas/common.ts";

const tags = ["API keys"];
const MAX_BIGINT = 9_223_372_036_854_775_807n;

const KeyCreateSchema = z
  .strictObject({
    name: z.string().trim().min(1, "must not be empty").max(255, "must be at most 255 characters"),
    scope: z.enum(["admin", "read"], 'must be "admin" or "read"'),
    fk_customer_org: z
      .union([
        z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
        z
          .string()
          .regex(/^\d{1,19}$/, "must be a tenant id (digits)")
          // A BIGINT: beyond it, the insert would fail (a 500) rather than answer 400.
          .refine(
            (value) => !/^\d+$/.test(value) || BigInt(value) <= MAX_BIGINT,
            "must be at most 9223372036854775807",
          ),
      ])
      .nullable()
      .optional()
      .openapi({ description: "Bind the key to this tenant; null or absent: every tenant" }),
  })
  .openapi("ApiKeyCreate");

const KeyCreatedSchema = z
  .object({
    id: z.string().openapi({ format: "uuid" }),
    token: z.string().openapi({ description: "Shown once; only its SHA-256 is stored" }),
  })
  .openapi("ApiKeyCreated");

const KeySchema = z
  .object({
    id: z.string().openapi({ format: "uuid" }),
    name: z.string(),
    scope: z.enum(["admin", "read"]),
    fk_customer_org: TenantId,
    token_prefix: z.string().openapi({ description: "The token's first characters" }),
    created_at: Timestamp,
    last_used_at: Timestamp.nullable(),
  })
  .openapi("ApiKey");

const create = createRoute({
  method: "post",
  path: "/",
  tags,
  summary: "Create an API key",
  description:
    "Admin scope only. A tenant-bound admin key creates keys for its own tenant only (403 otherwise).",
  request: { body: jsonBody(KeyCreateSchema) },
  responses: {
    201: jsonResponse(KeyCreatedSchema, "The key's id and its token (shown once)"),
    ...problems({ write: true }),
  },
});

const list = createRoute({
  method: "get",
  path: "/",
  tags,
  summary: "List API keys (never their tokens)",
  request: { query: PageQuery },
  responses: {
    200: jsonResponse(pageOf(KeySchema, "ApiKeyPage"), "A page of keys"),
    ...problems({ extra: [403] }),
  },
});

const remove = createRoute({
  method: "delete",
  path: "/{id}",
  tags,
  summary: "Revoke an API key",
  description:
    "It stops authenticating at once; its open WebSockets are closed with code 1008 at once on this server, and within OBSERVERS_LIVE_KEY_CHECK_MS (default 5 s) on every other server.",
  request: { params: idParam("id", "The key's id") },
  responses: { 204: { description: "Revoked" }, ...problems({ write: true }) },
});

const SelfSchema = z
  .object({
    key_id: z.string().nullable().openapi({
      format: "uuid",
      description: "The API key's id; null for the admin token of the environment",
    }),
    name: z.string().openapi({ description: "`admin`, or `key:<name>`: what writes record" }),
    scope: z.enum(["admin", "read"]),
    fk_customer_org: TenantId.openapi({
      description:
        "The key's tenant: what it sees and the tenant of what it creates; null: every tenant (its observers are global)",
    }),
  })
  .openapi("ApiKeySelf");

const self = createRoute({
  method: "get",
  path: "/self",
  tags,
  summary: "The calling key: its scope and tenant",
  description:
    "Any valid key (read keys too). Tells a client such as the CLI which tenant the key is bound to, so that it manages that tenant's observers (observers a key creates belong to its tenant).",
  responses: {
    200: jsonResponse(SelfSchema, "The calling key"),
    ...problems({}),
  },
});

function requireAdmin(scope: "admin" | "read"): void {
  if (scope !== "admin") {
    throw new HttpProblem(403, "FORBIDDEN", "managing API keys needs the admin scope");
  }
}

/** Hears of a key just revoked: the host's live hub closes its sockets. */
export type KeyRevoked = (key: RevokedApiKey) => void | Promise<void>;

/**
 * `/api/keys`: admin scope only; a tenant-bound key manages its tenant's keys only. `onRevoked`
 * hears of each key revoked here (the live hub closes its sockets at once).
 */
export function keyRoutes(deps: ApiDependencies, onRevoked?: KeyRevoked) {
  const { sql } = deps;
  return router()
    .openapi(self, (c) => {
      const principal = c.var.principal;
      return c.json(
        {
          key_id: principal.keyId,
          name: principal.actor,
          scope: principal.scope,
          fk_customer_org: principal.tenant,
        },
        200,
      );
    })
    .openapi(create, async (c) => {
      const principal = c.var.principal;
      requireAdmin(principal.scope);
      const body = c.req.valid("json");
      // Canonical digits, so that "07" is tenant 7 (as the BIGINT column will have it).
      const requested =
        body.fk_customer_org == null ? null : BigInt(body.fk_customer_org).toString();
      if (principal.tenant !== null && requested !== null && requested !== principal.tenant) {
        throw new HttpProblem(
          403,
          "FORBIDDEN",
          "a tenant-bound key creates keys for its own tenant only",
        );
      }
      const created = await insertApiKey(sql, {
        name: body.name,
        scope: body.scope,
        fk_customer_org: principal.tenant ?? requested,
      });
      c.header("location", `/api/keys/${created.id}`);
      return c.json(created, 201);
    })
    .openapi(list, async (c) => {
      requireAdmin(c.var.principal.scope);
      const page = await listApiKeys(sql, {
        ...pageRequest(c.req.valid("query")),
        ...tenantOf(c.var.principal),
      });
      return c.json(page, 200);
    })
    .openapi(remove, async (c) => {
      const revoked = await deleteApiKey(sql, c.req.valid("param").id, tenantOf(c.var.principal));
      try {
        await onRevoked?.(revoked);
      } catch (error) {
        // The key is revoked; its sockets still close at the hubs' next periodic check.
        deps.logger.log("warn", "could not tell the live hub of a revoked key", {
          key_id: revoked.id,
          error: error instanceof Error ? error.message : String(error),
        });
      }
      return c.body(null, 204);
    });
}
